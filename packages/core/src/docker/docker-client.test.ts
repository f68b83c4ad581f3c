import { afterEach, describe, expect, it } from 'vitest';
import { DockerUnreachable } from '../errors.js';
import { DockerClient } from './docker-client.js';

const saved = { ...process.env };
afterEach(() => {
  process.env = { ...saved };
});

describe('DockerClient: the endpoint --control chose is the only one', () => {
  it('talks to the --control socket even when DOCKER_HOST names another daemon', async () => {
    process.env.DOCKER_HOST = 'tcp://127.0.0.1:9';
    const docker = DockerClient.fromControl('unix:///nonexistent/checker-test.sock');
    const error = await docker.ping(2000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DockerUnreachable);
    // The socket was tried (no such file), not DOCKER_HOST's TCP port.
    expect((error as Error).message).toMatch(/ENOENT/);
    expect((error as Error).message).not.toMatch(/127\.0\.0\.1:9/);
    expect(process.env.DOCKER_HOST).toBe('tcp://127.0.0.1:9');
  });

  it('is not broken by DOCKER_HOST/DOCKER_CERT_PATH for another daemon whose certificates are missing', () => {
    process.env.DOCKER_HOST = 'tcp://127.0.0.1:2376';
    process.env.DOCKER_TLS_VERIFY = '1';
    process.env.DOCKER_CERT_PATH = '/nonexistent/certs';
    expect(() => DockerClient.fromControl('unix:///var/run/docker.sock')).not.toThrow();
  });
});
