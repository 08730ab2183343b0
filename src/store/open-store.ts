import { accessSync, constants, existsSync, statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
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
  if (location.databaseUrl === undefined) {
    try {
      return new SqliteAuditStore(location.dbPath);
    } catch (error) {
      throw new Error(sqliteOpenFailure(location.dbPath, error));
    }
  }
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

/** The nearest folder of a path that exists (where the database, or the folders to it, would be made). */
function nearestExisting(path: string): string {
  let folder = dirname(resolve(path));
  while (!existsSync(folder) && dirname(folder) !== folder) folder = dirname(folder);
  return folder;
}

/**
 * Why a SQLite database could not be opened, in terms an operator acts on: the user the service runs
 * as and the cause — EACCES (no permission), EROFS (read-only file system), ENOSPC (the disk is
 * full) — asking the file system when SQLite says only "unable to open database file".
 */
function sqliteOpenFailure(path: string, error: unknown): string {
  const who = typeof process.getuid === 'function' ? `uid ${String(process.getuid())}` : 'this user';
  const target = existsSync(path) ? resolve(path) : nearestExisting(path);
  const meaning: Record<string, string> = {
    EACCES: `${target} is not writable by ${who} (mount a volume it owns, or set CDS_DB_PATH)`,
    EPERM: `${target} does not let ${who} create files there (set CDS_DB_PATH to a writable volume)`,
    EROFS: `${target} is on a read-only file system (mount a writable volume, or set CDS_DB_PATH)`,
    ENOSPC: `the file system of ${target} is full`,
  };
  const explain = (code: string, otherwise: string): string => `${code}: ${meaning[code] ?? otherwise}`;
  const sqlite = (error as Error).message;
  // mkdir and the file system say why themselves; SQLite's own open error does not.
  const own = (error as NodeJS.ErrnoException).code;
  if (own !== undefined && !own.startsWith('ERR_')) return `running as ${who}, ${explain(own, sqlite)}`;
  try {
    accessSync(target, constants.R_OK | constants.W_OK);
  } catch (access) {
    const code = (access as NodeJS.ErrnoException).code ?? 'unknown';
    return `running as ${who}, ${explain(code, (access as Error).message)}; SQLite said: ${sqlite}`;
  }
  const space = statfsSync(target);
  // A real file system with no block left (pseudo file systems such as /proc have no blocks at all).
  if (space.blocks > 0 && space.bavail === 0) return `running as ${who}, ${explain('ENOSPC', '')}; SQLite said: ${sqlite}`;
  return `running as ${who}, ${sqlite}`;
}
