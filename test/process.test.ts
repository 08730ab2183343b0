import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startService as start } from './service-process.js';

describe('the process (dist/main.js, as npm start runs it)', () => {
  it('refuses bad configuration with every problem named, and exits 1', async () => {
    const { child, output } = start({ PORT: 'eighty', LOG_LEVEL: 'loud' });
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(1);
    expect(output().stderr).toContain('Invalid configuration:');
    expect(output().stderr).toMatch(/- PORT: /);
    expect(output().stderr).toMatch(/- LOG_LEVEL: /);
  });

  it('refuses to start on a non-loopback address without trusted clients', async () => {
    const { child, output } = start({ HOST: '0.0.0.0', PORT: '0' });
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(1);
    expect(output().stderr).toContain('Refusing to start: HOST=0.0.0.0 is not a loopback address and CDS_TRUSTED_CLIENTS is not set');
  });

  it('names a bad trusted clients file and exits 1', async () => {
    const { child, output } = start({ CDS_TRUSTED_CLIENTS: 'test/no-such-clients.json' });
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(1);
    expect(output().stderr).toContain('CDS_TRUSTED_CLIENTS: cannot read test/no-such-clients.json');
  });

  it('starts with the example trusted clients file on any address, authenticating', async () => {
    const { child, output } = start({ HOST: '0.0.0.0', PORT: '0', CDS_TRUSTED_CLIENTS: 'trusted-clients.example.json' });
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no listening line: ${JSON.stringify(output())}`));
      }, 15000);
      child.stdout.on('data', () => {
        const found = output()
          .stdout.split('\n')
          .find((l) => l.includes('glutamine-cds listening'));
        if (found) {
          clearTimeout(timer);
          resolve(found);
        }
      });
    });
    expect(JSON.parse(line)).toMatchObject({ authentication: 'jwt' });
    const port = (JSON.parse(line) as { port: number }).port;
    const res = await fetch(`http://127.0.0.1:${port}/cds-services/glutamine-order-sign`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(401);
    child.kill('SIGTERM');
    await once(child, 'exit');
  }, 20000);

  it('closes a request that does not arrive within CDS_REQUEST_TIMEOUT_MS (408)', async () => {
    const { child, listening } = start({ PORT: '0', CDS_REQUEST_TIMEOUT_MS: '1000' });
    const { port } = await listening();
    const socket = connect(port, '127.0.0.1');
    socket.write('POST /cds-services/glutamine-order-sign HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"hook":');
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    // The behaviour, not a timing: the server itself ends the stalled request with 408 (the test's own
    // 20 s limit would fail it if the timeout never fired).
    await once(socket, 'close');
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    child.kill('SIGTERM');
    await once(child, 'exit');
  }, 20000);

  it("writes a quiet request's log line within about a second, not when 4 KB have piled up", async () => {
    const { child, listening, output } = start({ PORT: '0', HOST: '127.0.0.1' });
    try {
      const { port } = await listening();
      await fetch(`http://127.0.0.1:${port}/healthz`);
      // No more traffic: the line must still come out (the flush interval), well before this waits out.
      await expect.poll(() => output().stdout.includes('"route":"/healthz"'), { timeout: 10_000, interval: 100 }).toBe(true);
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  }, 20000);

  it('serves discovery, then shuts down cleanly on SIGTERM', async () => {
    const { child, listening } = start({ PORT: '0', HOST: '127.0.0.1' });
    const { port } = await listening();
    const res = await fetch(`http://127.0.0.1:${port}/cds-services`);
    const body = (await res.json()) as { services: Array<{ id: string }> };
    expect(body.services.map((s) => s.id)).toEqual(['glutamine-order-select', 'glutamine-order-sign', 'glutamine-medication-verify']);
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(0);
  }, 20000);
});
