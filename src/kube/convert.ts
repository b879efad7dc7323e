// Kubernetes objects -> the engine's plain views.
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import type { NodeView, PodView } from '../domain/types.js';

export function toNodeView(node: V1Node): NodeView {
  const name = node.metadata?.name;
  if (!name) throw new Error('node without metadata.name');
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  return {
    name,
    labels: { ...(node.metadata?.labels ?? {}) },
    annotations: { ...(node.metadata?.annotations ?? {}) },
    unschedulable: node.spec?.unschedulable === true,
    ready,
    containerRuntimeVersion: node.status?.nodeInfo?.containerRuntimeVersion ?? '',
    kubeletVersion: node.status?.nodeInfo?.kubeletVersion ?? '',
    addresses: (node.status?.addresses ?? []).map((a) => ({ type: a.type, address: a.address })),
    resourceVersion: node.metadata?.resourceVersion ?? '',
  };
}

export function toPodView(pod: V1Pod): PodView {
  const metadata = pod.metadata ?? {};
  if (!metadata.name || !metadata.namespace) throw new Error('pod without name or namespace');
  const deletion = metadata.deletionTimestamp;
  return {
    namespace: metadata.namespace,
    name: metadata.name,
    uid: metadata.uid ?? '',
    labels: { ...(metadata.labels ?? {}) },
    phase: pod.status?.phase ?? 'Unknown',
    controllers: (metadata.ownerReferences ?? []).filter((o) => o.controller === true).map((o) => ({ kind: o.kind, name: o.name })),
    mirror: Object.hasOwn(metadata.annotations ?? {}, 'kubernetes.io/config.mirror'),
    usesEmptyDir: (pod.spec?.volumes ?? []).some((v) => v.emptyDir !== undefined && v.emptyDir !== null),
    ...(deletion ? { deletionTimestamp: new Date(deletion) } : {}),
  };
}

/** A Kubernetes API error's HTTP status, or undefined for other errors. */
export function statusCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** The Status object of an API error, whether client-node parsed it or left it as text. */
export function statusBody(err: unknown): { message?: string; reason?: string; details?: { kind?: string; name?: string; causes?: { reason?: string; message?: string }[] } } {
  const body = (err as { body?: unknown } | null)?.body;
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as ReturnType<typeof statusBody>;
    } catch {
      return { message: body };
    }
  }
  return (body ?? {}) as ReturnType<typeof statusBody>;
}

/**
 * A Kubernetes API failure in one line ("namespaces \"x\" not found (404 NotFound)"). client-node's
 * own message carries the raw body and every response header, which would flood node annotations,
 * Events and logs. `code` and `body` stay available to statusCode() and statusBody().
 */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly body: ReturnType<typeof statusBody>,
  ) {
    super(`${body.message ?? 'request failed'} (${code}${body.reason ? ` ${body.reason}` : ''})`);
    this.name = 'KubeApiError';
  }
}

/** Wraps a client-node API object so its rejections are KubeApiErrors. */
export function conciseApiErrors<T extends object>(api: T): T {
  return new Proxy(api, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const result: unknown = value.apply(target, args);
        if (!(result instanceof Promise)) return result;
        return result.catch((err: unknown) => {
          const code = statusCode(err);
          throw code === undefined ? err : new KubeApiError(code, statusBody(err));
        });
      };
    },
  });
}
