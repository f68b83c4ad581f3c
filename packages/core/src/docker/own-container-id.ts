// Finding the id of the container the listener itself runs in, so that it never restarts or
// removes itself (SPEC §4 "Ignored"). `ownContainerIdFrom` is pure (file texts in, id out);
// `detectOwnContainerId` is the thin reader of /proc around it.

import { readFile } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';

const HEX64 = '[0-9a-f]{64}';

/**
 * Docker bind-mounts these three files from the container's own directory,
 * `<data-root>/containers/<id>/`, into every container (host networking included).
 */
const DOCKER_MANAGED_FILES = new Set(['/etc/hostname', '/etc/hosts', '/etc/resolv.conf']);

// Anchored on `containers/<id>/` rather than `/docker/containers/`: when the data root is its
// own filesystem the mount root reads `/containers/<id>/hostname`, a custom `--data-root` or
// rootless Docker has another parent, and Podman writes `overlay-containers/<id>/userdata/`.
const MOUNT_ROOT_ID = new RegExp(`containers/(${HEX64})/`);

// cgroup v1 (cgroupfs driver): `/docker/<id>`; systemd driver, v1 or v2 with a host cgroup
// namespace: `/system.slice/docker-<id>.scope`. Nested Docker gives several: the last is ours.
const CGROUP_ID = new RegExp(`(?:/docker/(${HEX64})(?=/|$)|/docker-(${HEX64})\\.scope(?=/|$))`, 'g');

/**
 * The 64-hex id of the container this process runs in, or undefined when it does not look like
 * it runs in a Docker container.
 *
 * 1. /proc/self/mountinfo: the mount root of /etc/hostname, /etc/hosts or /etc/resolv.conf.
 *    This works with cgroup v2, where Docker's default private cgroup namespace shows `0::/`.
 *    Only those mount points are trusted: on the host itself mountinfo lists every running
 *    container's `/var/lib/docker/containers/<id>/mounts/shm`, and reading an id from such a
 *    line would make a listener run by systemd ignore somebody else's container.
 * 2. /proc/self/cgroup, for hosts where mountinfo did not say.
 *
 * `hostname` (Docker's default is the id's first 12 digits) only breaks a tie when the mounts
 * disagree; it is never an answer on its own, since a host's name may happen to be hex.
 */
export function ownContainerIdFrom(mountinfo: string, cgroup: string, hostname?: string): string | undefined {
  return fromMountinfo(mountinfo, hostname) ?? fromCgroup(cgroup);
}

function fromMountinfo(mountinfo: string, hostname: string | undefined): string | undefined {
  const candidates: string[] = [];
  for (const line of mountinfo.split('\n')) {
    // mountinfo(5): id parent major:minor root mountpoint options ... - fstype source superopts
    const fields = line.trim().split(' ');
    const root = fields[3];
    const mountPoint = fields[4];
    if (root === undefined || mountPoint === undefined || !DOCKER_MANAGED_FILES.has(mountPoint)) continue;
    const id = MOUNT_ROOT_ID.exec(root.toLowerCase())?.[1];
    if (id !== undefined) candidates.push(id);
  }
  if (candidates.length === 0) return undefined;
  const host = hostname?.trim().toLowerCase();
  if (host && host.length >= 12) {
    const match = candidates.find((id) => id.startsWith(host));
    if (match !== undefined) return match;
  }
  return candidates[0];
}

function fromCgroup(cgroup: string): string | undefined {
  let found: string | undefined;
  for (const line of cgroup.split('\n')) {
    // hierarchy-id:controllers:path; the path may itself contain ':' in theory, so rejoin.
    const path = line.split(':').slice(2).join(':').trim().toLowerCase();
    for (const match of path.matchAll(CGROUP_ID)) found = match[1] ?? match[2] ?? found;
    if (found !== undefined) return found;
  }
  return undefined;
}

export interface DetectOwnContainerIdOptions {
  /** Reads a file as UTF-8; injectable for tests. */
  readText?: (path: string) => Promise<string>;
  hostname?: () => string;
}

/**
 * Reads /proc/self/mountinfo and /proc/self/cgroup and returns `ownContainerIdFrom` of them.
 * Never throws: a file that cannot be read (not Linux, a locked-down /proc) counts as empty,
 * so the answer is undefined and the listener simply ignores no container as its own.
 */
export async function detectOwnContainerId(
  options: DetectOwnContainerIdOptions = {},
): Promise<string | undefined> {
  const read = options.readText ?? ((path: string) => readFile(path, 'utf8'));
  const safeRead = async (path: string): Promise<string> => {
    try {
      return await read(path);
    } catch {
      return '';
    }
  };
  let host: string | undefined;
  try {
    host = (options.hostname ?? osHostname)();
  } catch {
    host = undefined;
  }
  const [mountinfo, cgroup] = await Promise.all([
    safeRead('/proc/self/mountinfo'),
    safeRead('/proc/self/cgroup'),
  ]);
  try {
    return ownContainerIdFrom(mountinfo, cgroup, host);
  } catch {
    return undefined;
  }
}
