import type { Watch } from '@kubernetes/client-node';

export type WatchEnd = 'satisfied' | 'ended' | 'aborted';

/**
 * One watch request: resolves 'satisfied' once handle() returns true, 'ended' when the server
 * closes the stream (the caller re-lists and watches again), 'aborted' on the signal.
 */
export function watchOnce<T>(
  watch: Watch,
  path: string,
  params: Record<string, string | number | boolean | undefined>,
  handle: (type: string, object: T) => boolean,
  signal: AbortSignal,
): Promise<WatchEnd> {
  return new Promise<WatchEnd>((resolve, reject) => {
    let settled = false;
    let request: AbortController | undefined;
    const finish = (end: WatchEnd | Error) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      request?.abort();
      if (end instanceof Error) reject(end);
      else resolve(end);
    };
    const onAbort = () => finish('aborted');
    if (signal.aborted) return finish('aborted');
    signal.addEventListener('abort', onAbort, { once: true });
    watch
      .watch(
        path,
        { ...params, allowWatchBookmarks: true },
        (type, object: T) => {
          if (type === 'ERROR') return finish(new Error(`watch ${path} failed: ${JSON.stringify(object)}`));
          if (handle(type, object)) finish('satisfied');
        },
        (err: unknown) => {
          if (err && !(err instanceof Error && err.name === 'AbortError')) finish(new Error(`watch ${path} failed`, { cause: err }));
          else finish(signal.aborted ? 'aborted' : 'ended');
        },
      )
      .then((controller) => {
        request = controller;
        if (settled) controller.abort();
      })
      .catch((err: unknown) => finish(new Error(`cannot watch ${path}`, { cause: err })));
  });
}
