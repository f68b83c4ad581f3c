import { describe, expect, it } from 'vitest';
import { detectOwnContainerId, ownContainerIdFrom } from './own-container-id.js';

const ID = '443dc8ad5526646ab2de6010657a43bdde9f894758ae2a75de635c471eb047fd';
const OTHER = '9f2c0b7e1d3a4c5b6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5';

// Captured from `docker run` on a cgroup v1 host (Docker 2x, overlay2, cgroupfs driver).
const V1_MOUNTINFO = `72 48 0:39 / / rw,relatime master:2 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/7WI2OTZOXTZUKCRRPMLODQMV4B:/var/lib/docker/overlay2/l/QH2QAHMILSP3HCZQRXBEZJRPVG,upperdir=/var/lib/docker/overlay2/0439ed77fa6f5417383893eea4ad6efa7c7608d43c2cda5362fcf925288f0cf2/diff,workdir=/var/lib/docker/overlay2/0439ed77fa6f5417383893eea4ad6efa7c7608d43c2cda5362fcf925288f0cf2/work
73 72 0:42 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
74 72 0:43 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
77 76 0:46 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,mode=755
81 77 0:32 /docker/${ID} /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,memory
88 74 0:47 / /dev/shm rw,nosuid,nodev,noexec,relatime - tmpfs shm rw,size=65536k
89 72 254:0 /var/lib/docker/containers/${ID}/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda rw,discard
90 72 254:0 /var/lib/docker/containers/${ID}/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw,discard
91 72 254:0 /var/lib/docker/containers/${ID}/hosts /etc/hosts rw,relatime - ext4 /dev/vda rw,discard
49 73 0:42 /bus /proc/bus ro,nosuid,nodev,noexec,relatime - proc proc rw
`;
const V1_CGROUP = `9:name=systemd:/docker/${ID}
8:pids:/docker/${ID}
4:memory:/docker/${ID}
1:cpu:/docker/${ID}
0::/docker/${ID}
`;

// cgroup v2 host, Docker's default private cgroup namespace: /proc/self/cgroup tells nothing.
const V2_MOUNTINFO = `1364 1222 0:143 / / rw,relatime master:546 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/ABC,upperdir=/var/lib/docker/overlay2/${OTHER}/diff,workdir=/var/lib/docker/overlay2/${OTHER}/work
1365 1364 0:146 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
1369 1368 0:30 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw,nsdelegate,memory_recursiveprot
1372 1364 8:1 /var/lib/docker/containers/${ID}/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/sda1 rw,discard,errors=remount-ro
1373 1364 8:1 /var/lib/docker/containers/${ID}/hostname /etc/hostname rw,relatime - ext4 /dev/sda1 rw,discard,errors=remount-ro
1374 1364 8:1 /var/lib/docker/containers/${ID}/hosts /etc/hosts rw,relatime - ext4 /dev/sda1 rw,discard,errors=remount-ro
1375 1366 0:25 /docker.sock /run/docker.sock rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,size=1631096k,mode=755
`;
const V2_PRIVATE_CGROUP = '0::/\n';
const V2_SYSTEMD_CGROUP = `0::/system.slice/docker-${ID}.scope\n`;

// Data root on its own filesystem: the mount root is relative to that filesystem.
const OWN_DISK_MOUNTINFO = `1373 1364 8:17 /containers/${ID}/hostname /etc/hostname rw,relatime - xfs /dev/sdb1 rw
1374 1364 8:17 /containers/${ID}/hosts /etc/hosts rw,relatime - xfs /dev/sdb1 rw
`;

// Rootless Docker keeps its data root under the user's home.
const ROOTLESS_MOUNTINFO = `612 590 259:2 /home/ops/.local/share/docker/containers/${ID}/hostname /etc/hostname rw,relatime - ext4 /dev/nvme0n1p2 rw
`;

// The host itself (listener run by systemd): every running container's shm mount is listed,
// and /var/lib/docker/containers/<id>/ appears in the mount point column.
const HOST_MOUNTINFO = `27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
42 27 254:0 /var/lib/docker /var/lib/docker rw,relatime shared:1 - ext4 /dev/vda rw
310 42 0:61 / /var/lib/docker/containers/${OTHER}/mounts/shm rw,nosuid,nodev,noexec,relatime shared:170 - tmpfs shm rw,size=65536k
320 42 0:62 / /var/lib/docker/overlay2/${OTHER}/merged rw,relatime shared:172 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/X
`;
const HOST_CGROUP = '0::/system.slice/checker-listener.service\n';
const HOST_V1_CGROUP =
  '12:pids:/system.slice/checker-listener.service\n1:name=systemd:/system.slice/checker-listener.service\n';

