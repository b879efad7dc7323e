// Runs a playbook's steps on a RemoteHost: check first (already done?), then the action; on
// rollback, each step's undo in reverse order. The same code runs for real and for a dry run:
// a recording RemoteHost decides what "running" a mutating command means.
import type { Config } from '../config.js';
import { CONTAINERD_SOCKET } from '../domain/annotations.js';
import { formatVersion } from '../domain/version.js';
import type { Logger } from '../log.js';
import { redactText } from '../log.js';
import type { RemoteHost } from '../ports.js';
import type { SourcePlaybook } from '../playbooks/loader.js';
import { isBuiltinStep, isWriteStep, type BuiltinStep, type Step, type TemplateVariable } from '../playbooks/schema.js';
import { carryCommand, imageListPath, mib, planCarry, verifyImagesScript, type CarryPlan } from './images.js';
import type { HostFacts } from './facts.js';
import type { ManagedFile, RenderedFiles } from './files.js';
import type { CheckResult } from './preflight.js';
import { shQuote } from './shell.js';

export type Stage = 'runtime' | 'kubelet';

export interface RunnerContext {
  remote: RemoteHost;
  config: Config;
  /** This migration run's backups (runBackupDir). */
  backupDir: string;
  facts: HostFacts;
  rendered: RenderedFiles;
  log: Logger;
  /** Progress of long built-in steps (images carried, bytes moved), for the observer stream. */
  onProgress?: (message: string, final?: boolean) => void;
}

export interface StepReport {
  step: string;
  stage: Stage;
  outcome: 'not-applicable' | 'already-done' | 'done' | 'rolled-back' | 'nothing-to-undo';
}

export class StepFailedError extends Error {
  constructor(
    readonly step: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'StepFailedError';
  }
}

export function renderTemplate(text: string, variables: Readonly<Record<TemplateVariable, string>>): string {
  return text.replace(/\{\{\s*([A-Za-z]+)\s*\}\}/g, (whole, name: string) => {
    const value = (variables as Record<string, string>)[name];
    if (value === undefined) throw new Error(`unknown template variable ${whole}`);
    return value;
  });
}

/**
 * Backups belong to one migration run, named by its start: a retry of the same run reuses them
 * (they hold the originals, never our own files), while a new run after a rollback and a human's
 * fix backs up the fixed files instead of restoring the broken ones it replaced.
 */
export function runBackupDir(base: string, startedAt: Date | undefined): string {
  const run = startedAt ? startedAt.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z') : 'unstarted';
  return `${base.replace(/\/+$/, '')}/${run}`;
}

/** The time limit of the built-in backup step. */
const BACKUP_TIMEOUT_MS = 60_000;

/** A script that runs `body` for each path f, with b its place in the backup directory. */
function forEachPath(backupDir: string, paths: readonly string[], body: readonly string[], strict = true): string {
  return [...(strict ? ['set -e'] : []), `B=${shQuote(backupDir)}`, `for f in ${paths.map(shQuote).join(' ')}; do`, '  b="$B$f"', ...body.map((l) => `  ${l}`), 'done'].join('\n');
}

export function backupScript(backupDir: string, paths: readonly string[]): string {
  return forEachPath(backupDir, paths, [
    'if [ -e "$b" ] || [ -e "$b.absent" ]; then continue; fi', // back up once: never overwrite
    'mkdir -p "$(dirname "$b")"',
    'if [ -e "$f" ]; then cp -a "$f" "$b.tmp" && mv -f "$b.tmp" "$b"; else : > "$b.absent"; fi',
  ]);
}

export function backupCheck(backupDir: string, paths: readonly string[]): string {
  return forEachPath(backupDir, paths, ['[ -e "$b" ] || [ -e "$b.absent" ] || exit 1'], false);
}

export function restoreScript(backupDir: string, paths: readonly string[]): string {
  return forEachPath(backupDir, paths, [
    'if [ -e "$b" ]; then cp -a "$b" "$f.cri-migrator.tmp" && mv -f "$f.cri-migrator.tmp" "$f"',
    'elif [ -e "$b.absent" ]; then rm -f "$f"; fi',
  ]);
}

function filesOf(step: Step, rendered: RenderedFiles): ManagedFile[] {
  return isWriteStep(step) ? rendered.files.filter((f) => step.write.includes(f.group)) : [];
}

