import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface ServiceProcess {
  child: ChildProcessWithoutNullStreams;
  output: () => { stdout: string; stderr: string };
  /** The port from the "listening" log line (PORT=0 picks a free one); rejects if it never comes. */
  listening: () => Promise<{ port: number; line: Record<string, unknown> }>;
}

/**
 * Runs the built service, `node dist/main.js`, as `npm start` does (test/build-dist.ts builds it
 * before the integration tests), with the given environment and, unless the environment names
 * one, its own audit database outside the repository.
 */
export function startService(env: Record<string, string>): ServiceProcess {
  const dbPath = join(mkdtempSync(join(tmpdir(), 'glutamine-db-')), 'audit.sqlite');
  const child = spawn(process.execPath, ['dist/main.js'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', CDS_DB_PATH: dbPath, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const output = () => ({ stdout, stderr });
  const listening = () =>
    new Promise<{ port: number; line: Record<string, unknown> }>((resolve, reject) => {
      const check = (): boolean => {
        const found = stdout.split('\n').find((l) => l.includes('glutamine-cds listening'));
        if (!found) return false;
        const line = JSON.parse(found) as Record<string, unknown>;
        resolve({ port: Number(line.port), line });
        return true;
      };
      if (check()) return;
      const timer = setTimeout(() => {
        reject(new Error(`not listening: ${JSON.stringify(output())}`));
      }, 15000);
      child.stdout.on('data', () => {
        if (check()) clearTimeout(timer);
      });
    });
  return { child, output, listening };
}
