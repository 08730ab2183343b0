import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { CatalogueError } from '../errors.js';
import type { RuleDefinition } from './catalogue-schema.js';
import { loadCatalogue } from './load-catalogue.js';

const CARDS = fileURLToPath(new URL('../../cards/', import.meta.url));
const copies: string[] = [];

/** A copy of cards/ with one JSON file changed by `edit` (T: the file's shape, for the editor's sake). */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
function cardsWith<T = Record<string, unknown>>(file: string, edit: (json: T) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'cards-'));
  copies.push(dir);
  cpSync(CARDS, dir, { recursive: true });
  const path = join(dir, file);
  const json = JSON.parse(readFileSync(path, 'utf8')) as T;
  edit(json);
  writeFileSync(path, JSON.stringify(json));
  return dir;
}

function loadError(dir: string): string {
  try {
    loadCatalogue(dir);
  } catch (error) {
    expect(error).toBeInstanceOf(CatalogueError);
    return (error as Error).message;
  }
  throw new Error('the catalogue loaded');
}

afterEach(() => {
  for (const dir of copies.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Index into a fixture array, failing the test loudly when the item is not there. */
function at<T>(items: T[], index: number): T {
  const item = items[index];
  if (item === undefined) throw new Error(`no item ${index}`);
  return item;
}

type Rule = RuleDefinition;
type Tier = Rule['tiers'][number];
function criterion(rule: Rule, tier: number): Exclude<Tier['when'], string>[number] {
  const when = at(rule.tiers, tier).when;
  if (typeof when === 'string') throw new Error('tier has no criteria');
  return at(when, 0);
}

describe('loadCatalogue', () => {
  it('loads the committed cards/', () => {
    const catalogue = loadCatalogue(CARDS);
    expect(catalogue.rules.map((r) => r.id)).toEqual([
      'liver-disease',
      'hyperammonemia',
      'kidney-disease',
      'active-cancer',
      'bipolar-disorder',
      'lactulose',
      'antiseizure-medication',
      'duplicate-glutamine',
      'dose-above-range',
      'duration-above-studied',
      'combination-product',
      'weight-loss-indication',
      'incomplete-data',
      'unreadable-order',
    ]);
    expect(catalogue.services.map((s) => s.id)).toEqual(['glutamine-order-select', 'glutamine-order-sign', 'glutamine-medication-verify']);
    expect(catalogue.valueSets.get('liver-disease-advanced')?.concepts.length).toBe(74);
  });

  it('names the file and field of a missing required field', () => {
    const dir = cardsWith<Rule>('rules/liver-disease.json', (j) => {
      Reflect.deleteProperty(at(j.tiers, 0), 'summary');
    });
    expect(loadError(dir)).toMatch(/^cards\/rules\/liver-disease\.json: tiers\.0\.summary: /);
  });

  it('refuses a summary of 140 characters or more', () => {
    const dir = cardsWith<Rule>('rules/lactulose.json', (j) => {
      at(j.tiers, 0).summary = 'x'.repeat(140);
    });
    expect(loadError(dir)).toBe('cards/rules/lactulose.json: tiers.0.summary: must be under 140 characters (CDS Hooks 2.0 card summary)');
  });

  it('names the field inside a criterion that has a typo', () => {
    const dir = cardsWith<Rule>('rules/kidney-disease.json', (j) => {
      const when = at(j.tiers, 0).when;
      const c = typeof when === 'string' ? undefined : at(when, 1);
      if (c && 'lab' in c) Reflect.set(c.lab, 'compare', 'under');
    });
    expect(loadError(dir)).toMatch(/^cards\/rules\/kidney-disease\.json: tiers\.0\.when\.1\.lab\.compare: /);
  });

  it('refuses an unknown indicator and an unknown field', () => {
    expect(loadError(cardsWith<Rule>('rules/lactulose.json', (j) => Reflect.set(at(j.tiers, 0), 'indicator', 'hard-stop')))).toMatch(/tiers\.0\.indicator/);
    expect(loadError(cardsWith<Rule>('rules/lactulose.json', (j) => Reflect.set(at(j.tiers, 0), 'summmary', 'typo')))).toMatch(
      /tiers\.0: Unrecognized key: "summmary"/,
    );
  });

  it('refuses a reference to a value set that does not exist', () => {
    const dir = cardsWith<Rule>('rules/liver-disease.json', (j) => {
      const c = criterion(j, 0);
      if ('condition' in c) c.condition.valueSet = 'liver-disease-advancd';
    });
    expect(loadError(dir)).toBe(
      "cards/rules/liver-disease.json: tiers.0.when.0: unknown value set 'liver-disease-advancd' (no cards/valuesets/liver-disease-advancd.json)",
    );
  });

  it('refuses tiers out of order of urgency', () => {
    const dir = cardsWith<Rule>('rules/kidney-disease.json', (j) => {
      j.tiers.reverse();
    });
    expect(loadError(dir)).toBe('cards/rules/kidney-disease.json: tiers.1.indicator: tiers must be listed from most to least urgent');
  });

  it('refuses a prefetch template with a token CDS Hooks 2.0 does not allow', () => {
    const dir = cardsWith<{ data: Array<{ template: string }> }>('services.json', (j) => {
      at(j.data, 1).template = 'Condition?patient={{context.patientId}}&encounter={{context.draftOrders.entry}}';
    });
    expect(loadError(dir)).toBe('cards/services.json: data.1.template: token {{context.draftOrders.entry}} is not a CDS Hooks 2.0 prefetch token');
  });

  it('refuses a rule file missing from the list, an unknown override reason and an unknown analyte', () => {
    expect(loadError(cardsWith<{ rules: string[] }>('catalogue.json', (j) => j.rules.push('no-such-rule')))).toBe(
      'cards/rules/no-such-rule.json: cannot be read',
    );
    expect(loadError(cardsWith<Rule>('rules/lactulose.json', (j) => j.overrideReasons.push('because')))).toBe(
      "cards/rules/lactulose.json: overrideReasons.3: unknown override reason 'because'",
    );
    const urea = cardsWith<Rule>('rules/hyperammonemia.json', (j) => {
      const c = criterion(j, 0);
      if ('lab' in c) c.lab.analyte = 'urea';
    });
    expect(loadError(urea)).toBe("cards/rules/hyperammonemia.json: tiers.0.when.0.lab.analyte: unknown analyte 'urea'");
  });

  it('refuses a value set file without codes, filters or names', () => {
    const dir = cardsWith<{ expansion: { contains: unknown[] } }>('valuesets/egfr-tests.json', (j) => {
      j.expansion.contains = [];
    });
    expect(loadError(dir)).toMatch(/^cards\/valuesets\/egfr-tests\.json: expansion\.contains: /);
  });

  it('refuses names for a value set that does not exist', () => {
    const dir = cardsWith<{ names: Record<string, string[]> }>('value-set-names.json', (j) => {
      j.names['no-such-set'] = ['x'];
    });
    expect(loadError(dir)).toBe("cards/value-set-names.json: names.no-such-set: unknown value set 'no-such-set' (no cards/valuesets/no-such-set.json)");
  });

  it('reports invalid JSON with the file name', () => {
    const dir = cardsWith('analytes.json', () => undefined);
    writeFileSync(join(dir, 'analytes.json'), '{ not json');
    expect(loadError(dir)).toMatch(/^cards\/analytes\.json: is not valid JSON/);
  });
});

describe('valueSetsNamedIn: the value sets a text may name', () => {
  const catalogue = loadCatalogue(CARDS);
  const valueSets = [...catalogue.valueSets.values()].filter((vs) => vs.names.length > 0 || vs.textOnlyNames.length > 0);
  const allNames = valueSets.flatMap((vs) => [...vs.names, ...vs.textOnlyNames]);
  // Names as written, upper-cased, cut short, and run into other words; noise and non-ASCII text between them.
  const piece = fc.oneof(
    fc.constantFrom(...allNames),
    fc.constantFrom(...allNames).map((n) => n.toUpperCase()),
    fc.constantFrom(...allNames).map((n) => n.slice(0, Math.ceil(n.length / 2))),
    fc.constantFrom(' ', ', ', '-', '(', 'no ', 'history of ', 'x', 'é', 'ſ', '2', 'disease'),
  );

  it('holds every value set whose names match the text', () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 6 }), (pieces) => {
        const text = pieces.join('');
        const named = catalogue.valueSetsNamedIn(text);
        for (const vs of valueSets) {
          if (vs.matchesName(text) || vs.matchesTextOnlyName(text)) expect(named.includes(vs.id), `${vs.id} in "${text}"`).toBe(true);
        }
      }),
      { seed: 11, numRuns: 4000 },
    );
  });

  it('holds none for text that names nothing, and only the value sets a name belongs to', () => {
    expect(catalogue.valueSetsNamedIn('Background medicine 3 10 MG Oral Tablet')).toEqual([]);
    expect(catalogue.valueSetsNamedIn('Keppra 500 mg')).toEqual(['antiseizure-medications']);
    // A value set once, however many of its names the text holds.
    expect(catalogue.valueSetsNamedIn('Keppra (levetiracetam) 500 mg, Keppra XR')).toEqual(['antiseizure-medications']);
  });
});
