// The host's advertised address: what a record shows for ports Docker bound on every address
// (SPEC §3), when --host-ip does not say it.
import { type NetworkInterfaceInfo, networkInterfaces } from 'node:os';

export const FALLBACK_HOST_IP = '127.0.0.1';

/**
 * Bridges and veth pairs made by Docker and friends carry addresses other hosts cannot reach;
 * they are only chosen when nothing else is there.
 */
const VIRTUAL_INTERFACE = /^(docker|br-|veth|virbr|cni|flannel|cali)/;

/** The host's first non-internal IPv4, else `127.0.0.1`. */
export function defaultHostIp(): string {
  return firstExternalIpv4(networkInterfaces()) ?? FALLBACK_HOST_IP;
}

/** The first non-internal IPv4 in `os.networkInterfaces()` order, physical interfaces first. */
export function firstExternalIpv4(interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>): string | undefined {
  const candidates = Object.entries(interfaces).flatMap(([name, infos]) =>
    (infos ?? [])
      // Node 18.0–18.3 reported family as the number 4.
      .filter((info) => !info.internal && (info.family === 'IPv4' || (info.family as unknown) === 4))
      .map((info) => ({ name, address: info.address })),
  );
  const physical = candidates.find((c) => !VIRTUAL_INTERFACE.test(c.name));
  return (physical ?? candidates[0])?.address;
}
