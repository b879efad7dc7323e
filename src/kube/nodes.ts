// NodeApi over the Kubernetes API: merge patches with an optimistic-concurrency guard (409 ->
// fresh read, re-check, retry) and waits driven by a watch on the single node.
import { PatchStrategy, setHeaderOptions, type CoreV1Api, type V1Node, type Watch } from '@kubernetes/client-node';
import type { NodePatch, NodeView } from '../domain/types.js';
import { NodeGoneError, StaleStateError, type Clock, type NodeApi, type PatchOptions } from '../ports.js';
import { statusCode, toNodeView } from './convert.js';
import { watchOnce } from './watch.js';

const MAX_CONFLICT_RETRIES = 5;
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** The guard on a copy that may be behind: false where it fails or throws (the fresh read decides). */
function guardHolds(guard: (node: NodeView) => boolean, node: NodeView): boolean {
  try {
    return guard(node);
  } catch {
    return false;
  }
}

export class KubeNodeApi implements NodeApi {
  constructor(
    private readonly core: CoreV1Api,
    private readonly watch: Watch,
    private readonly clock: Clock,
  ) {}

  async get(name: string): Promise<NodeView> {
    try {
      return toNodeView(await this.core.readNode({ name }));
    } catch (err) {
      if (statusCode(err) === 404) throw new NodeGoneError(name, { cause: err });
      throw new Error(`reading node ${name} failed`, { cause: err });
    }
  }

  async list(labelSelector?: string): Promise<NodeView[]> {
    try {
      const list = await this.core.listNode(labelSelector ? { labelSelector } : {});
      return list.items.map(toNodeView);
    } catch (err) {
      throw new Error(`listing nodes${labelSelector ? ` (${labelSelector})` : ''} failed`, { cause: err });
    }
  }

  async patch(name: string, patch: NodePatch, options: PatchOptions = {}): Promise<NodeView> {
    for (let attempt = 1; ; attempt++) {
      const body: { metadata: Record<string, unknown>; spec?: { unschedulable: boolean } } = { metadata: {} };
      if (patch.labels) body.metadata['labels'] = patch.labels;
      if (patch.annotations) body.metadata['annotations'] = patch.annotations;
      if (patch.unschedulable !== undefined) body.spec = { unschedulable: patch.unschedulable };
      if (options.guard) {
        // The caller's copy first (no read); after a conflict, or when that copy fails the guard
        // (it may be behind), a fresh read.
        let fresh = attempt === 1 && options.current ? options.current : await this.get(name);
        if (fresh === options.current && !guardHolds(options.guard, fresh)) fresh = await this.get(name);
        if (!options.guard(fresh)) throw new StaleStateError(`node ${name} changed under us (resourceVersion ${fresh.resourceVersion}); re-reading`);
        // With resourceVersion in the body the API server rejects the patch (409) if the node changed since.
        body.metadata['resourceVersion'] = fresh.resourceVersion;
      }
      try {
        return toNodeView(await this.core.patchNode({ name, body }, mergePatch));
      } catch (err) {
        if (statusCode(err) === 409 && options.guard && attempt < MAX_CONFLICT_RETRIES) continue;
        if (statusCode(err) === 404) throw new NodeGoneError(name, { cause: err });
        throw new Error(`patching node ${name} failed${statusCode(err) ? ` (HTTP ${statusCode(err)})` : ''}`, { cause: err });
      }
    }
  }

  async waitFor(name: string, predicate: (node: NodeView) => boolean, timeoutMs: number, description: string, from?: NodeView): Promise<NodeView> {
    const stop = new AbortController();
    const deadline = this.clock.sleep(timeoutMs, stop.signal).then(
      () => stop.abort(),
      () => undefined,
    );
    let last = from ?? (await this.get(name));
    try {
      while (!predicate(last)) {
        let matched: NodeView | undefined;
        let end: Awaited<ReturnType<typeof watchOnce>>;
        try {
          end = await watchOnce<V1Node>(
          this.watch,
          '/api/v1/nodes',
          { fieldSelector: `metadata.name=${name}`, resourceVersion: last.resourceVersion },
          (type, object) => {
            if (type !== 'ADDED' && type !== 'MODIFIED') return false;
            last = toNodeView(object);
            if (predicate(last)) matched = last;
            return matched !== undefined;
          },
          stop.signal,
          );
        } catch {
          // An expired resourceVersion (410) or a broken stream: re-read below and watch again.
          end = 'ended';
          await this.clock.sleep(1000, stop.signal).catch(() => undefined);
        }
        if (matched) return matched;
        if (end === 'aborted') {
          throw new Error(
            `node ${name} was not ${description} within ${Math.round(timeoutMs / 1000)}s ` +
              `(last seen: ready=${last.ready}, runtime=${last.containerRuntimeVersion || 'unknown'})`,
          );
        }
        last = await this.get(name); // the stream ended: re-read and watch again
      }
      return last;
    } finally {
      stop.abort();
      await deadline;
    }
  }
}
