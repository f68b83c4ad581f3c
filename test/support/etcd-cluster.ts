// A 3-member etcd cluster on loopback for fault tests: each member on its own free client and
// peer ports with its own temp data dir, started together (`--initial-cluster`), with what a
// test needs to take one member down: which member leads (`etcdctl endpoint status -w json`:
// the member whose member_id equals the leader field), SIGKILL or SIGTERM of one member, and
// starting it again on its data. Every member is killed at process exit even when a test forgets.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ETCD_BIN, ETCDCTL_BIN, freePorts } from './etcd.js';

const run = promisify(execFile);

export interface ClusterMember {
  name: string;
  /** `http://127.0.0.1:<client port>` */
  endpoint: string;
  running(): boolean;
}

export interface TestEtcdCluster {
  members: readonly ClusterMember[];
  /** every member's endpoint, comma-separated: what --etcd-host takes */
  hosts: string;
  /** etcdctl against the members that run now; resolves stdout */
  ctl(...args: string[]): Promise<string>;
  /** the member that leads now (asked of the members that run) */
  leader(): Promise<ClusterMember>;
  /** SIGKILL one member, and wait for its exit */
  kill(name: string): Promise<void>;
  /** start a stopped member again on its data, and wait until it answers */
  start(name: string): Promise<void>;
  /** kill every member and remove the temp dir */
  cleanup(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Starts three members and resolves once the cluster has a leader and answers writes. */
export async function startEtcdCluster(size = 3): Promise<TestEtcdCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'checker-etcd-cluster-'));
  const ports = await freePorts(size * 2);
  const specs = Array.from({ length: size }, (_, i) => ({
    name: `m${i}`,
    client: `http://127.0.0.1:${ports[i * 2]}`,
    peer: `http://127.0.0.1:${ports[i * 2 + 1]}`,
    dataDir: join(dir, `m${i}`),
  }));
  const initialCluster = specs.map((s) => `${s.name}=${s.peer}`).join(',');
  const children = new Map<string, ChildProcess>();

  const launch = (spec: (typeof specs)[number]) => {
    const log = openSync(join(dir, `${spec.name}.log`), 'a');
    const child = spawn(
      ETCD_BIN,
      [
        `--name=${spec.name}`,
        `--data-dir=${spec.dataDir}`,
        `--listen-client-urls=${spec.client}`,
        `--advertise-client-urls=${spec.client}`,
        `--listen-peer-urls=${spec.peer}`,
        `--initial-advertise-peer-urls=${spec.peer}`,
        `--initial-cluster=${initialCluster}`,
        '--initial-cluster-token=checker-test',
        '--initial-cluster-state=new',
        '--log-level=warn',
      ],
      { stdio: ['ignore', log, log] },
    );
    closeSync(log);
    running.add(child);
    child.once('exit', () => running.delete(child));
    children.set(spec.name, child);
  };
  const alive = (name: string) => {
    const child = children.get(name);
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  };
  const endpointsUp = () =>
    specs
      .filter((s) => alive(s.name))
      .map((s) => s.client)
      .join(',');
  const ctl = async (...args: string[]) => {
    const { stdout } = await run(
      ETCDCTL_BIN,
      [`--endpoints=${endpointsUp()}`, '--dial-timeout=2s', '--command-timeout=5s', ...args],
      { env: { ...process.env, ETCDCTL_API: '3' } },
    );
    return stdout;
  };
  const halt = async (name: string, signal: NodeJS.Signals) => {
    const child = children.get(name);
    if (!child || !alive(name)) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  };
  const untilAnswers = async (what: string) => {
    const deadline = Date.now() + 20_000;
    let lastError: unknown;
    while (Date.now() < deadline) {
      try {
        await ctl('put', '/checker-test/cluster-probe', what);
        return;
      } catch (error) {
        lastError = error;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(
      `the etcd cluster did not answer within 20 s (${what}): ${String(lastError)}; logs in ${dir}`,
    );
  };

  const members: ClusterMember[] = specs.map((s) => ({
    name: s.name,
    endpoint: s.client,
    running: () => alive(s.name),
  }));
  const cluster: TestEtcdCluster = {
    members,
    hosts: specs.map((s) => s.client).join(','),
    ctl,
    async leader() {
      const out = await ctl('endpoint', 'status', '-w', 'json');
      // member_id and leader are 64-bit: compared as the digits etcdctl printed.
      const rows = [...out.matchAll(/"Endpoint":"([^"]+)".*?"member_id":(\d+).*?"leader":(\d+)/g)].map(
        (m) => ({ endpoint: m[1], memberId: m[2], leader: m[3] }),
      );
      const leading = rows.find((row) => row.memberId === row.leader);
      const member = members.find((m) => m.endpoint === leading?.endpoint);
      if (!member) throw new Error(`no member leads: ${out}`);
      return member;
    },
    kill: (name) => halt(name, 'SIGKILL'),
    async start(name) {
      const spec = specs.find((s) => s.name === name);
      if (!spec) throw new Error(`no member ${name}`);
      if (!alive(name)) launch(spec);
      await untilAnswers(`${name} back`);
    },
    async cleanup() {
      await Promise.all(specs.map((s) => halt(s.name, 'SIGKILL')));
      await rm(dir, { recursive: true, force: true });
    },
  };

  try {
    for (const spec of specs) launch(spec);
    await untilAnswers('started');
    await cluster.leader();
    return cluster;
  } catch (error) {
    await cluster.cleanup();
    throw error;
  }
}
