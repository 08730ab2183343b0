import { afterAll, beforeAll } from 'vitest';
import { startEmbeddedPostgres } from '../scripts/embedded-postgres.js';
import type { EmbeddedPostgresServer } from '../scripts/embedded-postgres.js';

/** One real PostgreSQL for a test file: started before its tests, removed after them. */
export function sharedPostgres(): () => EmbeddedPostgresServer {
  let server: EmbeddedPostgresServer | undefined;
  beforeAll(async () => {
    server = await startEmbeddedPostgres();
  }, 60_000);
  afterAll(async () => {
    await server?.dispose();
  });
  return () => {
    if (!server) throw new Error('PostgreSQL is not started yet');
    return server;
  };
}
