// Runs a playbook's steps on a RemoteHost: check first (already done?), then the action; on
// rollback, each step's undo in reverse order. The same code runs for real and for a dry run:
// a recording RemoteHost decides what "running" a mutating command means.
import type { Config } from '../config.js';
import { CONTAINERD_SOCKET } from '../domain/annotations.js';
import { formatVersion } from '../domain/version.js';
import type { Logger } from '../log.js';
import { redactText } from '../log.js';
import type { RemoteHost } from '../ports.js';
import { isWriteStep, type Assert, type Playbook, type Step, type TemplateVariable } from '../playbooks/schema.js';
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

export function backupScript(backupDir: string, paths: readonly string[]): string {
  return [
    'set -e',
    `B=${shQuote(backupDir)}`,
    `for f in ${paths.map(shQuote).join(' ')}; do`,
    '  b="$B$f"',
    '  if [ -e "$b" ] || [ -e "$b.absent" ]; then continue; fi', // back up once: never overwrite
    '  mkdir -p "$(dirname "$b")"',
    '  if [ -e "$f" ]; then cp -a "$f" "$b.tmp" && mv -f "$b.tmp" "$b"; else : > "$b.absent"; fi',
    'done',
  ].join('\n');
}

export function backupCheck(backupDir: string, paths: readonly string[]): string {
  return [`B=${shQuote(backupDir)}`, `for f in ${paths.map(shQuote).join(' ')}; do`, '  [ -e "$B$f" ] || [ -e "$B$f.absent" ] || exit 1', 'done'].join(
    '\n',
  );
}

export function restoreScript(backupDir: string, paths: readonly string[]): string {
  return [
    'set -e',
    `B=${shQuote(backupDir)}`,
    `for f in ${paths.map(shQuote).join(' ')}; do`,
    '  b="$B$f"',
    '  if [ -e "$b" ]; then cp -a "$b" "$f.cri-migrator.tmp" && mv -f "$f.cri-migrator.tmp" "$f"',
    '  elif [ -e "$b.absent" ]; then rm -f "$f"; fi',
    'done',
  ].join('\n');
}

function filesOf(step: Step, rendered: RenderedFiles): ManagedFile[] {
  return isWriteStep(step) ? rendered.files.filter((f) => step.write.includes(f.group)) : [];
}

function variables(ctx: RunnerContext, step?: Step): Record<TemplateVariable, string> {
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
    backupScript: backupScript(backupDir, all),
    backupCheck: backupCheck(backupDir, all),
    restore: own.length ? restoreScript(backupDir, own) : 'true',
  };
}

function applies(step: Step, ctx: RunnerContext): boolean {
  switch (step.when) {
    case undefined:
      return true;
    case 'preloadSandboxImage':
      return ctx.config.containerd.preloadSandboxImage;
    case 'proxyConfigured':
      return ctx.rendered.files.some((f) => f.group === 'containerd-proxy');
  }
}

export async function runAsserts(asserts: readonly Assert[], ctx: RunnerContext): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const assert of asserts) {
    const command = renderTemplate(assert.run, variables(ctx));
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
export async function runStage(playbook: Playbook, stage: Stage, ctx: RunnerContext): Promise<StepReport[]> {
  const reports: StepReport[] = [];
  for (const step of playbook.steps.filter((s) => s.stage === stage)) {
    const log = ctx.log.child({ step: step.name });
    if (!applies(step, ctx)) {
      reports.push({ step: step.name, stage, outcome: 'not-applicable' });
      continue;
    }
    const timeoutMs = step.timeoutSeconds * 1000;
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
      reports.push({ step: step.name, stage, outcome: wrote ? 'done' : 'already-done' });
      continue;
    }
    const vars = variables(ctx, step);
    const check = await ctx.remote.exec(renderTemplate(step.check, vars), { timeoutMs, mutates: false });
    if (check.code === 0) {
      log.debug('already done');
      reports.push({ step: step.name, stage, outcome: 'already-done' });
      continue;
    }
    log.info('running');
    const result = await ctx.remote.exec(renderTemplate(step.run, vars), { timeoutMs, mutates: true });
    if (result.code !== 0) {
      throw new StepFailedError(
        step.name,
        `step ${step.name} failed on ${ctx.remote.target} (exit ${result.code}): ${redactText(result.stderr.trim() || result.stdout.trim()) || 'no output'}`,
      );
    }
    reports.push({ step: step.name, stage, outcome: 'done' });
  }
  return reports;
}

/**
 * Undo the given stages: every step's rollback in reverse order, whether or not its action ran
 * (rollbacks are written to be harmless then). Keeps going past a failing undo so as much as
 * possible is restored, then throws one error naming every failure.
 */
export async function rollbackStages(playbook: Playbook, stages: readonly Stage[], ctx: RunnerContext): Promise<StepReport[]> {
  const reports: StepReport[] = [];
  const failures: Error[] = [];
  const steps = playbook.steps.filter((s) => stages.includes(s.stage)).reverse();
  for (const step of steps) {
    if (step.rollback === null || !applies(step, ctx)) {
      reports.push({ step: step.name, stage: step.stage, outcome: 'nothing-to-undo' });
      continue;
    }
    const command = renderTemplate(step.rollback, variables(ctx, step));
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