function variables(ctx: RunnerContext, playbook: SourcePlaybook, step?: Step): Record<TemplateVariable, string> {
  const all = ctx.rendered.files.map((f) => f.path);
  const own = step ? filesOf(step, ctx.rendered).map((f) => f.path) : [];
  const { backupDir } = ctx;
  return {
    backupDir: shQuote(backupDir),
    sandboxImage: shQuote(ctx.rendered.sandboxImage),
    containerdSocket: CONTAINERD_SOCKET,
    kubeletVersion: formatVersion(ctx.facts.kubeletVersion),
    managedPaths: all.map(shQuote).join(' '),
    paths: own.map(shQuote).join(' '),
    restore: own.length ? restoreScript(backupDir, own) : 'true',
    dockerUnits: playbook.dockerUnits.map(shQuote).join(' '),
    dockerUnitsStartOrder: [...playbook.dockerUnits].reverse().map(shQuote).join(' '),
  };
}

/**
 * Copies every file this migration will write into the run's backup directory, once (a file
 * already backed up is never overwritten: the backup holds the original, not our own output).
 * Runs before the first runtime-stage step.
 */
export async function ensureBackup(ctx: RunnerContext): Promise<void> {
  const paths = ctx.rendered.files.map((f) => f.path);
  const check = await ctx.remote.exec(backupCheck(ctx.backupDir, paths), { timeoutMs: BACKUP_TIMEOUT_MS, mutates: false });
  if (check.code === 0) return;
  const result = await ctx.remote.exec(backupScript(ctx.backupDir, paths), { timeoutMs: BACKUP_TIMEOUT_MS, mutates: true });
  if (result.code !== 0) {
    throw new StepFailedError('backup', `backing up the files to ${ctx.backupDir} on ${ctx.remote.target} failed (exit ${result.code}): ${redactText(result.stderr.trim()) || 'no output'}`);
  }
}

function applies(step: Step, ctx: RunnerContext): boolean {
  switch (step.when) {
    case undefined:
      return true;
    case 'carryImages':
      return ctx.config.images.carryOver;
    case 'proxyConfigured':
      return ctx.rendered.files.some((f) => f.group === 'containerd-proxy');
  }
}

export async function runAsserts(playbook: SourcePlaybook, ctx: RunnerContext): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const assert of playbook.preflight) {
    const command = renderTemplate(assert.run, variables(ctx, playbook));
    const result = await ctx.remote.exec(command, { timeoutMs: assert.timeoutSeconds * 1000, mutates: false });
    const ok = result.code === 0;
    results.push({
      name: assert.name,
      ok,
      message: ok ? (assert.description ?? 'ok') : `${assert.message}${result.stderr.trim() ? ` (${redactText(result.stderr.trim())})` : ''}`,
    });
  }
  return results;
}

/** Run one stage's steps in order. Throws StepFailedError on the first failing action. */
export async function runStage(playbook: SourcePlaybook, stage: Stage, ctx: RunnerContext): Promise<StepReport[]> {
  // Preflight fails on these; should the node's files have changed since, still change nothing.
  if (ctx.rendered.blockers.length > 0) {
    const first = ctx.rendered.blockers[0]!;
    throw new StepFailedError(first.name, `${ctx.remote.target}: ${ctx.rendered.blockers.map((b) => b.message).join('; ')}`);
  }
  const reports: StepReport[] = [];
  for (const step of playbook.steps.filter((s) => s.stage === stage)) {
    const log = ctx.log.child({ step: step.name });
    if (!applies(step, ctx)) {
      reports.push({ step: step.name, stage, outcome: 'not-applicable' });
      continue;
    }
    const started = performance.now();
    const outcome = await runStep(playbook, step, ctx, log);
    // Where a node's switch spends its time, step by step (npm run bench sums these).
    log.info({ stage, outcome, ms: Math.round(performance.now() - started) }, 'step ended');
    reports.push({ step: step.name, stage, outcome });
  }
  return reports;
}

