// deploy/checker-listener.service: started after Docker, but never stopped or restarted with it.
// A Docker restart (an upgrade, a config change) must not restart the listener, whose monitors
// would then delete every record and write it again; the listener rides the restart out itself.
// The unit is parsed as systemd reads it (sections, continuation lines, lists, `Key=` resets),
// and `systemd-analyze verify` checks it offline (no running systemd needed).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/cli.js';

const UNIT_PATH = join(REPO_ROOT, 'deploy', 'checker-listener.service');

/** Section → key → the list of values in force (systemd's list semantics: `Key=` empties it). */
type Unit = Map<string, Map<string, string[]>>;

function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  // A trailing backslash continues the line; systemd joins the parts with a space.
  const lines = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/);
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = unit.get(header[1]!) ?? new Map();
      unit.set(header[1]!, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (section === undefined || eq < 0) throw new Error(`not a unit file line: ${line}`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (value === '') section.set(key, []);
    else section.set(key, [...(section.get(key) ?? []), ...value.split(/\s+/)]);
  }
  return unit;
}

/**
 * [Unit] dependencies through which stopping or restarting Docker stops or restarts this unit
 * (systemd.unit(5)): Requires (and the stricter Requisite, BindsTo), PartOf, StopPropagatedFrom.
 */
const STOP_PROPAGATING = ['Requires', 'Requisite', 'BindsTo', 'PartOf', 'StopPropagatedFrom'];
const DOCKER_UNITS = /^docker\.(service|socket)$/;

function dockerStopsIt(unit: Unit): string[] {
  const deps = unit.get('Unit') ?? new Map<string, string[]>();
  return STOP_PROPAGATING.flatMap((key) =>
    (deps.get(key) ?? []).filter((name) => DOCKER_UNITS.test(name)).map((name) => `${key}=${name}`),
  );
}

const unitList = (unit: Unit, key: string): string[] => unit.get('Unit')?.get(key) ?? [];

describe('the systemd unit (deploy/checker-listener.service)', () => {
  const unit = parseUnit(readFileSync(UNIT_PATH, 'utf8'));

  it('starts after Docker and pulls it in, without any dependency that stops or restarts it with Docker', () => {
    expect(unitList(unit, 'Wants')).toContain('docker.service');
    expect(unitList(unit, 'After')).toContain('docker.service');
    expect(dockerStopsIt(unit)).toEqual([]);
  });

  it('finds each dependency that would restart the listener with Docker (the unit as it was had Requires=)', () => {
    const before = [
      '[Unit]',
      'After=docker.service network-online.target',
      'Wants=network-online.target',
      'Requires=docker.service',
      '[Service]',
      'ExecStart=/usr/bin/env listener',
    ].join('\n');
    expect(dockerStopsIt(parseUnit(before))).toEqual(['Requires=docker.service']);
    for (const key of STOP_PROPAGATING) {
      const text = `[Unit]\nWants=docker.service\n${key}=network-online.target \\\n  docker.socket\n`;
      expect(dockerStopsIt(parseUnit(text)), key).toEqual([`${key}=docker.socket`]);
    }
    // An empty assignment resets the list, as in systemd.
    expect(dockerStopsIt(parseUnit('[Unit]\nRequires=docker.service\nRequires=\n'))).toEqual([]);
  });

  it('passes systemd-analyze verify without a warning', () => {
    const r = spawnSync('systemd-analyze', ['verify', UNIT_PATH], { encoding: 'utf8', timeout: 30_000 });
    expect(
      r.error,
      'systemd-analyze (Debian package systemd; scripts/setup-host.sh installs it)',
    ).toBeUndefined();
    expect({ status: r.status, stderr: r.stderr.trim() }).toEqual({ status: 0, stderr: '' });
  });
});
