// Where a monitor child's boot goes, package by package: one child is forked as the listener
// forks it (same exec flags), with V8's CPU profiler on, until it says `booted`; the profile's
// samples in the bundle are mapped back through its source map to the package they came from.
// Also what each package weighs in the bundle (esbuild's metafile), and the child's memory.
//
//   node bench/boot-profile.mjs        (also used by bench/listener.mjs)
import { fork } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const entry = join(root, 'packages/monitor/bin/child.js');
const bundle = join(root, 'packages/monitor/dist/child.bundle.js');

/** The package a source path belongs to: `dockerode`, `@grpc/grpc-js`, `checker` for ours. */
function packageOf(source) {
  const at = source.lastIndexOf('node_modules/');
  if (at < 0) return /packages\/|core\/src\//.test(source) ? 'checker' : source;
  const rest = source.slice(at + 'node_modules/'.length).split('/');
  return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
}

const VLQ = new Map(
  [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'].map((c, i) => [c, i]),
);

/** Decodes a source map's mappings into, per generated line, sorted [column, sourceIndex]. */
function decodeMappings(map) {
  const lines = [];
  let source = 0;
  for (const text of map.mappings.split(';')) {
    const segments = [];
    let column = 0;
    for (const segment of text.split(',')) {
      if (!segment) continue;
      const values = [];
      let value = 0;
      let shift = 0;
      for (const c of segment) {
        const digit = VLQ.get(c);
        value += (digit & 31) << shift;
        if (digit & 32) shift += 5;
        else {
          values.push(value & 1 ? -(value >> 1) : value >> 1);
          value = 0;
          shift = 0;
        }
      }
      column += values[0];
      if (values.length > 1) source += values[1];
      segments.push([column, source]);
      // values[2..3]: original line and column, not needed here
    }
    lines.push(segments);
  }
  return lines;
}

function sourceAt(lines, line, column) {
  const segments = lines[line];
  if (!segments) return undefined;
  let found;
  for (const [col, src] of segments) {
    if (col > column) break;
    found = src;
  }
  return found;
}

/** Forks one child with the CPU profiler on; resolves the profile by package, and its memory. */
export async function bootProfile() {
  const { monitorForkOptions } = await import('../packages/core/dist/monitor/protocol.js');
  const dir = mkdtempSync(join(tmpdir(), 'checker-boot-profile-'));
  try {
    const options = monitorForkOptions({
      mode: 'exec',
      timeout: 10,
      loglevel: 'INFO',
      stdout: false,
      syslog: false,
      etcdPrefix: '/SERVICE',
    });
    options.execArgv = [
      ...options.execArgv,
      '--cpu-prof',
      `--cpu-prof-dir=${dir}`,
      '--cpu-prof-interval=500',
    ];
    const started = performance.now();
    const child = fork(entry, [], options);
    const booted = await new Promise((resolve, reject) => {
      child.on('message', (m) => {
        if (m?.type !== 'booted') return;
        const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const rollup = readFileSync(`/proc/${child.pid}/smaps_rollup`, 'utf8');
        const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(rollup)?.[1] ?? 0);
        resolve({
          wallMs: performance.now() - started,
          cpuMs: (Number(fields[11]) + Number(fields[12])) * 10,
          pssKb: kb('Pss'),
          privateDirtyKb: kb('Private_Dirty'),
        });
      });
      child.once('exit', (code) => reject(new Error(`the child exited ${code} before it booted`)));
    });
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    const map = JSON.parse(readFileSync(`${bundle}.map`, 'utf8'));
    const lines = decodeMappings(map);
    const self = new Map();
    for (let i = 0; i < profile.samples.length; i++)
      self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
    const byPart = new Map();
    const add = (part, us) => byPart.set(part, (byPart.get(part) ?? 0) + us);
    for (const node of profile.nodes) {
      const us = self.get(node.id) ?? 0;
      if (us === 0) continue;
      const { url, lineNumber, columnNumber, functionName } = node.callFrame;
      if (url.endsWith('child.bundle.js')) {
        const src = sourceAt(lines, lineNumber, columnNumber);
        add(src === undefined ? 'bundle (unmapped)' : packageOf(map.sources[src]), us);
      } else if (url.startsWith('node:internal/modules/')) add('Node: module loader', us);
      else if (url.startsWith('node:'))
        add(`Node: ${url.replace(/^node:(internal\/)?/, '').split('/')[0]}`, us);
      else if (url === '')
        add(
          functionName === '(garbage collector)'
            ? 'garbage collection'
            : 'V8 and Node internals (compile, load)',
          us,
        );
      else add(url.includes('bin/child.js') ? 'checker' : 'other', us);
    }
    const total = [...byPart.values()].reduce((a, v) => a + v, 0);
    const meta = JSON.parse(readFileSync(`${bundle}.meta.json`, 'utf8'));
    const bytes = new Map();
    for (const [path, input] of Object.entries(
      meta.outputs[Object.keys(meta.outputs).find((o) => o.endsWith('.js'))].inputs,
    )) {
      const pkg = packageOf(path);
      bytes.set(pkg, (bytes.get(pkg) ?? 0) + input.bytesInOutput);
    }
    return {
      booted,
      sampledMs: total / 1000,
      parts: [...byPart.entries()]
        .sort((a, b) => b[1] - a[1])
        .map(([part, us]) => ({ part, ms: us / 1000, kb: (bytes.get(part) ?? 0) / 1024 })),
      bundleKb: [...bytes.values()].reduce((a, v) => a + v, 0) / 1024,
      bytes: [...bytes.entries()].sort((a, b) => b[1] - a[1]).map(([pkg, b]) => ({ pkg, kb: b / 1024 })),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const p = await bootProfile();
  console.log(
    `one monitor child on Node ${process.versions.node}: booted in ${p.booted.wallMs.toFixed(0)} ms wall, ${p.booted.cpuMs} ms CPU, PSS ${(p.booted.pssKb / 1024).toFixed(1)} MB (private dirty ${(p.booted.privateDirtyKb / 1024).toFixed(1)} MB); bundle ${p.bundleKb.toFixed(0)} kB`,
  );
  for (const { part, ms, kb } of p.parts)
    console.log(
      `  ${part.padEnd(40)} ${ms.toFixed(1).padStart(6)} ms CPU${kb ? `  ${kb.toFixed(0).padStart(5)} kB in the bundle` : ''}`,
    );
}
