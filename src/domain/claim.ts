// One actor per node: a claim kept in the Node's annotations (holder, renewed-at, lease), taken
// and renewed with the same compare-and-swap that writes the migration state. The controller
// and the CLI both honour it. Pure.
import { PREFIX } from './annotations.js';

export const CLAIM_ANNOTATIONS = {
  holder: `${PREFIX}holder`,
  since: `${PREFIX}holder-since`,
  renewedAt: `${PREFIX}holder-renewed-at`,
  leaseSeconds: `${PREFIX}holder-lease-seconds`,
} as const;

export interface Claim {
  holder: string;
  /** When this holder took the node. */
  since: Date;
  renewedAt: Date;
  leaseSeconds: number;
}

/** Who is acting, and whose stale claims it may take over without being told to. */
export interface Actor {
  /** The in-cluster controller, or the CLI (which rides out its own control plane's restart). */
  kind: 'controller' | 'cli';
  /** e.g. "controller/cri-migrator/cri-migrator/cri-migrator-5d8f-x2k" or "cli@laptop/4242". */
  identity: string;
  leaseSeconds: number;
  /**
   * Whether this actor may take over a claim that another holder still renews (or recently
   * did), because that holder provably stopped acting: a controller replica that now holds the
   * leader Lease succeeds the replica that held it before; a `migrate` succeeds a killed
   * `migrate` of the same host.
   */
  succeeds?(holder: string): boolean;
  /** Whether an expired claim of another holder may be taken over (the controller: always; the CLI: with --force). */
  takesOverExpired(holder: string): boolean;
}

export function parseClaim(annotations: Readonly<Record<string, string>>): Claim | undefined {
  const holder = annotations[CLAIM_ANNOTATIONS.holder];
  if (!holder) return undefined;
  const renewed = new Date(annotations[CLAIM_ANNOTATIONS.renewedAt] ?? '');
  const since = new Date(annotations[CLAIM_ANNOTATIONS.since] ?? '');
  const lease = Number(annotations[CLAIM_ANNOTATIONS.leaseSeconds]);
  return {
    holder,
    since: Number.isNaN(since.getTime()) ? new Date(0) : since,
    // An unreadable time or lease counts as expired: a claim nobody can prove is live.
    renewedAt: Number.isNaN(renewed.getTime()) ? new Date(0) : renewed,
    leaseSeconds: Number.isInteger(lease) && lease > 0 ? lease : 0,
  };
}

export function claimExpiresAt(claim: Claim): Date {
  return new Date(claim.renewedAt.getTime() + claim.leaseSeconds * 1000);
}

export function isLive(claim: Claim | undefined, now: Date): boolean {
  return claim !== undefined && claimExpiresAt(claim).getTime() > now.getTime();
}

export type ClaimVerdict =
  | { kind: 'free' }
  | { kind: 'ours' }
  | { kind: 'takeover'; from: Claim; expired: boolean }
  | { kind: 'held'; by: Claim; expired: boolean };

export function claimVerdict(annotations: Readonly<Record<string, string>>, actor: Actor, now: Date): ClaimVerdict {
  const claim = parseClaim(annotations);
  if (!claim) return { kind: 'free' };
  if (claim.holder === actor.identity) return { kind: 'ours' };
  const expired = !isLive(claim, now);
  if (actor.succeeds?.(claim.holder)) return { kind: 'takeover', from: claim, expired };
  if (expired && actor.takesOverExpired(claim.holder)) return { kind: 'takeover', from: claim, expired };
  return { kind: 'held', by: claim, expired };
}

/** The claim as this actor writes it: taken now, or renewed (since kept). */
export function claimAnnotations(actor: Actor, now: Date, since: Date = now): Record<string, string> {
  return {
    [CLAIM_ANNOTATIONS.holder]: actor.identity,
    [CLAIM_ANNOTATIONS.since]: since.toISOString(),
    [CLAIM_ANNOTATIONS.renewedAt]: now.toISOString(),
    [CLAIM_ANNOTATIONS.leaseSeconds]: String(actor.leaseSeconds),
  };
}

export const RELEASED_CLAIM: Readonly<Record<string, null>> = {
  [CLAIM_ANNOTATIONS.holder]: null,
  [CLAIM_ANNOTATIONS.since]: null,
  [CLAIM_ANNOTATIONS.renewedAt]: null,
  [CLAIM_ANNOTATIONS.leaseSeconds]: null,
};

export function describeClaim(claim: Claim, now: Date): string {
  const ago = Math.max(0, Math.round((now.getTime() - claim.renewedAt.getTime()) / 1000));
  const state = isLive(claim, now) ? `renewed ${ago}s ago, lease ${claim.leaseSeconds}s` : `expired at ${claimExpiresAt(claim).toISOString()}`;
  return `${claim.holder} (since ${claim.since.toISOString()}, ${state})`;
}

/** This actor no longer holds the node: whatever it was doing there stops, unrecorded. */
export class ClaimLostError extends Error {
  constructor(
    readonly node: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ClaimLostError';
  }
}

/** A node another actor holds: this actor must not act on it. */
export class ClaimHeldError extends ClaimLostError {
  constructor(
    node: string,
    readonly claim: Claim,
    readonly expired: boolean,
    message: string,
  ) {
    super(node, message);
    this.name = 'ClaimHeldError';
  }
}

/** The CLI on a host: resumes what a killed `migrate` of this host held; takes over an expired claim with --force. */
export function cliActor(options: { host: string; pid: number; force: boolean; leaseSeconds: number; isAlive: (pid: number) => boolean }): Actor {
  const identity = `cli@${options.host}/${options.pid}`;
  return {
    kind: 'cli',
    identity,
    leaseSeconds: options.leaseSeconds,
    succeeds(holder) {
      const own = /^cli@(.+)\/(\d+)$/.exec(holder);
      // A `migrate` on this host that was killed or interrupted: running it again resumes at once.
      return own !== null && own[1] === options.host && own[2] !== String(options.pid) && !options.isAlive(Number(own[2]));
    },
    takesOverExpired: () => options.force,
  };
}

/**
 * A controller replica. Only the holder of the leader Lease acts, so it takes over the claims of
 * the replicas of the same controller (same Lease) at once, and any expired claim.
 */
export function controllerActor(options: { lease: string; pod: string; leaseSeconds: number }): Actor {
  const prefix = `controller/${options.lease}/`;
  const identity = `${prefix}${options.pod}`;
  return {
    kind: 'controller',
    identity,
    leaseSeconds: options.leaseSeconds,
    succeeds: (holder) => holder.startsWith(prefix) && holder !== identity,
    takesOverExpired: () => true,
  };
}