describe('ownContainerIdFrom', () => {
  it.each([
    ['cgroup v1: mountinfo and cgroup agree', V1_MOUNTINFO, V1_CGROUP, ID],
    ['cgroup v2, private cgroup namespace: mountinfo only', V2_MOUNTINFO, V2_PRIVATE_CGROUP, ID],
    ['cgroup v1, mountinfo unreadable: cgroup /docker/<id>', '', V1_CGROUP, ID],
    ['cgroup v2, host namespace, systemd driver: docker-<id>.scope', '', V2_SYSTEMD_CGROUP, ID],
    ['cgroup v1, systemd driver', '', `1:name=systemd:/system.slice/docker-${ID}.scope\n`, ID],
    ['data root on its own filesystem', OWN_DISK_MOUNTINFO, '0::/\n', ID],
    ['rootless Docker', ROOTLESS_MOUNTINFO, '0::/\n', ID],
    ['Docker in Docker: the innermost cgroup', '', `0::/docker/${OTHER}/docker/${ID}\n`, ID],
    ['upper-case hex is read as the same id', V1_MOUNTINFO.replaceAll(ID, ID.toUpperCase()), '', ID],
    ['CRLF line ends', V2_MOUNTINFO.replaceAll('\n', '\r\n'), '', ID],
  ])('%s', (_what, mountinfo, cgroup, expected) => {
    expect(ownContainerIdFrom(mountinfo, cgroup)).toBe(expected);
  });

  it.each([
    ['the host, cgroup v2 (other containers’ shm mounts are not ours)', HOST_MOUNTINFO, HOST_CGROUP],
    ['the host, cgroup v1', HOST_MOUNTINFO, HOST_V1_CGROUP],
    ['nothing readable', '', ''],
    ['a 64-hex overlay layer is not a container id', V2_MOUNTINFO.split('\n')[0] ?? '', '0::/\n'],
    ['a short id in the cgroup path', '', '0::/docker/443dc8ad5526\n'],
    ['a cgroup path that only contains a 64-hex id', '', `0::/docker/${ID}x\n`],
  ])('undefined on %s', (_what, mountinfo, cgroup) => {
    expect(ownContainerIdFrom(mountinfo, cgroup)).toBeUndefined();
  });

  it('prefers the mounts over the cgroup when both say something', () => {
    expect(ownContainerIdFrom(V2_MOUNTINFO, `0::/docker/${OTHER}\n`)).toBe(ID);
  });

  it('breaks a tie between disagreeing mounts with the hostname', () => {
    const mixed = `1 0 8:1 /var/lib/docker/containers/${OTHER}/hosts /etc/hosts rw - ext4 /dev/sda1 rw
2 0 8:1 /var/lib/docker/containers/${ID}/hostname /etc/hostname rw - ext4 /dev/sda1 rw
`;
    expect(ownContainerIdFrom(mixed, '', ID.slice(0, 12))).toBe(ID);
    expect(ownContainerIdFrom(mixed, '', 'web-1')).toBe(OTHER);
    expect(ownContainerIdFrom(mixed, '')).toBe(OTHER);
  });

  it('never answers with the hostname alone', () => {
    expect(ownContainerIdFrom(HOST_MOUNTINFO, HOST_CGROUP, ID.slice(0, 12))).toBeUndefined();
  });
});

describe('detectOwnContainerId', () => {
  it('reads /proc/self/mountinfo and /proc/self/cgroup', async () => {
    const files: Record<string, string> = {
      '/proc/self/mountinfo': V2_MOUNTINFO,
      '/proc/self/cgroup': '0::/\n',
    };
    const readText = async (path: string) => files[path] ?? '';
    await expect(detectOwnContainerId({ readText, hostname: () => ID.slice(0, 12) })).resolves.toBe(ID);
  });

  it('falls back to the cgroup when mountinfo cannot be read', async () => {
    const readText = async (path: string) => {
      if (path === '/proc/self/cgroup') return V1_CGROUP;
      throw Object.assign(new Error('EACCES'), { code: 'EACCES' });
    };
    await expect(detectOwnContainerId({ readText })).resolves.toBe(ID);
  });

  it('never throws: unreadable files and a failing hostname give undefined', async () => {
    const readText = async () => {
      throw new Error('ENOENT');
    };
    const hostname = () => {
      throw new Error('uv_os_gethostname');
    };
    await expect(detectOwnContainerId({ readText, hostname })).resolves.toBeUndefined();
  });

  it('runs against the real /proc without throwing', async () => {
    const id = await detectOwnContainerId();
    expect(id === undefined || /^[0-9a-f]{64}$/.test(id)).toBe(true);
  });
});
