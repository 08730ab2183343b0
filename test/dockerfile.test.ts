import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * `docker build` cannot run where the tests run (no engine), so the Dockerfile is held to what can be
 * checked without one: its build stage does what .ci/run does, on the Node .nvmrc names, from files
 * that exist and that .dockerignore lets through, and the image carries no example trust.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');
const DOCKERFILE = read('Dockerfile');
const stages = DOCKERFILE.split(/^FROM /m).slice(1);
const [build = '', runtime = ''] = stages;
const instructions = (stage: string, name: string) => [...stage.matchAll(new RegExp(`^${name} (.+)$`, 'gm'))].map((m) => m[1] ?? '');

describe('Dockerfile', () => {
  it('has a build and a runtime stage, both on the Node major of .nvmrc', () => {
    const major = read('.nvmrc').trim().split('.')[0];
    expect(stages.map((s) => s.split('\n')[0])).toEqual([`node:${major}-bookworm-slim AS build`, `node:${major}-bookworm-slim AS runtime`]);
  });

  it('builds as .ci/run does: npm ci from the lock file with the project .npmrc, then npm run build', () => {
    const runs = instructions(build, 'RUN');
    expect(runs[0]).toBe('npm ci');
    expect(runs[1]).toMatch(/^npm run build && npm prune --omit=dev/);
    expect(instructions(build, 'COPY')[0]).toBe('package.json package-lock.json .npmrc ./');
    // .ci/run gets there through README's `npm ci && npm start`, whose prestart is that same build.
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    expect(pkg.scripts.prestart).toBe('npm run build');
  });

  it('copies only files that exist and that .dockerignore does not exclude', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .filter((l) => l && !l.startsWith('!'));
    const sources = stages
      .flatMap((s) => instructions(s, 'COPY'))
      .filter((c) => !c.startsWith('--from'))
      .flatMap((c) => c.split(' ').slice(0, -1));
    for (const source of sources) {
      expect(existsSync(join(ROOT, source)), source).toBe(true);
      expect(ignored, source).not.toContain(source);
    }
  });

  it('ships the compiled CLI and the fixtures the preview offers', () => {
    const copies = instructions(runtime, 'COPY');
    expect(copies).toEqual(
      expect.arrayContaining(['--from=build /app/dist ./dist', 'bin ./bin', 'fixtures ./fixtures', 'cards ./cards', 'package.json package-lock.json ./']),
    );
    expect(runtime).toMatch(/^RUN ln -s \/app\/bin\/glutamine-cds.mjs \/usr\/local\/bin\/glutamine-cds$/m);
  });

  it('does not put the example trusted clients file (it trusts the public Sandbox) in the image', () => {
    expect(DOCKERFILE).not.toMatch(/^COPY .*trusted-clients/m);
    expect(runtime).toMatch(/^USER node$/m);
  });
});
