// The HTTP side of `--metrics <host:port>` (SPEC §4): GET (or HEAD) `/metrics` (Prometheus text),
// `/status` (JSON) and `/healthz` (200 or 503, JSON); 405 for other methods on those paths, 404
// for anything else. No authentication: bind it to loopback or a private address. Port 0 takes
// any free port; `start()` says which.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MetricsAddress } from '../../cli/flags.js';
import { ExitStatus, UserError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';

/** What the three paths answer; the server only speaks HTTP. */
export interface ObservabilityRoutes {
  metrics(): Promise<{ contentType: string; body: string }>;
  status(): unknown;
  health(): { ok: boolean; body: unknown };
}

/** --metrics names an address this host cannot listen on. */
export class MetricsUnavailable extends UserError {
  constructor(address: MetricsAddress, code: string | undefined, detail: string) {
    const hint =
      code === 'EADDRINUSE'
        ? 'the port is taken: choose another, or port 0 for any free one'
        : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN'
          ? 'no such address on this host: use one of its own addresses, 127.0.0.1 or 0.0.0.0'
          : code === 'EACCES'
            ? 'ports below 1024 need root or CAP_NET_BIND_SERVICE'
            : 'check the --metrics address';
    super(`cannot serve --metrics on ${formatAddress(address)}: ${detail} (${hint})`, ExitStatus.usage);
  }
}

/** `host:port`, an IPv6 host in brackets. */
export const formatAddress = ({ host, port }: MetricsAddress): string =>
  host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;

export class ObservabilityServer {
  private server: Server | undefined;

  constructor(
    private readonly address: MetricsAddress,
    private readonly routes: ObservabilityRoutes,
    private readonly log: Pick<Logger, 'debug' | 'warning'>,
  ) {}

  /** Listens; resolves with the address bound (the real port when 0 was asked). */
  async start(): Promise<MetricsAddress> {
    const server = createServer((req, res) => {
      void this.answer(req, res);
    });
    // Scrapers keep connections alive; a stuck client must not hold a socket for long.
    server.headersTimeout = 10_000;
    server.requestTimeout = 15_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(new MetricsUnavailable(this.address, error.code, error.message)),
      );
      server.listen({ host: this.address.host, port: this.address.port }, () => resolve());
    });
    server.on('error', (error) => this.log.warning({ err: error.message }, 'metrics server error'));
    this.server = server;
    const bound = server.address() as AddressInfo;
    return { host: bound.address, port: bound.port };
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  private async answer(req: IncomingMessage, res: ServerResponse) {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const route = path === '/metrics' || path === '/status' || path === '/healthz' ? path : undefined;
    if (!route) return send(req, res, 404, 'application/json', json({ error: `no such path: ${path}` }));
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(req, res, 405, 'application/json', json({ error: `${req.method} not allowed` }));
    }
    try {
      if (route === '/metrics') {
        const { contentType, body } = await this.routes.metrics();
        return send(req, res, 200, contentType, body);
      }
      if (route === '/status') return send(req, res, 200, 'application/json', json(this.routes.status()));
      const { ok, body } = this.routes.health();
      return send(req, res, ok ? 200 : 503, 'application/json', json(body));
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.log.warning({ path: route, err: message }, 'could not answer a metrics request');
      return send(req, res, 500, 'application/json', json({ error: message }));
    }
  }
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

function send(req: IncomingMessage, res: ServerResponse, status: number, contentType: string, body: string) {
  res.writeHead(status, {
    'content-type': contentType.includes('charset') ? contentType : `${contentType}; charset=utf-8`,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