async function runStep(playbook: SourcePlaybook, step: Step, ctx: RunnerContext, log: Logger): Promise<StepReport['outcome']> {
  const timeoutMs = step.timeoutSeconds * 1000;
  if (isBuiltinStep(step)) return runBuiltin(step, ctx);
  if (isWriteStep(step)) {
    let wrote = false;
    for (const file of filesOf(step, ctx.rendered)) {
      const current = await ctx.remote.readFile(file.path);
      if (current === file.content) continue;
      try {
        await ctx.remote.writeFile(file.path, file.content, { mode: file.mode });
      } catch (err) {
        throw new StepFailedError(step.name, `step ${step.name}: writing ${file.path} on ${ctx.remote.target} failed`, { cause: err });
      }
      wrote = true;
      log.info({ path: file.path }, 'wrote file');
    }
    return wrote ? 'done' : 'already-done';
  }
  const vars = variables(ctx, playbook, step);
  const check = await ctx.remote.exec(renderTemplate(step.check, vars), { timeoutMs, mutates: false });
  if (check.code === 0) {
    log.debug('already done');
    return 'already-done';
  }
  log.info('running');
  const result = await ctx.remote.exec(renderTemplate(step.run, vars), { timeoutMs, mutates: true });
  if (result.code !== 0) {
    throw new StepFailedError(
      step.name,
      `step ${step.name} failed on ${ctx.remote.target} (exit ${result.code}): ${redactText(result.stderr.trim() || result.stdout.trim()) || 'no output'}`,
    );
  }
  return 'done';
}

/** What the engine does itself at a builtin step. */
function runBuiltin(step: BuiltinStep, ctx: RunnerContext): Promise<StepReport['outcome']> {
  const timeoutMs = step.timeoutSeconds * 1000;
  return step.builtin === 'carry-images' ? carryImages(ctx, timeoutMs) : verifyImages(ctx, timeoutMs);
}

/**
 * The builtin steps the playbook lets start while the node drains (duringDrain), in order; their
 * stage runs them again later and finds what they did (each skips what is already there).
 */
export async function runDuringDrain(playbook: SourcePlaybook, ctx: RunnerContext): Promise<StepReport[]> {
  if (ctx.rendered.blockers.length > 0) return []; // preflight refused these; nothing starts
  const reports: StepReport[] = [];
  for (const step of playbook.steps) {
    if (!isBuiltinStep(step) || !step.duringDrain || !applies(step, ctx)) continue;
    const started = performance.now();
    const outcome = await runBuiltin(step, ctx);
    ctx.log.child({ step: step.name }).info({ stage: step.stage, outcome, duringDrain: true, ms: Math.round(performance.now() - started) }, 'step ended');
    reports.push({ step: step.name, stage: step.stage, outcome });
  }
  return reports;
}

/** The carry plan of this node: what its containers use, as the facts saw it. */
export function carryPlanOf(ctx: Pick<RunnerContext, 'facts' | 'rendered' | 'config'>): CarryPlan {
  return planCarry(ctx.facts.images, { sandboxImage: ctx.rendered.sandboxImage, include: ctx.config.images.include, exclude: ctx.config.images.exclude });
}

/**
 * Records, before the drain, the images the node's pods use now: once they are evicted the
 * kubelet removes their containers, and the carry step (after the drain) would no longer see them,
 * though the pods coming back to the node need them. The carry step adds what it finds then.
 */
export async function recordImagesToCarry(ctx: RunnerContext): Promise<void> {
  if (!ctx.config.images.carryOver || ctx.facts.images.recordedList !== undefined) return;
  const list = `${carryPlanOf(ctx).images.map((i) => i.ref).join('\n')}\n`;
  await ctx.remote.writeFile(imageListPath(ctx.backupDir), list, { mode: 0o644 });
}

/**
 * Docker's images into containerd's k8s.io namespace, one by one, skipping those already there;
 * the list is recorded beside the backups first, so a retry after Docker stopped knows it.
 */
