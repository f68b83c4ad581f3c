// A webhook receiver the test owns, on loopback: what the listener's --notify URL points at.
// It answers 204 to every POST and keeps each body (parsed JSON) in order of arrival.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NotificationPayload } from '../../packages/core/src/listener/observability/index.js';

export interface Delivery {
  path: string;
  method: string;
  contentType: string | undefined;
  body: NotificationPayload;
  /** epoch ms of arrival */
  at: number;
}

export interface Webhook {
  /** what --notify takes */
  url: string;
  readonly received: readonly Delivery[];
  /** the deliveries about one container, optionally of one kind */
  about(id: string, kind?: NotificationPayload['kind']): Delivery[];
  close(): Promise<void>;
}

export async function startWebhook(path = '/hook'): Promise<Webhook> {
  const received: Delivery[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
    });
    req.on('end', () => {
      received.push({
        path: req.url ?? '',
        method: req.method ?? '',
        contentType: req.headers['content-type'],
        body: JSON.parse(text) as NotificationPayload,
        at: Date.now(),
      });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    received,
    about: (id, kind) =>
      received.filter((d) => d.body.container.id === id && (!kind || d.body.kind === kind)),
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
