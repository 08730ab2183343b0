import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { FIXTURES_DIR } from './helpers.js';
import { sharedPostgres } from './shared-postgres.js';
import { startService } from './service-process.js';

/** CDS_WORKERS: several processes on one port, a rolling restart on SIGHUP, and the audit of all of them kept. */

const body = readFileSync(join(FIXTURES_DIR, 'scenarios', 'cirrhosis-order-sign.json'), 'utf8');

const lines = (text: string): Array<Record<string, unknown>> =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

async function waitForLines(read: () => string, count: number, msg: string): Promise<Array<Record<string, unknown>>> {
  for (let i = 0; i < 300; i++) {
    const found = lines(read()).filter((l) => l.msg === msg);
    if (found.length >= count) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`fewer than ${String(count)} "${msg}" lines: ${read()}`);
}

const postgres = sharedPostgres();

describe('CDS_WORKERS', () => {
  it('works on PostgreSQL too: two workers, one store, every card kept', async () => {
    const url = await postgres().database();
    const service = startService({ PORT: '0', CDS_WORKERS: '2', CDS_DATABASE_URL: url });
    const started = await waitForLines(() => service.output().stdout, 2, 'glutamine-cds listening');
    const port = Number(started[0]?.port);
    let answered = 0;
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`http://127.0.0.1:${String(port)}/cds-services/glutamine-order-sign`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body,
      });
      if (res.status === 200) answered += 1;
      await res.arrayBuffer();
    }
    service.child.kill('SIGTERM');
    const [code] = (await once(service.child, 'exit')) as [number];
    expect(code).toBe(0);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM cards');
    await client.end();
    expect(answered).toBe(20);
    expect(Number(rows[0]?.n)).toBe(20);
  }, 60_000);

  it('runs two workers on one port, restarts them one at a time on SIGHUP without a refused call, and keeps every card of the audit after SIGTERM', async () => {
    const db = join(mkdtempSync(join(tmpdir(), 'glutamine-cluster-')), 'audit.sqlite');
    const service = startService({ PORT: '0', CDS_WORKERS: '2', CDS_DB_PATH: db });
    const started = await waitForLines(() => service.output().stdout, 2, 'glutamine-cds listening');
    expect(new Set(started.map((l) => l.worker))).toEqual(new Set([1, 2]));
    const port = Number(started[0]?.port);
    expect(started[1]?.port).toBe(port);

    let answered = 0;
    const failures: string[] = [];
    const call = async (): Promise<void> => {
      try {
        const res = await fetch(`http://127.0.0.1:${String(port)}/cds-services/glutamine-order-sign`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body,
        });
        if (res.status === 200) answered += 1;
        else failures.push(`HTTP ${String(res.status)}`);
        await res.arrayBuffer();
      } catch (error) {
        failures.push((error as Error).message);
      }
    };
    for (let i = 0; i < 20; i++) await call();

    // Calls keep coming while the workers are replaced.
    let calling = true;
    const traffic = (async () => {
      while (calling) await call();
    })();
    service.child.kill('SIGHUP');
    const restarted = await waitForLines(() => service.output().stdout, 4, 'glutamine-cds listening');
    await waitForLines(() => service.output().stdout, 1, 'rolling restart done');
    calling = false;
    await traffic;
    expect(new Set(restarted.map((l) => l.worker))).toEqual(new Set([1, 2, 3, 4]));
    expect(failures).toEqual([]);

    for (let i = 0; i < 10; i++) await call();
    service.child.kill('SIGTERM');
    const [code] = (await once(service.child, 'exit')) as [number];
    expect(code).toBe(0);
    // Every answered call's card is in the database: queued audit rows are written before exit.
    const audit = new DatabaseSync(db, { readOnly: true });
    const { n } = audit.prepare('SELECT count(*) AS n FROM cards').get() as { n: number };
    audit.close();
    expect(answered).toBeGreaterThan(30);
    expect(n).toBe(answered);
  }, 90_000);
});
