/**
 * Builds cards/valuesets/*.json from the vendored terminology sources.
 *
 *   npm run valuesets                 # write cards/valuesets/
 *   npm run valuesets -- --check      # exit 1 if the committed files differ from what would be built
 *   npm run valuesets -- --source <folder>  # another copy of terminology/ (codes.md and vsac/)
 *
 * Every code is looked up in the source its definition cites; a code that is not there stops the build.
 */
import { readFileSync, readdirSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ValueSet, ValueSetComposeInclude, ValueSetExpansionContains } from 'fhir/r4';
import { SYSTEMS, VALUE_SET_DEFINITIONS } from './valueset-definitions.js';
import type { CodeListInclude, Icd10DescendantsInclude, Include, ValueSetDefinition, VsacInclude } from './valueset-definitions.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
/** Fixed so that regenerating unchanged sources yields byte-identical files. */
const EXPANSION_TIMESTAMP = '2026-11-26T00:00:00Z';
export const VALUE_SET_URL_BASE = 'urn:glutamine-cds:valueset:';

/** What one include contributes: expansion codes, compose include (and exclude) entries, a citation. */
interface Part {
  contains: ValueSetExpansionContains[];
  compose: ValueSetComposeInclude[];
  exclude?: ValueSetComposeInclude[];
  cite: string;
}

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

function fromVsac(include: VsacInclude, sources: Sources, where: string): Part {
  const vs = sources.vsac.get(include.vsac);
  if (!vs) throw new Error(`${where}: VSAC value set ${include.vsac} is not in terminology/vsac`);
  const all = vs.expansion?.contains ?? [];
  const excludedDisplay = (include.excludeDisplay ?? []).map((p) => new RegExp(p, 'i'));
  const excluded = (c: ValueSetExpansionContains): boolean =>
    (c.code !== undefined && matches(c.code, include.exclude ?? [])) || excludedDisplay.some((re) => re.test(c.display ?? ''));
  const selected = include.match ? all.filter((c) => c.code !== undefined && matches(c.code, include.match ?? [])) : all;
  const picked = selected.filter((c) => !excluded(c));
  for (const [i, re] of excludedDisplay.entries()) {
    if (!all.some((c) => re.test(c.display ?? ''))) throw new Error(`${where}: excludeDisplay[${i}] matches nothing in VSAC ${include.vsac}`);
  }
  for (const pattern of include.match ?? []) {
    if (!all.some((c) => c.code !== undefined && matches(c.code, [pattern]))) {
      throw new Error(`${where}: pattern ${pattern} matches nothing in VSAC ${include.vsac}`);
    }
  }
  const canonical = `${vs.url ?? ''}|${vs.version ?? ''}`;
  const contains = picked.map((c) => ({ system: c.system, code: c.code, display: c.display }));
  const bySystem = (concepts: ValueSetExpansionContains[], valueSet?: string[]): ValueSetComposeInclude[] =>
    [...new Set(concepts.map((c) => c.system ?? ''))].map((system) => ({
      system,
      ...(valueSet ? { valueSet } : {}),
      concept: concepts.filter((c) => c.system === system).map((c) => ({ code: c.code ?? '' })),
    }));
  // A `match` subset is the intersection of the VSAC set with the listed codes; exclusions are compose.exclude.
  const compose = include.match ? bySystem(picked, [canonical]) : [{ valueSet: [canonical] }];
  const droppedConcepts = selected.filter(excluded);
  const only = include.match ? ` — only ${include.match.join(', ')}` : '';
  const dropped = selected.length - picked.length;
  const rules = [...(include.exclude ?? []), ...(include.excludeDisplay ?? []).map((p) => `display /${p}/`)];
  const without = dropped > 0 ? ` — without ${dropped} concepts matching ${rules.join(', ')}` : '';
  const cite = `VSAC "${vs.title ?? vs.name ?? include.vsac}" (OID ${include.vsac}, version ${vs.version ?? '?'})${only}${without}`;
  return { contains, compose, ...(droppedConcepts.length > 0 ? { exclude: bySystem(droppedConcepts) } : {}), cite };
}

