import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startService as start } from './service-process.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

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

describe('what an operator reads: logs and health of the process', () => {
  const jsonLines = (text: string): Array<Record<string, unknown>> =>
    text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  it('writes start-up failures as JSON lines (stderr), like every other log line', async () => {
    const { child, output } = start({ PORT: 'eighty' });
    await once(child, 'exit');
    const lines = jsonLines(output().stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 60, service: 'glutamine-cds' });
    expect(String(lines[0]?.msg)).toMatch(/^Invalid configuration:\n {2}- PORT: /);
  });

  it('names the path, the user and the cause (EACCES) when the audit database cannot be opened', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'glutamine-readonly-'));
    chmodSync(dir, 0o555);
    const path = join(dir, 'audit.sqlite');
    // root may write anywhere: run as nobody then; anyone else is refused by the mode alone.
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const child = spawn(process.execPath, ['dist/main.js'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', PORT: '0', CDS_DB_PATH: path }, ...asNobody });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(1);
    const fatal = jsonLines(stderr).find((l) => l.level === 60);
    const uid = String(asNobody.uid ?? process.getuid?.());
    expect(fatal?.msg).toBe(
      `Cannot open the audit database ${path}: running as uid ${uid}, EACCES: ${dir} is not writable by uid ${uid} (mount a volume it owns, or set CDS_DB_PATH); SQLite said: unable to open database file`,
    );
  });

  it('after SIGTERM answers /readyz 503 draining for CDS_SHUTDOWN_GRACE_MS while still serving, then exits 0', async () => {
    const { child, output, listening } = start({ PORT: '0', CDS_SHUTDOWN_GRACE_MS: '3000' });
    const { port } = await listening();
    const base = `http://127.0.0.1:${String(port)}`;
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    child.kill('SIGTERM');
    let ready = 200;
    for (let i = 0; i < 50 && ready === 200; i++) {
      ready = (await fetch(`${base}/readyz`)).status;
      if (ready === 200) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(ready).toBe(503);
    const draining = await fetch(`${base}/readyz`);
    expect(await draining.json()).toMatchObject({ status: 'draining' });
    expect((await fetch(`${base}/cds-services`)).status).toBe(200);
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(0);
    expect(jsonLines(output().stdout).find((l) => l.msg === 'shutting down: draining')).toMatchObject({ signal: 'SIGTERM', graceMs: 3000 });
  }, 20000);

  it('logs a crash as a fatal JSON line, with the buffered lines before it, and exits 1', () => {
    const script = [
      "import { createLogger, exitOnFatalErrors } from './src/logger.ts';",
      "const logger = createLogger('info');",
      'exitOnFatalErrors(logger);',
      "logger.info({ requestId: 'last-before-crash' }, 'request');",
      "setImmediate(() => { throw new TypeError('boom'); });",
    ].join('\n');
    const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
    expect(result.status).toBe(1);
    const lines = jsonLines(result.stdout);
    expect(lines.map((l) => l.msg)).toEqual(['request', 'uncaught exception; exiting']);
    expect(lines[1]).toMatchObject({ level: 60, err: { name: 'TypeError', message: 'boom' } });
  });
});
