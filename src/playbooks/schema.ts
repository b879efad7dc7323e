// The playbook format: remote steps per source runtime, in YAML under the top-level playbooks/.
import { z } from 'zod';

/** Names a playbook's write steps refer to. A group may render to zero or more files. */
export const FILE_GROUPS = [
  'containerd-config',
  'registry-hosts',
  'containerd-proxy',
  'crictl-config',
  'kubeadm-flags',
  'kubelet-extra-args',
  'kubelet-config',
  'instance-config',
] as const;
export type FileGroup = (typeof FILE_GROUPS)[number];

/** Variables a command may use as {{ name }}; the engine fills them in (see engine/playbook-runner.ts). */
export const TEMPLATE_VARIABLES = [
  'backupDir',
  'sandboxImage',
  'containerdSocket',
  'kubeletVersion',
  /** All paths this migration writes, shell-quoted and space separated. */
  'managedPaths',
  /** The paths this write step writes. */
  'paths',
  /** Script: put back this step's files from the backup (remove those that did not exist). */
  'restore',
  /** The source's Docker units in stop order (sources.<source>.dockerUnits), shell-quoted. */
  'dockerUnits',
  /** The same units in start order (the reverse). */
  'dockerUnitsStartOrder',
] as const;
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];

/** Conditions a step may depend on with `when`. */
export const CONDITIONS = ['carryImages', 'proxyConfigured'] as const;
export type Condition = (typeof CONDITIONS)[number];

const command = z
  .string()
  .min(1)
  .superRefine((text, ctx) => {
    for (const match of text.matchAll(/\{\{\s*([^}\s]*)\s*\}\}/g)) {
      if (!(TEMPLATE_VARIABLES as readonly string[]).includes(match[1]!)) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown template variable {{ ${match[1]} }}; known: ${TEMPLATE_VARIABLES.join(', ')}`,
        });
      }
    }
  });

const name = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, { message: 'must be lower-case words joined by "-"' });
const timeoutSeconds = z.number().int().min(1).max(3_600);

export const AssertSchema = z
  .object({
    name,
    description: z.string().optional(),
    /** Read-only command; exit 0 means the assertion holds. */
    run: command,
    /** Shown when it does not hold: what is wrong and what to do. */
    message: z.string().min(1),
    timeoutSeconds,
  })
  .strict();

const stepBase = {
  name,
  description: z.string().optional(),
  /** Which action runs the step: runtime (Drained -> RuntimeConfigured) or kubelet (-> KubeletSwitched). */
  stage: z.enum(['runtime', 'kubelet']),
  when: z.enum(CONDITIONS).optional(),
  /** Undo, run in reverse step order on rollback; must be safe to run twice or when the action never ran. null: nothing to undo. */
  rollback: command.nullable(),
  timeoutSeconds,
};

export const RunStepSchema = z
  .object({
    ...stepBase,
    /** Read-only: exit 0 means the step's effect is already there and the action is skipped. */
    check: command,
    run: command,
  })
  .strict();

export const WriteStepSchema = z
  .object({
    ...stepBase,
    /** Generated files to write atomically; the check is built in (content already equal). */
    write: z.array(z.enum(FILE_GROUPS)).min(1),
  })
  .strict();

/** What the engine does itself at a point of the playbook (with progress and figures of its own). */
export const BUILTINS = ['carry-images', 'verify-images'] as const;
export type Builtin = (typeof BUILTINS)[number];

export const BuiltinStepSchema = z
  .object({
    ...stepBase,
    /** carry-images: Docker's images into containerd's k8s.io namespace; verify-images: each of them answers through the CRI. */
    builtin: z.enum(BUILTINS),
    /**
     * Also started while the node drains (it must skip what is already done): the node spends that
     * time emptying anyway, and its stage then finds the work done. Best effort: a failure there is
     * the stage's to meet again and report.
     */
    duringDrain: z.boolean().default(false),
  })
  .strict();

/** A write step has `write`; any other step is a run step. Picking the schema first gives precise errors. */
export const StepSchema = z.unknown().transform((value, ctx): RunStep | WriteStep | BuiltinStep => {
  const has = (key: string) => typeof value === 'object' && value !== null && key in value;
  const result = (has('write') ? WriteStepSchema : has('builtin') ? BuiltinStepSchema : RunStepSchema).safeParse(value);
  if (result.success) return result.data;
  for (const issue of result.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
  return z.NEVER;
});

const unitName = z.string().regex(/^[A-Za-z0-9@._-]+\.(service|socket)$/, { message: 'must be a systemd unit name such as "docker.service"' });

/** What differs per source runtime: data the shared steps use, and assertions of its own. */
export const SourceSchema = z
  .object({
    description: z.string().optional(),
    /** The units that make up Docker on such a node, in stop order. */
    dockerUnits: z.array(unitName).min(1),
    preflight: z.array(AssertSchema).default([]),
  })
  .strict();

export const PlaybookSchema = z
  .object({
    apiVersion: z.literal('cri-migrator.dev/v1alpha2'),
    kind: z.literal('Playbook'),
    metadata: z.object({ name, description: z.string().optional() }).strict(),
    sources: z.object({ dockershim: SourceSchema, 'cri-dockerd': SourceSchema }).strict(),
    preflight: z.array(AssertSchema),
    steps: z.array(StepSchema).min(1),
  })
  .strict()
  .superRefine((playbook, ctx) => {
    const seen = new Set<string>();
    const sourceAsserts = Object.values(playbook.sources).flatMap((s) => s.preflight);
    for (const [i, step] of [...playbook.preflight, ...playbook.steps].entries()) {
      if (seen.has(step.name)) ctx.addIssue({ code: 'custom', path: ['steps', i, 'name'], message: `duplicate step name ${step.name}` });
      seen.add(step.name);
    }
    for (const assert of sourceAsserts) {
      if (seen.has(assert.name)) ctx.addIssue({ code: 'custom', path: ['sources'], message: `duplicate step name ${assert.name}` });
    }
    const stages = playbook.steps.map((s) => s.stage);
    const firstKubelet = stages.indexOf('kubelet');
    if (firstKubelet >= 0 && stages.slice(firstKubelet).includes('runtime')) {
      ctx.addIssue({ code: 'custom', path: ['steps'], message: 'all runtime-stage steps must come before the kubelet-stage steps' });
    }
    for (const [i, step] of playbook.steps.entries()) {
      const texts = 'write' in step || 'builtin' in step ? [step.rollback] : [step.check, step.run, step.rollback];
      if (!('write' in step) && texts.some((t) => t?.includes('{{ paths }}') || t?.includes('{{ restore }}'))) {
        ctx.addIssue({ code: 'custom', path: ['steps', i], message: '{{ paths }} and {{ restore }} only make sense in a write step' });
      }
    }
  });

export type Playbook = z.infer<typeof PlaybookSchema>;
export type RunStep = z.infer<typeof RunStepSchema>;
export type WriteStep = z.infer<typeof WriteStepSchema>;
export type BuiltinStep = z.infer<typeof BuiltinStepSchema>;
export type Step = RunStep | WriteStep | BuiltinStep;

export function isBuiltinStep(step: Step): step is BuiltinStep {
  return 'builtin' in step;
}
export type Assert = z.infer<typeof AssertSchema>;
export type Source = z.infer<typeof SourceSchema>;

export function isWriteStep(step: Step): step is WriteStep {
  return 'write' in step;
}
