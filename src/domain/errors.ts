// Errors the engine reasons about, and the one walk over an error's chain of causes that every
// caller (engine, controller, CLI) uses.

/** An Error whose name is its class's name (what logs and `instanceof`-free checks show). */
export class NamedError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An error retrying cannot fix (a refused drain, a failed preflight): go straight to rollback. */
export class TerminalError extends NamedError {}

/**
 * Something outside the node is not answering: the API server, or the node's sshd (refused,
 * timed out, host key not trusted). Nothing was changed by the failed call, so it is retried
 * until it answers and is not counted against retries.maxAttempts.
 */
export class UnavailableError extends NamedError {}

/** The API server did not answer (network error, request timeout, 5xx). */
export class ApiUnavailableError extends UnavailableError {}

/** The node could not be reached over SSH, or the connection broke mid-command. */
export class HostUnreachableError extends UnavailableError {}

/** The node is still starting (systemd booting, Docker activating): asked again later, not counted. */
export class HostStartingError extends UnavailableError {}

const MAX_DEPTH = 10;

/** err and its causes, outermost first. */
export function* causes(err: unknown): Generator<unknown> {
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < MAX_DEPTH; depth++) {
    yield e;
    if (!(e instanceof Error)) return;
    e = e.cause;
  }
}

/** err, or an error in its chain of causes, is an instance of type. */
export function causedBy<T extends Error>(err: unknown, type: abstract new (...args: never[]) => T): T | undefined {
  for (const e of causes(err)) if (e instanceof type) return e;
  return undefined;
}

export function isTerminal(err: unknown): boolean {
  return causedBy(err, TerminalError) !== undefined;
}

/** The message with its causes, for annotations, events and the CLI: "a: b: c" (repeats dropped). */
export function errorChain(err: unknown): string {
  const parts: string[] = [];
  for (const e of causes(err)) {
    if (parts.length === 5) break;
    const message = e instanceof Error ? e.message : String(e);
    if (message !== '' && !parts.some((p) => p.includes(message))) parts.push(message);
  }
  return parts.join(': ') || String(err);
}
