/**
 * Builds cards/valuesets/*.json from the vendored terminology sources.
 *
 *   npm run valuesets                 # write cards/valuesets/
 *   npm run valuesets -- --check      # exit 1 if the committed files differ from what would be built
 *   npm run valuesets -- --source ../shared/terminology
 *
 * Every code is looked up in the source its definition cites; a code that is not there stops the build.
 */
import { readFileSync, readdirSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ValueSet, ValueSetComposeInclude, ValueSetExpansionContains } from 'fhir/r4';
import { SYSTEMS, VALUE_SET_DEFINITIONS } from './valueset-definitions.js';
import type { CodeListInclude, Include, ValueSetDefinition, VsacInclude } from './valueset-definitions.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
/** Fixed so that regenerating unchanged sources yields byte-identical files. */
const EXPANSION_TIMESTAMP = '2026-11-26T00:00:00Z';
export const VALUE_SET_URL_BASE = 'urn:glutamine-cds:valueset:';

interface Sources {
  vsac: Map<string, ValueSet>;
  codesMd: string;
  clinicalSpec: string;
}

export function loadSources(terminologyDir: string, clinicalSpecPath: string): Sources {
  const vsacDir = join(terminologyDir, 'vsac');
  const vsac = new Map<string, ValueSet>();
  for (const file of readdirSync(vsacDir).filter((f) => f.endsWith('.json'))) {
    const vs = JSON.parse(readFileSync(join(vsacDir, file), 'utf8')) as ValueSet;
    if (vs.id) vsac.set(vs.id, vs);
  }
  return {
    vsac,
    codesMd: readFileSync(join(terminologyDir, 'codes.md'), 'utf8'),
    clinicalSpec: readFileSync(clinicalSpecPath, 'utf8'),
  };
}

function matches(code: string, patterns: string[]): boolean {
  return patterns.some((p) => (p.endsWith('*') ? code.startsWith(p.slice(0, -1)) : code === p));
}

function fromVsac(include: VsacInclude, sources: Sources, where: string): { contains: ValueSetExpansionContains[]; compose: ValueSetComposeInclude[]; cite: string } {
  const vs = sources.vsac.get(include.vsac);
  if (!vs) throw new Error(`${where}: VSAC value set ${include.vsac} is not in terminology/vsac`);
  const all = vs.expansion?.contains ?? [];
  const picked = include.match ? all.filter((c) => c.code !== undefined && matches(c.code, include.match ?? [])) : all;
  for (const pattern of include.match ?? []) {
    if (!all.some((c) => c.code !== undefined && matches(c.code, [pattern]))) {
      throw new Error(`${where}: pattern ${pattern} matches nothing in VSAC ${include.vsac}`);
    }
  }
  const canonical = `${vs.url ?? ''}|${vs.version ?? ''}`;
  const contains = picked.map((c) => ({ system: c.system, code: c.code, display: c.display }));
  const compose: ValueSetComposeInclude[] = include.match
    ? [...new Set(picked.map((c) => c.system ?? ''))].map((system) => ({
        system,
        valueSet: [canonical],
        concept: picked.filter((c) => c.system === system).map((c) => ({ code: c.code ?? '' })),
      }))
    : [{ valueSet: [canonical] }];
  const cite = `VSAC "${vs.title ?? vs.name ?? include.vsac}" (OID ${include.vsac}, version ${vs.version ?? '?'})${include.match ? ` — only ${include.match.join(', ')}` : ''}`;
  return { contains, compose, cite };
}

/** Finds the display of `code` in a codes.md table row whose first (or, for product tables, second) cell is the code. */
function displayFromCodesMd(codesMd: string, code: string): string | undefined {
  for (const line of codesMd.split('\n')) {
    if (!line.startsWith('|')) continue;
    const cells = line.split('|').slice(1, -1).map((c) => c.replaceAll('**', '').trim());
    const at = cells.findIndex((cell, i) => i < 2 && cell === code);
    const display = at >= 0 ? cells[at + 1] : undefined;
    if (display) return display.split(' [')[0]?.split(' — ')[0]?.trim();
  }
  return undefined;
}

