// Kubernetes objects -> the engine's plain views.
import type { V1Node, V1Pod, V1PodDisruptionBudget } from '@kubernetes/client-node';
import { ApiUnavailableError } from '../domain/errors.js';
import type { BudgetView, NodeView, PodView } from '../domain/types.js';

export function toNodeView(node: V1Node): NodeView {
  const name = node.metadata?.name;
  if (!name) throw new Error('node without metadata.name');
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  return {
    name,
    labels: { ...(node.metadata?.labels ?? {}) },
    annotations: { ...(node.metadata?.annotations ?? {}) },
    unschedulable: node.spec?.unschedulable === true,
    unschedulableTaint: (node.spec?.taints ?? []).some((t) => t.key === UNSCHEDULABLE_TAINT),
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
    safeToEvict: metadata.annotations?.[SAFE_TO_EVICT] === 'true',
    ...(deletion ? { deletionTimestamp: new Date(deletion) } : {}),
  };
}

/** The taint the node lifecycle controller sets while spec.unschedulable is true (TaintNodesByCondition). */
export const UNSCHEDULABLE_TAINT = 'node.kubernetes.io/unschedulable';

/** The cluster autoscaler's annotation for pods whose local storage may be thrown away. */
export const SAFE_TO_EVICT = 'cluster-autoscaler.kubernetes.io/safe-to-evict';

export function toBudgetView(pdb: V1PodDisruptionBudget): BudgetView {
  const str = (v: unknown) => (v === undefined || v === null ? undefined : String(v));
  const minAvailable = str(pdb.spec?.minAvailable);
  const maxUnavailable = str(pdb.spec?.maxUnavailable);
  return {
    namespace: pdb.metadata?.namespace ?? '',
    name: pdb.metadata?.name ?? '',
    ...(minAvailable !== undefined ? { minAvailable } : {}),
    ...(maxUnavailable !== undefined ? { maxUnavailable } : {}),
    disruptionsAllowed: pdb.status?.disruptionsAllowed ?? 0,
    currentHealthy: pdb.status?.currentHealthy ?? 0,
    desiredHealthy: pdb.status?.desiredHealthy ?? 0,
    expectedPods: pdb.status?.expectedPods ?? 0,
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

/** HTTP statuses that mean the API server (or what is in front of it) is not answering now. */
const UNAVAILABLE_STATUS = new Set([500, 502, 503, 504]);

/** Network-level failures of a request: nothing reached (or came back from) the API server. */
function isNetworkError(err: unknown): boolean {
  const e = err as { name?: string; code?: unknown; type?: string; errno?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  if (e.name === 'AbortError' || e.name === 'TimeoutError' || e.type === 'aborted' || e.type === 'request-timeout') return true;
  if (e.name === 'FetchError' || e.type === 'system') return true;
  return typeof e.code === 'string' && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE|EAI_AGAIN|ENOTFOUND|UND_ERR_\w+)$/.test(e.code);
}

/** Waits before the second and third try of a read that could not connect. */
export const READ_RETRY_DELAYS_MS = [500, 1_500];

/** Failed before any answer, and quickly: refused, reset, dropped (not a time limit running out). */
function isConnectionError(err: unknown): boolean {
  const e = err as { name?: string; type?: string } | null;
  if (!e || typeof e !== 'object' || e.name === 'AbortError' || e.name === 'TimeoutError' || e.type === 'aborted' || e.type === 'request-timeout') return false;
  return isNetworkError(err);
}

/**
 * Wraps a client-node API object: every request gets a time limit (a paused or partitioned API
 * server must not hang a step forever), rejections are one-line KubeApiErrors, and a request that
 * found the API server not answering is an ApiUnavailableError (retried, not counted as a failed
 * attempt). Options a caller passes (e.g. a patch content type) are kept.
 */
export function conciseApiErrors<T extends object>(api: T, requestTimeoutMs = 30_000): T {
  // client-node runs request options' middleware through its own minimal Observable (anything
  // with toPromise()), like its setHeaderOptions does.
  const resolved = <C>(value: C) => ({ toPromise: () => Promise.resolve(value) });
  const withTimeout = {
    pre: (context: { getSignal(): AbortSignal | undefined; setSignal(signal: AbortSignal): void }) => {
      if (!context.getSignal()) context.setSignal(AbortSignal.timeout(requestTimeoutMs));
      return resolved(context);
    },
    post: <R>(context: R) => resolved(context),
  };
  return new Proxy(api, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      // A read (read*, list*) that could not connect is sent again, READ_RETRY_DELAYS_MS apart:
      // a load balancer in front of a control plane whose API server restarts drops a few
      // connections ("socket disconnected before secure TLS connection was established"). Writes
      // and timed-out requests are not repeated here.
      const isRead = typeof property === 'string' && /^(read|list)/.test(property);
      return (param: unknown, options?: { middleware?: unknown[] }) => {
        const merged = { ...options, middleware: [...(options?.middleware ?? []), withTimeout], middlewareMergeStrategy: 'append' };
        const send = (attempt: number): unknown => {
          const result: unknown = value.call(target, param, merged);
          if (!(result instanceof Promise) || !isRead || attempt >= READ_RETRY_DELAYS_MS.length) return result;
          return result.catch(async (err: unknown) => {
            if (statusCode(err) !== undefined || !isConnectionError(err)) throw err;
            await new Promise((resolve) => setTimeout(resolve, READ_RETRY_DELAYS_MS[attempt]));
            return send(attempt + 1);
          });
        };
        const result = send(0);
        if (!(result instanceof Promise)) return result;
        return result.catch((err: unknown) => {
          const code = statusCode(err);
          if (code !== undefined && UNAVAILABLE_STATUS.has(code)) {
            throw new ApiUnavailableError(`the API server answered ${code}`, { cause: new KubeApiError(code, statusBody(err)) });
          }
          if (code === undefined && isNetworkError(err)) {
            throw new ApiUnavailableError(`the API server did not answer: ${(err as Error).message}`, { cause: err });
          }
          throw code === undefined ? err : new KubeApiError(code, statusBody(err));
        });
      };
    },
  });
}
