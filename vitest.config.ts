import { defineConfig } from 'vitest/config';

/**
 * Two projects: `unit` (the pure modules' tests beside them in src/, seconds) and `integration`
 * (test/: HTTP, processes, the built service, the browser). The integration project builds dist/
 * first, so the process tests run what `npm start` runs, never a stale build.
 */
export default defineConfig({
  test: {
    environment: 'node',
    projects: [
      { extends: true, test: { name: 'unit', include: ['src/**/*.test.ts'] } },
      { extends: true, test: { name: 'integration', include: ['test/**/*.test.ts'], globalSetup: ['test/build-dist.ts'] } },
    ],
  },
});
