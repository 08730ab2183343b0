import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hookResponseSchema } from '../src/cds/card-schema.js';
import { callHook } from '../src/cds/hook-call.js';
import { ServiceError } from '../src/errors.js';
import { allPaths } from './json-paths.js';
import type { JsonPath } from './json-paths.js';
import { FIXTURES_DIR, NOW, NO_OUTBOUND_FHIR_POLICY, PUBLIC_URL, sequentialIds, testCatalogue } from './helpers.js';

/**
 * Real EHR payloads are messy. Every scenario fixture is mutated many times (a random node replaced
 * by null, a number, a string, an empty or odd container, or removed) and the service must answer
 * with cards or a typed client error — never an unexpected exception (a 500).
 */

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const REPLACEMENTS: unknown[] = [null, 0, -1, 1e308, '', 'x', 'Patient/1', [], {}, [null], { a: 1 }, true, [[[]]], { resourceType: 'Bundle', entry: 5 }];

function mutate(root: unknown, path: JsonPath, replacement: unknown, remove: boolean): void {
  let node = root as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  if (remove && !Array.isArray(node)) Reflect.deleteProperty(node, last);
  else node[last] = structuredClone(replacement);
}

const dir = join(FIXTURES_DIR, 'scenarios');
const fixtures = readdirSync(dir).filter((f) => f.endsWith('.json') && !f.endsWith('.expected.json'));

describe('robustness against malformed FHIR content', () => {
  it.each(fixtures)('%s survives 60 random mutations', async (file) => {
    const original = JSON.parse(readFileSync(join(dir, file), 'utf8')) as unknown;
    const expected = JSON.parse(readFileSync(join(dir, file.replace('.json', '.expected.json')), 'utf8')) as { service: string };
    const seed = Array.from(file, (ch) => ch.charCodeAt(0)).reduce((h, c) => (h * 31 + c) >>> 0, 7);
    const random = mulberry32(seed);
    const paths = allPaths(original);
    for (let i = 0; i < 60; i++) {
      const body = structuredClone(original);
      const path = paths[Math.floor(random() * paths.length)] ?? [];
      const replacement = REPLACEMENTS[Math.floor(random() * REPLACEMENTS.length)];
      mutate(body, path, replacement, random() < 0.2);
      const where = `${file} at ${path.join('.')} = ${JSON.stringify(replacement)}`;
      try {
        const result = await callHook(expected.service, body, {
          catalogue: testCatalogue(),
          publicUrl: PUBLIC_URL,
          fhir: NO_OUTBOUND_FHIR_POLICY,
          now: () => NOW,
          newId: sequentialIds(),
        });
        expect(hookResponseSchema.safeParse(result.response).success, where).toBe(true);
      } catch (error) {
        expect(error, where).toBeInstanceOf(ServiceError);
        expect((error as ServiceError).status, where).toBeLessThan(500);
      }
    }
  });
});
