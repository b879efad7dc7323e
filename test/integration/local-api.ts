// A local HTTP server that the Kubernetes client talks to as if it were the API server.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

export function json(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** Starts the server on a free port and returns a KubeConfig pointing at it. */
export async function startLocalApi(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; kc: KubeConfig; close(): Promise<void> }> {
  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'local', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'c', cluster: 'local', user: 'u' }],
    currentContext: 'c',
  });
  return {
    server,
    kc,
    async close() {
      server.closeAllConnections(); // keep-alive and watch connections would hold close() open
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
