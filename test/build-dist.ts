import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Vitest global setup of the integration tests: `npm run build`, exactly as `npm start` runs it, so
 * the tests that start the service start the real dist/main.js of these sources.
 */
export default function buildDist(): void {
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: 'inherit' });
}
