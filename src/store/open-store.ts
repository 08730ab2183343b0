import type { AuditStore } from './audit-store.js';
import { PostgresAuditStore } from './postgres-store.js';
import type { ReplayGuard } from './replay-guard.js';
import { SqliteAuditStore } from './sqlite-store.js';

export interface StoreLocation {
  /** SQLite file, used when there is no databaseUrl. */
  dbPath: string;
  /** PostgreSQL, shared by replicas. */
  databaseUrl?: string;
}

export interface OpenOptions {
  /** Connection attempts before giving up (PostgreSQL only); the wait doubles from firstDelayMs. */
  attempts: number;
  firstDelayMs: number;
  /** Told before each wait, for the log. */
  onRetry: (attempt: number, error: Error, waitMs: number) => void;
}

export const DEFAULT_OPEN_OPTIONS: Omit<OpenOptions, 'onRetry'> = { attempts: 6, firstDelayMs: 500 };

/** Where a PostgreSQL URL points, without its credentials: for messages and logs. */
export function describeDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '5432'}${parsed.pathname}`;
  } catch {
    return 'the configured PostgreSQL';
  }
}

/**
 * The configured store: PostgreSQL when a URL is given — retried with backoff while it does not
 * answer (a database starting with the replicas), then an error naming it — else SQLite.
 */
export async function openAuditStore(location: StoreLocation, options: OpenOptions): Promise<AuditStore & ReplayGuard> {
  if (location.databaseUrl === undefined) return new SqliteAuditStore(location.dbPath);
  let waitMs = options.firstDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await PostgresAuditStore.open(location.databaseUrl);
    } catch (error) {
      if (attempt >= options.attempts) {
        throw new Error(`PostgreSQL at ${describeDatabaseUrl(location.databaseUrl)} did not answer after ${attempt} attempts: ${(error as Error).message}`);
      }
      options.onRetry(attempt, error as Error, waitMs);
      await new Promise((resolve) => setTimeout(resolve, waitMs));
      waitMs *= 2;
    }
  }
}
