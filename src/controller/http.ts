// The controller's small HTTP server: /metrics (Prometheus text format), /healthz (the process
// answers) and /readyz (the API server answered the last leader-election attempt; a standby
// replica is ready too, so a rollout does not wait for leadership).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import type { Registry } from 'prom-client';

export interface HttpServerOptions {
  port: number;
  host?: string;
  registry: Registry;
  /** null when ready, else why not. */
  notReadyReason: () => string | null;
  log: Logger;
}

export async function startHttpServer(options: HttpServerOptions): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (code: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
    switch (path) {
      case '/healthz':
      case '/livez':
        return send(200, 'ok\n');
      case '/readyz': {
        const reason = options.notReadyReason();
        return reason === null ? send(200, 'ok\n') : send(503, `not ready: ${reason}\n`);
      }
      case '/metrics':
        options.registry.metrics().then(
          (text) => send(200, text, options.registry.contentType),
          (err: unknown) => {
            options.log.error({ err }, 'metrics exposition failed');
            send(500, 'metrics exposition failed\n');
          },
        );
        return;
      default:
        return send(404, 'not found: try /metrics, /healthz or /readyz\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