async function carryImages(ctx: RunnerContext, timeoutMs: number): Promise<StepReport['outcome']> {
  const plan = carryPlanOf(ctx);
  if (plan.problems.length > 0) throw new StepFailedError('carry-images', `${ctx.remote.target}: ${plan.problems.join('; ')}`);
  const list = `${plan.images.map((i) => i.ref).join('\n')}\n`;
  const listPath = imageListPath(ctx.backupDir);
  if ((await ctx.remote.readFile(listPath)) !== list) await ctx.remote.writeFile(listPath, list, { mode: 0o644 });
  const todo = plan.images.filter((i) => !i.present);
  const started = Date.now();
  let moved = 0;
  for (const [n, image] of todo.entries()) {
    const t0 = Date.now();
    const result = await ctx.remote.exec(carryCommand(image), { timeoutMs, mutates: true });
    if (result.code !== 0) {
      throw new StepFailedError('carry-images', `carrying ${image.ref} into containerd on ${ctx.remote.target} failed (exit ${result.code}): ${redactText(result.stderr.trim()) || 'no output'}`);
    }
    moved += image.sizeBytes;
    const how = image.fromMoby ? ' from the moby namespace' : '';
    ctx.onProgress?.(`carried ${image.ref} (${mib(image.sizeBytes)})${how} in ${((Date.now() - t0) / 1000).toFixed(1)}s: ${n + 1}/${todo.length} images, ${mib(moved)} of ${mib(plan.bytesToMove)}`);
  }
  const seconds = Math.max((Date.now() - started) / 1000, 0.001);
  const shared = todo.filter((i) => i.fromMoby).length;
  ctx.onProgress?.(
    `carried ${todo.length} images, ${mib(moved)} in ${seconds.toFixed(1)}s (${(todo.length / seconds).toFixed(2)} images/s, ${(moved / 1024 / 1024 / seconds).toFixed(1)} MiB/s); ` +
      `${plan.images.length - todo.length} already in containerd` +
      (shared > 0 ? `; ${shared} from Docker's containerd image store (moby namespace), blobs shared, not copied` : ''),
    // The closing figure goes on the node (an Event) when something was moved: a step that finds
    // everything there already (carried during the drain) only says so in the progress.
    todo.length > 0,
  );
  return todo.length === 0 ? 'already-done' : 'done';
}

/** Every carried image answers through the CRI, as the kubelet will ask for it. */
async function verifyImages(ctx: RunnerContext, timeoutMs: number): Promise<StepReport['outcome']> {
  const refs = carryPlanOf(ctx).images.map((i) => i.ref);
  if (refs.length === 0) return 'not-applicable';
  // Read-only, but only meaningful after the steps before it ran: a dry run records it (mutates: true)
  // rather than asking a containerd whose CRI is still off.
  const result = await ctx.remote.exec(verifyImagesScript(refs, CONTAINERD_SOCKET), { timeoutMs, mutates: true });
  if (result.code !== 0) {
    throw new StepFailedError('verify-images', `${ctx.remote.target}: images the node needs are ${redactText(result.stderr.trim()) || 'missing'}`);
  }
  return 'done';
}

/**
 * Undo the given stages: every step's rollback in reverse order, whether or not its action ran
 * (rollbacks are written to be harmless then). Keeps going past a failing undo so as much as
 * possible is restored, then throws one error naming every failure.
 */
export async function rollbackStages(playbook: SourcePlaybook, stages: readonly Stage[], ctx: RunnerContext): Promise<StepReport[]> {
  const reports: StepReport[] = [];
  const failures: Error[] = [];
  const steps = playbook.steps.filter((s) => stages.includes(s.stage)).reverse();
  for (const step of steps) {
    if (step.rollback === null || !applies(step, ctx)) {
      reports.push({ step: step.name, stage: step.stage, outcome: 'nothing-to-undo' });
      continue;
    }
    const command = renderTemplate(step.rollback, variables(ctx, playbook, step));
    try {
      const result = await ctx.remote.exec(command, { timeoutMs: step.timeoutSeconds * 1000, mutates: true });
      if (result.code !== 0) {
        throw new StepFailedError(step.name, `undo of ${step.name} failed (exit ${result.code}): ${redactText(result.stderr.trim()) || 'no output'}`);
      }
      reports.push({ step: step.name, stage: step.stage, outcome: 'rolled-back' });
    } catch (err) {
      ctx.log.error({ err, step: step.name }, 'rollback step failed');
      failures.push(err as Error);
    }
  }
  if (failures.length > 0) {
    throw new Error(`rollback on ${ctx.remote.target}: ${failures.map((f) => f.message).join('; ')}`, { cause: failures[0] });
  }
  return reports;
}
