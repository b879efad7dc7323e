// Node informer for the controller: list+watch through client-node's informer, restarted with
// exponential backoff when it fails, restarted when it goes quiet for too long (a watch can hang
// silently behind some load balancers), and resynced periodically so no node is forgotten.
import { makeInformer, type CoreV1Api, type Informer, type KubeConfig, type ObjectCache, type V1Node } from '@kubernetes/client-node';
import type { NodeView } from '../domain/types.js';
import type { Logger } from '../log.js';
import type { NodeWatch } from '../ports.js';
import { toNodeView } from './convert.js';

export interface NodeInformerOptions {
  resyncMs: number;
  /** Restart the watch when no event arrived for this long. */
  quietMs: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** Nodes per LIST page (limit/continue): a 5,000-node list is never parsed as one body. */
  pageSize: number;
}

export const DEFAULT_INFORMER_OPTIONS: NodeInformerOptions = {
  resyncMs: 5 * 60_000,
  quietMs: 15 * 60_000,
  initialBackoffMs: 1_000,
  maxBackoffMs: 60_000,
  pageSize: 500,
};

/**
 * Cuts a converted node down, in place, to what client-node's informer keeps of it: the name and
 * resourceVersion its cache compares and deletes by. The controller reads the converted views
 * (KubeNodeWatch.views), so the full objects (images, managedFields, conditions) are not held twice.
 */
function cutDown(node: V1Node): void {
  const { name, namespace, resourceVersion } = node.metadata ?? {};
  for (const key of Object.keys(node)) delete (node as Record<string, unknown>)[key];
  node.metadata = { name, namespace, resourceVersion };
}

export class KubeNodeWatch implements NodeWatch {
  private informer: (Informer<V1Node> & ObjectCache<V1Node>) | undefined;
  private timers: NodeJS.Timeout[] = [];
  private restartTimer: NodeJS.Timeout | undefined;
  private backoffMs: number;
  private lastEventAt = Date.now();
  private stopped = false;
  /** The informer's cache holds a full list (its first list arrived). */
  private synced = false;
  /** Each node converted once per event; cached() builds its array again only after a change. */
  private readonly views = new Map<string, NodeView>();
  private snapshot: NodeView[] | undefined;
  /** Objects already converted (and cut down): their views are in this.views. */
  private readonly converted = new WeakSet<V1Node>();

  constructor(
    private readonly kubeConfig: KubeConfig,
    private readonly core: CoreV1Api,
    private readonly log: Logger,
    private readonly options: NodeInformerOptions = DEFAULT_INFORMER_OPTIONS,
  ) {
    this.backoffMs = options.initialBackoffMs;
  }

  async start(onChange: (node: NodeView) => void): Promise<void> {
    this.stopped = false;
    const emit = (view: NodeView) => {
      this.lastEventAt = Date.now();
      try {
        onChange(view);
      } catch (err) {
        this.log.error({ err }, 'node event handler failed');
      }
    };
    // Listed page by page, each page converted (and its objects cut down) before the next arrives.
    // The cache is whole once a list has arrived and the informer has added its items (in the
    // microtask after this one resolves: a macrotask later they are all in); start() resolves even
    // when the list failed, so it cannot tell.
    const list = async () => {
      const items: V1Node[] = [];
      let resourceVersion: string | undefined;
      let token: string | undefined;
      do {
        const page = await this.core.listNode({ limit: this.options.pageSize, ...(token ? { _continue: token } : {}) });
        resourceVersion ??= page.metadata?.resourceVersion;
        for (const node of page.items) {
          this.convert(node);
          items.push(node);
        }
        token = page.metadata?._continue || undefined;
      } while (token);
      setImmediate(() => {
        if (!this.stopped) this.synced = true;
      });
      return { apiVersion: 'v1', kind: 'NodeList', metadata: { resourceVersion }, items };
    };
    const informer = makeInformer<V1Node>(this.kubeConfig, '/api/v1/nodes', list);
    // The informer's cache holds the object it passes here: a listed node arrives converted
    // already, a watched one is converted now (and cut down).
    const onEvent = (node: V1Node) => {
      const view = this.converted.has(node) ? this.views.get(node.metadata?.name ?? '') : this.convert(node);
      if (view) emit(view);
    };
    informer.on('add', onEvent);
    informer.on('update', onEvent);
    informer.on('delete', (node) => {
      if (node.metadata?.name) this.views.delete(node.metadata.name);
      this.snapshot = undefined;
    });
    informer.on('connect', () => {
      this.lastEventAt = Date.now();
      this.backoffMs = this.options.initialBackoffMs;
    });
    informer.on('error', (err: unknown) => {
      // A watch we stopped ends with an error too: that is no failure.
      if (this.stopped) return;
      this.log.warn({ err, retryInMs: this.backoffMs }, 'node watch failed; restarting');
      this.scheduleRestart();
    });
    this.informer = informer;
    this.timers.push(
      setInterval(() => {
        // The views already converted: a resync costs no read and no conversion.
        for (const view of this.views.values()) emit(view);
      }, this.options.resyncMs),
      setInterval(() => {
        if (Date.now() - this.lastEventAt > this.options.quietMs) {
          this.log.warn({ quietMs: this.options.quietMs }, 'node watch went quiet; restarting it');
          this.lastEventAt = Date.now();
          void informer.stop().then(() => this.scheduleRestart());
        }
      }, Math.min(this.options.quietMs, 60_000)),
    );
    try {
      await informer.start();
    } catch (err) {
      this.log.warn({ err }, 'starting the node watch failed; retrying');
      this.scheduleRestart();
    }
  }

  private scheduleRestart(): void {
    if (this.stopped || this.restartTimer) return;
    const wait = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.maxBackoffMs);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopped || !this.informer) return;
      this.informer.start().catch((err: unknown) => {
        this.log.warn({ err }, 'restarting the node watch failed');
        this.scheduleRestart();
      });
    }, wait);
  }

  private convert(node: V1Node): NodeView {
    const view = toNodeView(node);
    this.views.set(view.name, view);
    this.snapshot = undefined;
    cutDown(node);
    this.converted.add(node);
    return view;
  }

  cached(): NodeView[] | undefined {
    if (!this.synced || this.stopped || !this.informer) return undefined;
    this.snapshot ??= [...this.views.values()];
    return this.snapshot;
  }

  cachedNode(name: string): NodeView | undefined {
    return this.synced && !this.stopped ? this.views.get(name) : undefined;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.synced = false;
    this.views.clear();
    this.snapshot = undefined;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    await this.informer?.stop();
  }
}
