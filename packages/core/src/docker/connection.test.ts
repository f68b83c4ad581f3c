import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BadOption, DockerTlsError, ExitStatus } from '../errors.js';
import { dockerConnectionFrom, dockerControlFrom } from './connection.js';

describe('dockerControlFrom: --control (or MON_CONTROL), then DOCKER_HOST, then the local socket', () => {
  it.each([
    ['tcp://a:2375', { DOCKER_HOST: 'tcp://b:2375' }, 'tcp://a:2375'],
    [undefined, { DOCKER_HOST: 'tcp://b:2375' }, 'tcp://b:2375'],
    [undefined, {}, 'unix:///var/run/docker.sock'],
    ['', { DOCKER_HOST: '' }, 'unix:///var/run/docker.sock'],
  ])('%s with %j → %s', (flag, env, control) => {
    expect(dockerControlFrom(flag, env)).toBe(control);
  });
});

describe('dockerConnectionFrom', () => {
  it('reads unix sockets', () => {
    expect(dockerConnectionFrom('unix:///run/d.sock', {})).toMatchObject({ socketPath: '/run/d.sock' });
  });
  it('reads tcp endpoints as plain http', () => {
    expect(dockerConnectionFrom('tcp://10.0.0.1:2375', {})).toMatchObject({
      host: '10.0.0.1',
      port: 2375,
      protocol: 'http',
    });
  });
  it('uses TLS as the Docker CLI does, with certificates from DOCKER_CERT_PATH', () => {
    const dir = mkdtempSync(join(tmpdir(), 'checker-certs-'));
    try {
      for (const f of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(join(dir, f), f);
      const c = dockerConnectionFrom('tcp://d:2376', { DOCKER_CERT_PATH: dir });
      expect(c).toMatchObject({ host: 'd', port: 2376, protocol: 'https' });
      expect(c.ca?.toString()).toBe('ca.pem');
      expect(
        dockerConnectionFrom('tcp://d:1234', { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir }).protocol,
      ).toBe('https');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('refuses TLS without its certificate files, naming the file (exit 5)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'checker-certs-'));
    try {
      const attempt = () => dockerConnectionFrom('tcp://d:2376', { DOCKER_CERT_PATH: join(dir, 'missing') });
      expect(attempt).toThrow(DockerTlsError);
      expect(attempt).toThrow(`cannot read ${join(dir, 'missing', 'ca.pem')} (ENOENT)`);
      try {
        attempt();
      } catch (error) {
        expect((error as DockerTlsError).exitStatus).toBe(ExitStatus.dockerUnreachable);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it.each(['unix://relative.sock', 'ftp://x', 'tcp://', 'nonsense'])(
    'rejects %s with a usage error',
    (control) => {
      expect(() => dockerConnectionFrom(control, {})).toThrow(BadOption);
    },
  );
});