function containsToken(text: string, code: string): boolean {
  const escaped = code.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^0-9A-Za-z.-])${escaped}($|[^0-9A-Za-z-])`).test(text);
}

function fromCodeList(include: CodeListInclude, sources: Sources, where: string): { contains: ValueSetExpansionContains[]; compose: ValueSetComposeInclude[]; cite: string } {
  const system = SYSTEMS[include.system];
  const text = include.from === 'codes.md' ? sources.codesMd : sources.clinicalSpec;
  const contains = include.codes.map((entry) => {
    const code = typeof entry === 'string' ? entry : entry.code;
    if (!containsToken(text, code)) throw new Error(`${where}: code ${code} is not in ${include.from}`);
    const display = typeof entry === 'string' ? displayFromCodesMd(sources.codesMd, code) : entry.display;
    if (!display) throw new Error(`${where}: no single-code row for ${code} in codes.md; give its display explicitly`);
    return { system, code, display };
  });
  const compose = [{ system, concept: contains.map(({ code, display }) => ({ code, display })) }];
  const cite = `${include.from === 'codes.md' ? 'terminology/codes.md' : 'docs/clinical-spec.md'} (${include.system})${include.note ? ` — ${include.note}` : ''}`;
  return { contains, compose, cite };
}

function isVsac(include: Include): include is VsacInclude {
  return 'vsac' in include;
}

export function buildValueSet(definition: ValueSetDefinition, sources: Sources): ValueSet {
  const seen = new Set<string>();
  const contains: ValueSetExpansionContains[] = [];
  const compose: ValueSetComposeInclude[] = [];
  const cites: string[] = [];
  definition.include.forEach((include, index) => {
    const where = `${definition.id} include[${index}]`;
    const part = isVsac(include) ? fromVsac(include, sources, where) : fromCodeList(include, sources, where);
    compose.push(...part.compose);
    cites.push(part.cite);
    for (const c of part.contains) {
      const key = `${c.system ?? ''}|${c.code ?? ''}`;
      if (seen.has(key)) continue;
      seen.add(key);
      contains.push(c);
    }
  });
  contains.sort((a, b) => (a.system ?? '').localeCompare(b.system ?? '') || (a.code ?? '').localeCompare(b.code ?? ''));
  return {
    resourceType: 'ValueSet',
    id: definition.id,
    url: `${VALUE_SET_URL_BASE}${definition.id}`,
    name: definition.id.replace(/(^|-)(\w)/g, (_m, _d: string, ch: string) => ch.toUpperCase()),
    title: definition.title,
    status: 'active',
    description: `${definition.description}\n\nGenerated by scripts/build-valuesets.ts from: ${cites.join('; ')}.`,
    compose: { include: compose },
    expansion: { timestamp: EXPANSION_TIMESTAMP, total: contains.length, contains },
  };
}

export function renderValueSets(sources: Sources): Map<string, string> {
  const files = new Map<string, string>();
  for (const definition of VALUE_SET_DEFINITIONS) {
    files.set(`${definition.id}.json`, `${JSON.stringify(buildValueSet(definition, sources), null, 2)}\n`);
  }
  return files;
}

function main(argv: string[]): void {
  const sourceArg = argv.indexOf('--source');
  const terminologyDir = resolve(sourceArg >= 0 && argv[sourceArg + 1] ? argv[sourceArg + 1] ?? '' : join(ROOT, 'terminology'));
  const outDir = join(ROOT, 'cards', 'valuesets');
  const files = renderValueSets(loadSources(terminologyDir, join(ROOT, 'docs', 'clinical-spec.md')));
  if (argv.includes('--check')) {
    const stale = [...files].filter(([name, text]) => !existsSync(join(outDir, name)) || readFileSync(join(outDir, name), 'utf8') !== text);
    if (stale.length > 0) {
      console.error(`out of date: ${stale.map(([n]) => n).join(', ')} — run npm run valuesets`);
      process.exit(1);
    }
    console.log(`${files.size} value sets up to date`);
    return;
  }
  mkdirSync(outDir, { recursive: true });
  for (const [name, text] of files) writeFileSync(join(outDir, name), text);
  for (const [name, text] of files) console.log(`${name}: ${(JSON.parse(text) as ValueSet).expansion?.total ?? 0} codes`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2));
}
