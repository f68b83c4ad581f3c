// The endpoints of `--etcd-host`, parsed and checked. Pure and light (the flag definitions use
// it to check MON_ETCD_HOST and --etcd-host alike, before any etcd code is loaded).

/** etcd's client port, when an endpoint gives none. */
export const DEFAULT_ETCD_PORT = 2379;

export interface Endpoint {
  /** as the user wrote it */
  text: string;
  scheme: 'http' | 'https' | undefined;
  /** `host:port`, `[v6]:port` */
  address: string;
}

/** The endpoints of `--etcd-host`; throws an Error saying what is wrong (the caller names the source). */
export function parseEtcdEndpoints(hosts: string): Endpoint[] {
  if (hosts.trim() === '') {
    throw new Error('expected host:port, e.g. 127.0.0.1:2379, got nothing');
  }
  return hosts.split(',').map((raw) => {
    const text = raw.trim();
    if (text === '') {
      throw new Error(`${JSON.stringify(hosts)} has an empty endpoint: remove the extra comma`);
    }
    const match = /^(?:([a-z][a-z0-9+.-]*):\/\/)?([^/]*)\/?$/i.exec(text);
    const scheme = match?.[1]?.toLowerCase();
    if (!match || (scheme !== undefined && scheme !== 'http' && scheme !== 'https')) {
      throw new Error(`expected host:port, http://host:port or https://host:port, got "${text}"`);
    }
    return { text, scheme, address: hostPort(text, match[2] ?? '') };
  });
}

/** `h` → `h:2379`; checks the port; keeps IPv6 brackets (`[::1]:2379`). */
function hostPort(text: string, authority: string): string {
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d*))?$/i.exec(authority);
  const host = match?.[1];
  const portText = match?.[2];
  if (host === undefined || (portText !== undefined && !/^\d{1,5}$/.test(portText))) {
    throw new Error(`expected host:port, e.g. 127.0.0.1:2379, got "${text}"`);
  }
  const port = portText === undefined ? DEFAULT_ETCD_PORT : Number(portText);
  if (port < 1 || port > 65535) {
    throw new Error(`"${text}" has port ${port}: give a port between 1 and 65535`);
  }
  return `${host}:${port}`;
}
