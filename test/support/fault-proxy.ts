// A Docker API socket of a fault test's own in front of the real one, which does to chosen
// requests what a daemon in trouble (or the network between) does: answer with a status and
// body of the test's choosing (a 404 "No such image" for a sidecar's create), hold a request
// back before passing it on (a slow image inspect), or pass it on and lose the answer (the
// connection cut once Docker has acted). Every other request, event streams included, goes
// through untouched, hijacked connections (`docker exec`) as a raw tunnel. policy-listener.ts's
// startDockerProxy is the 500-only ancestor of this one.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What the proxy does with one request. */
export type ProxyAction =
  | { kind: 'pass' }
  /** answer at once, without asking Docker */
  | { kind: 'answer'; status: number; body: unknown }
  /** wait, then pass it on */
  | { kind: 'delay'; ms: number }
  /** pass it on, and cut the client's connection when Docker's answer arrives */
  | { kind: 'lose-answer' };

export const pass: ProxyAction = { kind: 'pass' };

export interface ProxiedRequest {
  method: string;
  /** the request's path and query, as sent (`/v1.41/containers/create?name=…`) */
  path: string;
  action: ProxyAction['kind'];
  /** Date.now() when the request arrived */
  at: number;
  /** Date.now() when Docker's answer arrived (also for a lost one); undefined until then */
  answeredAt?: number;
  /** Docker's status (or the proxy's own for `answer`) */
  status?: number;
}

export interface FaultProxy {
  /** what --control / MON_CONTROL takes */
  control: string;
  /** every request seen, in order */
  readonly requests: readonly ProxiedRequest[];
  /** resolves with the first request (already seen or still to come) that matches */
  waitForRequest(
    match: (r: ProxiedRequest) => boolean,
    opts?: { timeoutMs?: number; what?: string },
  ): Promise<ProxiedRequest>;
  close(): Promise<void>;
}

/**
 * Starts the proxy; `decide` picks the action per request (method, path without the API
 * version prefix, e.g. `/containers/create?name=…`). Answers never leave the test's own host.
 */
export async function startFaultProxy(
  decide: (method: string, path: string) => ProxyAction,
  upstreamSocket = '/var/run/docker.sock',
): Promise<FaultProxy> {
  const dir = await mkdtemp(join(tmpdir(), 'checker-fault-proxy-'));
  const socketPath = join(dir, 'docker.sock');
  const requests: ProxiedRequest[] = [];
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const waiter of waiters) waiter();
  };
  const timers = new Set<NodeJS.Timeout>();

  const forward = (req: IncomingMessage, res: ServerResponse, seen: ProxiedRequest, loseAnswer: boolean) => {
    const upstream = request(
      { socketPath: upstreamSocket, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        seen.answeredAt = Date.now();
        seen.status = answer.statusCode;
        notify();
        if (loseAnswer) {
          answer.resume();
          req.socket.destroy();
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        // Headers go now, as dockerd sends them: an /events answer has no body until an event.
        res.flushHeaders();
        answer.pipe(res);
      },
    );
    upstream.on('error', (error) => {
      if (res.headersSent || loseAnswer) res.destroy();
      else res.writeHead(502).end(error.message);
    });
    // A client that hangs up (an event stream ended) ends the upstream request too; a lost
    // answer's request must reach Docker in full first, so it is left to finish.
    if (!loseAnswer) res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  };

  const server = createServer((req, res) => {
    const method = req.method ?? 'GET';
    const raw = req.url ?? '/';
    const path = raw.replace(/^\/v\d+(\.\d+)?(?=\/)/, '');
    const action = decide(method, path);
    const seen: ProxiedRequest = { method, path: raw, action: action.kind, at: Date.now() };
    requests.push(seen);
    notify();
    switch (action.kind) {
      case 'answer':
        req.resume();
        seen.answeredAt = Date.now();
        seen.status = action.status;
        res.writeHead(action.status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(action.body));
        return;
      case 'delay': {
        // Read the body now (it is buffered by the pipe later), pass the request on after the wait.
        req.pause();
        const timer = setTimeout(() => {
          timers.delete(timer);
          if (!res.destroyed) forward(req, res, seen, false);
        }, action.ms);
        timers.add(timer);
        return;
      }
      case 'lose-answer':
        forward(req, res, seen, true);
        return;
      default:
        forward(req, res, seen, false);
    }
  });
  // `docker exec` start and attach hijack the connection (Upgrade: tcp): Node hands those to
  // 'upgrade', not to the request handler. They pass through as a raw tunnel.
  const tunnels = new Set<Socket>();
  server.on('upgrade', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const method = req.method ?? 'GET';
    requests.push({ method, path: req.url ?? '/', action: 'pass', at: Date.now() });
    notify();
    const upstream = connect(upstreamSocket, () => {
      const headers = Object.entries(req.headers).flatMap(([name, value]) =>
        (Array.isArray(value) ? value : [value ?? '']).map((v) => `${name}: ${v}`),
      );
      upstream.write(`${method} ${req.url} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    tunnels.add(client).add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      tunnels.delete(client);
      tunnels.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  return {
    control: `unix://${socketPath}`,
    requests,
    waitForRequest(match, { timeoutMs = 15_000, what = 'a matching request' } = {}) {
      return new Promise<ProxiedRequest>((resolve, reject) => {
        const look = () => {
          const found = requests.find(match);
          if (!found) return;
          waiters.delete(look);
          clearTimeout(limit);
          resolve(found);
        };
        const limit = setTimeout(() => {
          waiters.delete(look);
          const seen = requests.map((r) => `${r.method} ${r.path}`).slice(-15);
          reject(
            new Error(`the proxy saw no ${what} within ${timeoutMs} ms; last requests:\n${seen.join('\n')}`),
          );
        }, timeoutMs);
        waiters.add(look);
        look();
      });
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      for (const socket of tunnels) socket.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