/** Finds the display of `code` in a codes.md table row whose first (or, for product tables, second) cell is the code. */
function displayFromCodesMd(codesMd: string, code: string): string | undefined {
  for (const line of codesMd.split('\n')) {
    if (!line.startsWith('|')) continue;
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((c) => c.replaceAll('**', '').trim());
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

function fromCodeList(include: CodeListInclude, sources: Sources, where: string): Part {
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

function fromIcd10Descendants(include: Icd10DescendantsInclude, sources: Sources, where: string): Part {
  for (const code of include.icd10cmDescendantsOf) {
    if (!containsToken(sources.clinicalSpec, code)) throw new Error(`${where}: code ${code} is not in ${include.from}`);
  }
  return {
    contains: [],
    compose: [{ system: SYSTEMS.icd10cm, filter: include.icd10cmDescendantsOf.map((value) => ({ property: 'concept', op: 'is-a' as const, value })) }],
    cite: `docs/clinical-spec.md (ICD-10-CM ${include.icd10cmDescendantsOf.map((c) => `${c} and below`).join(', ')})`,
  };
}

function partOf(include: Include, sources: Sources, where: string): Part {
  if ('vsac' in include) return fromVsac(include, sources, where);
  if ('icd10cmDescendantsOf' in include) return fromIcd10Descendants(include, sources, where);
  return fromCodeList(include, sources, where);
}

export function buildValueSet(definition: ValueSetDefinition, sources: Sources): ValueSet {
  const seen = new Set<string>();
  const contains: ValueSetExpansionContains[] = [];
  const compose: ValueSetComposeInclude[] = [];
  const exclude: ValueSetComposeInclude[] = [];
  const cites: string[] = [];
  definition.include.forEach((include, index) => {
    const where = `${definition.id} include[${index}]`;
    const part = partOf(include, sources, where);
    compose.push(...part.compose);
    exclude.push(...(part.exclude ?? []));
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
    description: `${definition.description}\n\nGenerated by scripts/build-valuesets.ts ${cites.length > 0 ? `from: ${cites.join('; ')}` : 'with no codes: its members are the names in cards/value-set-names.json'}.`,
    compose: { include: compose, ...(exclude.length > 0 ? { exclude } : {}) },
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

/**
 * How the committed folder differs from what the generator builds: files whose text differs (or are
 * missing), and files the generator does not produce (stale, or written by hand).
 */
export function valueSetDrift(outDir: string, files: ReadonlyMap<string, string>): { stale: string[]; extra: string[] } {
  const present = new Set(readdirSync(outDir));
  const stale = [...files].filter(([name, text]) => !present.has(name) || readFileSync(join(outDir, name), 'utf8') !== text).map(([name]) => name);
  const extra = [...present].filter((name) => !files.has(name)).sort();
  return { stale, extra };
}

/** Writes the generated files and removes any other file in the folder; returns the removed names. */
export function writeValueSets(outDir: string, files: ReadonlyMap<string, string>): string[] {
  mkdirSync(outDir, { recursive: true });
  const { extra } = valueSetDrift(outDir, files);
  for (const [name, text] of files) writeFileSync(join(outDir, name), text);
  // The folder holds only what is generated: a value set no longer defined goes with its file.
  for (const name of extra) rmSync(join(outDir, name), { recursive: true });
  return extra;
}

function main(argv: string[]): void {
  const sourceArg = argv.indexOf('--source');
  const terminologyDir = resolve(sourceArg >= 0 && argv[sourceArg + 1] ? (argv[sourceArg + 1] ?? '') : join(ROOT, 'terminology'));
  const outDir = join(ROOT, 'cards', 'valuesets');
  const files = renderValueSets(loadSources(terminologyDir, join(ROOT, 'docs', 'clinical-spec.md')));
  if (argv.includes('--check')) {
    const { stale, extra } = valueSetDrift(outDir, files);
    if (stale.length > 0 || extra.length > 0) {
      console.error(`out of date: ${[...stale, ...extra.map((n) => `${n} (not generated)`)].join(', ')} — run npm run valuesets`);
      process.exit(1);
    }
    console.log(`${files.size} value sets up to date`);
    return;
  }
  const removed = writeValueSets(outDir, files);
  for (const [name, text] of files) console.log(`${name}: ${(JSON.parse(text) as ValueSet).expansion?.total ?? 0} codes`);
  for (const name of removed) console.log(`${name}: removed (no longer generated)`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2));
}
