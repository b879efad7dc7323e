// Dry run for the host: read-only commands and reads go to the real node; mutating commands and
// writes are recorded (with the before/after of each file) instead of being carried out, into the
// same ordered stream as the cluster's records.
import type { DryRunRecord } from '../engine/observer.js';
import type { ExecOptions, ExecResult, RemoteHost, WriteFileOptions } from '../ports.js';

export class RecordingRemoteHost implements RemoteHost {
  /** Files "written" so far, so later reads in the same plan see them. */
  private readonly written = new Map<string, string>();

  constructor(
    private readonly inner: RemoteHost,
    private readonly sink: (record: DryRunRecord) => void,
  ) {}

  get target(): string {
    return this.inner.target;
  }

  async exec(command: string, options: ExecOptions): Promise<ExecResult> {
    if (!options.mutates) return this.inner.exec(command, options);
    this.sink({ kind: 'exec', command });
    return { code: 0, stdout: '', stderr: '' };
  }

  async readFile(path: string): Promise<string | null> {
    return this.written.has(path) ? this.written.get(path)! : this.inner.readFile(path);
  }

  async writeFile(path: string, content: string, options: WriteFileOptions): Promise<void> {
    const before = await this.readFile(path);
    this.sink({ kind: 'write', path, before, after: content, mode: options.mode });
    this.written.set(path, content);
  }

  async close(): Promise<void> {
    await this.inner.close();
  }
}
