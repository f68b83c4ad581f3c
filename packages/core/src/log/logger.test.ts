import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { formatSyslogLine } from './syslog-stream.js';

function capture(options: Partial<Parameters<typeof createLogger>[0]>) {
  const out = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  out.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
  });
  const { log } = createLogger({
    tool: 'monitor',
    level: 'INFO',
    stdout: true,
    syslog: false,
    destination: out,
    ...options,
  });
  return { log, lines };
}

describe('logger: six levels, tool and container in every line', () => {
  it('filters by level and labels lines with the level name', async () => {
    const { log, lines } = capture({ level: 'NOTICE', container: 'web' });
    log.debug('d');
    log.info('i');
    log.notice('n');
    log.warning('w');
    log.error('e');
    log.critical('c');
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => l.level)).toEqual(['NOTICE', 'WARNING', 'ERROR', 'CRITICAL']);
    expect(lines.every((l) => l.tool === 'monitor' && l.container === 'web')).toBe(true);
  });

  it('--quiet keeps actions (NOTICE) and problems only', async () => {
    const { log, lines } = capture({ level: 'DEBUG', quiet: true });
    log.info('routine');
    log.notice('restart');
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => l.msg)).toEqual(['restart']);
  });
});

describe('syslog line format', () => {
  it('puts facility daemon and the severity of the level in PRI', () => {
    const at = new Date(2026, 10, 2, 4, 5, 6);
    expect(formatSyslogLine('{"level":"WARNING","msg":"x"}\n', 'monitor', 42, at).toString()).toBe(
      '<28>Nov  2 04:05:06 monitor[42]: {"level":"WARNING","msg":"x"}',
    );
    expect(formatSyslogLine('{"level":"DEBUG"}', 'check', 1, at).toString()).toMatch(/^<31>/);
    expect(formatSyslogLine('{"level":"CRITICAL"}', 'check', 1, at).toString()).toMatch(/^<26>/);
  });
});

describe('container field', () => {
  it('appears exactly once, from the line when the logger has none of its own', async () => {
    const out = new PassThrough();
    const raw: string[] = [];
    out.on('data', (chunk: Buffer) => raw.push(...chunk.toString().split('\n').filter(Boolean)));
    const { log } = createLogger({
      tool: 'listener',
      level: 'INFO',
      stdout: true,
      syslog: false,
      destination: out,
      container: null,
    });
    log.info('host-wide');
    log.info({ container: 'web' }, 'about web');
    await new Promise((r) => setImmediate(r));
    expect(raw.map((line) => line.match(/"container":/g)?.length)).toEqual([1, 1]);
    expect(raw.map((line) => JSON.parse(line).container)).toEqual([null, 'web']);
  });
});
