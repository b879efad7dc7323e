/** An error retrying cannot fix (a refused drain, a failed preflight): go straight to rollback. */
export class TerminalError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TerminalError';
  }
}

export function isTerminal(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) if (e instanceof TerminalError) return true;
  return false;
}

/** The message with its causes, for annotations and events: "a: b: c". */
export function errorChain(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e !== undefined && parts.length < 5; e = e instanceof Error ? e.cause : undefined) {
    const message = e instanceof Error ? e.message : String(e);
    if (!parts.some((p) => p.includes(message))) parts.push(message);
    if (!(e instanceof Error)) break;
  }
  return parts.join(': ');
}
