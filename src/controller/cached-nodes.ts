// The controller's NodeApi: reads from the node watch's cache, writes to the API server.
//
// A reconcile reads the cached Node (no GET), an admission lists the cache (no LIST), and a
// guarded write is checked against the newest node known here and sent with its
// resourceVersion; only a conflict (409) reads the node afresh. What this process wrote is
// remembered until the watch has caught up with it, so a reconcile right after our own write
// never sees the state before it (read your writes). Until the watch holds a whole list, and for
// nodes it has not seen, reads go to the API server.
import type { NodePatch, NodeView } from '../domain/types.js';
import type { NodeApi, NodeWatch, PatchOptions } from '../ports.js';

/** a is newer than b. resourceVersions are opaque; the API server's are integers that grow, and only those are compared. */
function newer(a: NodeView, b: NodeView): boolean {
  if (!/^\d+$/.test(a.resourceVersion) || !/^\d+$/.test(b.resourceVersion)) return false;
  return BigInt(a.resourceVersion) > BigInt(b.resourceVersion);
}

export class CachedNodeApi implements NodeApi {
  /** Nodes as our own writes returned them, until the watch shows that version or a later one. */
  private readonly written = new Map<string, NodeView>();

  constructor(
    private readonly api: NodeApi,
    private readonly watch: Pick<NodeWatch, 'cached' | 'cachedNode'>,
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
    const known = options.guard ? this.known(name) : undefined;
    const written = await this.api.patch(name, patch, known ? { ...options, current: known } : options);
    const cached = this.watch.cachedNode?.(name);
    if (!cached || newer(written, cached)) this.written.set(name, written);
    return structuredClone(written);
  }

  /** From the API server: a wait on the kubelet's report must not end on a cached copy from before a restart. */
  waitFor(name: string, predicate: (node: NodeView) => boolean, timeoutMs: number, description: string, from?: NodeView): Promise<NodeView> {
    return this.api.waitFor(name, predicate, timeoutMs, description, from);
  }
}
