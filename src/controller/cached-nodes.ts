// The controller's NodeApi: reads from the node watch's cache, writes to the API server.
//
// A reconcile reads the cached Node (no GET), an admission lists the cache (no LIST), and a
// guarded write is checked against the newest node known here and sent with its
// resourceVersion; only a conflict (409) reads the node afresh. What this process wrote is
// remembered until the watch has caught up with it, so a reconcile right after our own write
// never sees the state before it (read your writes). Until the watch holds a whole list, and for
// nodes it has not seen, reads go to the API server.
//
// A cordon or an uncordon is followed at once by a write of the node lifecycle controller (the
// taint node.kubernetes.io/unschedulable added or removed): a guarded write sent before the watch
// has shown it would be refused (409) and cost a read and a second write. Such a write waits,
// a bounded while, for the watch to show the taint in line with spec.unschedulable.
import type { NodePatch, NodeView } from '../domain/types.js';
import type { NodeApi, NodeWatch, PatchOptions } from '../ports.js';

/** a is newer than b. resourceVersions are opaque; the API server's are integers that grow, and only those are compared. */
function newer(a: NodeView, b: NodeView): boolean {
  if (!/^\d+$/.test(a.resourceVersion) || !/^\d+$/.test(b.resourceVersion)) return false;
  return BigInt(a.resourceVersion) > BigInt(b.resourceVersion);
}

/** The node lifecycle controller has yet to bring the unschedulable taint in line with spec.unschedulable. */
function taintPending(node: NodeView): boolean {
  return node.unschedulableTaint !== undefined && node.unschedulableTaint !== node.unschedulable;
}

/** How long a guarded write waits for the taint's write to show in the watch, and how often it looks. */
export const TAINT_SETTLE_MS = 1_000;
const TAINT_POLL_MS = 10;

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref?.());

export class CachedNodeApi implements NodeApi {
  /** Nodes as our own writes (or our waits on the API server) returned them, until the watch shows that version or a later one. */
  private readonly written = new Map<string, NodeView>();

  constructor(
    private readonly api: NodeApi,
    private readonly watch: Pick<NodeWatch, 'cached' | 'cachedNode'>,
    /** Real time: a wait of milliseconds on this process's own cache (no request is sent meanwhile). */
    private readonly sleep: (ms: number) => Promise<void> = realSleep,
  ) {}

  /** The newest copy of the node known without asking the API server, if any. */
  known(name: string): NodeView | undefined {
    const cached = this.watch.cachedNode?.(name);
    const mine = this.written.get(name);
    if (!mine) return cached;
    if (!cached || newer(mine, cached)) return mine;
    this.written.delete(name); // the watch caught up
    return cached;
  }

  async get(name: string): Promise<NodeView> {
    return structuredClone(this.known(name) ?? (await this.api.get(name)));
  }

  async list(labelSelector?: string): Promise<NodeView[]> {
    const all = labelSelector === undefined ? this.watch.cached?.() : undefined;
    if (!all) return this.api.list(labelSelector);
    return all.map((n) => {
      const mine = this.written.get(n.name);
      return mine && newer(mine, n) ? mine : n;
    });
  }

  async patch(name: string, patch: NodePatch, options: PatchOptions = {}): Promise<NodeView> {
    const known = options.guard ? await this.settled(name) : undefined;
    const written = await this.api.patch(name, patch, known ? { ...options, current: known } : options);
    this.remember(written);
    return structuredClone(written);
  }

  /** From the API server: a wait on the kubelet's report must not end on a cached copy from before a restart. */
  async waitFor(name: string, predicate: (node: NodeView) => boolean, timeoutMs: number, description: string, from?: NodeView): Promise<NodeView> {
    const seen = await this.api.waitFor(name, predicate, timeoutMs, description, from);
    this.remember(seen);
    return seen;
  }

  /** A copy from the API server newer than the watch's: known until the watch catches up. */
  private remember(node: NodeView): void {
    const cached = this.watch.cachedNode?.(node.name);
    const mine = this.written.get(node.name);
    if ((!cached || newer(node, cached)) && (!mine || !newer(mine, node))) this.written.set(node.name, node);
  }

  /**
   * The newest copy known here, once the unschedulable taint is in line with spec.unschedulable
   * (or TAINT_SETTLE_MS have passed: the node lifecycle controller may not run).
   */
  private async settled(name: string): Promise<NodeView | undefined> {
    let known = this.known(name);
    for (let waited = 0; known && taintPending(known) && this.watch.cachedNode?.(name) && waited < TAINT_SETTLE_MS; waited += TAINT_POLL_MS) {
      await this.sleep(TAINT_POLL_MS);
      known = this.known(name);
    }
    return known;
  }
}
