import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** docs/architecture.md's table of who may import whom, against the imports src/ really has. */

interface Unit {
  name: string;
  /** Files (`src/main.ts`) and folders (`src/http/`) of the unit. */
  paths: string[];
  mayImport: Set<string>;
}

function documentedUnits(): Unit[] {
  const doc = readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8');
  const table = doc.slice(doc.indexOf('| unit | files | may import |'));
  return table
    .split('\n')
    .slice(2)
    .filter((line) => line.startsWith('|'))
    .map((line) => {
      const [name = '', files = '', allowed = ''] = line
        .split('|')
        .slice(1, 4)
        .map((cell) => cell.trim());
      return {
        name,
        paths: [...files.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? ''),
        mayImport: new Set(allowed === '—' ? [] : allowed.split(',').map((u) => u.trim())),
      };
    });
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

/** The relative imports of a file, as repository paths of the imported .ts files. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^(?:import|export)[^'"]*?from\s+'(\.{1,2}\/[^']+)'|^import\s+'(\.{1,2}\/[^']+)'/gm)].map((m) => {
    const target = m[1] ?? m[2] ?? '';
    return relative(ROOT, resolve(dirname(file), target.replace(/\.js$/, '.ts')));
  });
}

describe('docs/architecture.md matches the import graph', () => {
  const units = documentedUnits();
  const unitOf = (path: string): Unit | undefined => units.find((u) => u.paths.some((p) => (p.endsWith('/') ? path.startsWith(p) : path === p)));

  it('the table names every file of src/ exactly once', () => {
    expect(units.map((u) => u.name)).toEqual(['composition', 'config', 'http', 'cli', 'auth', 'cds', 'rules', 'fhir', 'store', 'errors', 'logger']);
    for (const file of sourceFiles(join(ROOT, 'src'))) {
      const path = relative(ROOT, file);
      expect(
        units.filter((u) => u.paths.some((p) => (p.endsWith('/') ? path.startsWith(p) : path === p))).map((u) => u.name),
        path,
      ).toHaveLength(1);
    }
  });

  it('every import between units is one the table allows', () => {
    const violations: string[] = [];
    let crossings = 0;
    for (const file of sourceFiles(join(ROOT, 'src'))) {
      const from = unitOf(relative(ROOT, file));
      for (const target of importsOf(file)) {
        const to = unitOf(target);
        if (!from || !to || from === to) continue;
        crossings += 1;
        if (!from.mayImport.has(to.name)) violations.push(`${relative(ROOT, file)} (${from.name}) imports ${target} (${to.name})`);
      }
    }
    expect(violations).toEqual([]);
    // The check saw the graph: the service's units import each other hundreds of times.
    expect(crossings).toBeGreaterThan(100);
  });
});
