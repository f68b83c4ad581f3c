// The address passed to the HEALTHCHECK command and written to the service record (SPEC §2):
// the container's address on the default bridge first, else on the alphabetically first
// network that gave it one; 127.0.0.1 where the container has no address of its own (host
// networking, --network none, or sharing another container's namespace: the check runs in
// that same namespace, where loopback reaches it).

export interface NetworkFacts {
  HostConfig?: { NetworkMode?: string };
  NetworkSettings?: {
    IPAddress?: string;
    Networks?: Record<string, { IPAddress?: string } | undefined> | null;
  };
}

export const LOOPBACK = '127.0.0.1';

export function containerIpOf(container: NetworkFacts): string {
  const networks = container.NetworkSettings?.Networks ?? {};
  const bridge = networks.bridge?.IPAddress;
  if (bridge) return bridge;
  for (const name of Object.keys(networks).sort()) {
    const ip = networks[name]?.IPAddress;
    if (ip) return ip;
  }
  return container.NetworkSettings?.IPAddress || LOOPBACK;
}

/**
 * The address a service record advertises (SPEC §3). A container on the host network is
 * reached at the host's advertised address (its ports are the host's), not at a loopback
 * every consumer would take for its own; otherwise the check's address.
 */
export function recordIpOf(container: NetworkFacts, hostIp: string): string {
  if (container.HostConfig?.NetworkMode === 'host') return hostIp;
  return containerIpOf(container);
}

/** `--network none`: nobody can reach the container, so it gets no record. */
export const isUnreachableNetwork = (container: NetworkFacts): boolean =>
  container.HostConfig?.NetworkMode === 'none';
