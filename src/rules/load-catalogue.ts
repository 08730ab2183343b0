import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { z } from 'zod';
import { expandTemplate } from '../fhir/prefetch-template.js';
import { CodeIndex, asciiTokens, leadingToken, wholeWordMatcher } from '../fhir/codings.js';
import { CatalogueError } from '../errors.js';
import {
  analytesFileSchema,
  catalogueFileSchema,
  criterionAnalyte,
  criterionValueSets,
  onCriterion,
  dosingSchema,
  ruleFileSchema,
  servicesFileSchema,
  valueSetFileSchema,
  valueSetNamesFileSchema,
} from './catalogue-schema.js';
import type { Analyte, Criterion, CriterionHandlers, Dosing, Indicator, RuleDefinition } from './catalogue-schema.js';

export interface LoadedValueSet {
  id: string;
  url: string;
  title: string;
  description?: string;
  codes: CodeIndex;
  concepts: Array<{ system: string; code: string; display?: string }>;
  /** Whole-word names that also count as members (cards/value-set-names.json). */
  names: string[];
  matchesName: (text: string) => boolean;
  /** Names that count only for a Condition coded by text alone (cards/value-set-names.json textOnlyNames). */
  textOnlyNames: string[];
  matchesTextOnlyName: (text: string) => boolean;
  /** ICD-10-CM codes whose descendants are all members (`is-a` filters). */
  descendantsOf: string[];
}

interface ServiceDefinition {
  id: string;
  hook: 'order-select' | 'order-sign' | 'medication-verify';
  hookVersion: string;
  title: string;
  description: string;
  usageRequirements?: string;
}

export interface DataRequirement {
  key: string;
  label: string;
  resourceType: 'Patient' | 'Condition' | 'Observation' | 'MedicationRequest' | 'MedicationStatement';
  analyte?: string;
  /** The prefetch template as discovery publishes it (macros expanded). */
  template: string;
}

/** Everything in cards/, validated and indexed: the service's knowledge. */
export interface Catalogue {
  ruleCodeSystem: string;
  overrideReasonSystem: string;
  sources: Record<string, { label: string; url?: string }>;
  overrideReasons: Record<string, string>;
  /** An older system's codes and names, for feedback that still sends them. */
  legacyOverrideReasons?: { system: string; reasons: Record<string, string> };
  glutamineOrder: { codes: CodeIndex; matchesName: (text: string) => boolean };
  /** Units, timing codes and product strengths for dose and duration arithmetic. */
  dosing: Dosing;
  /** The products whose tablet/capsule strength is known (cards/dosing.json productStrengths). */
  productStrengths: CodeIndex;
  removeOrderSuggestion: { label: string; actionDescription: string };
  signedOrderAdvice: string;
  counsellingLine: string;
  /** Rules whose findings are one card per order (cards/catalogue.json cardGroups). */
  cardGroups: Array<{ id: string; rules: string[] }>;
  /** The one card per order that carries all its info findings. */
  orderNotes: { code: string; display: string; summary: string };
  services: ServiceDefinition[];
  data: DataRequirement[];
  analytes: Map<string, Analyte>;
  valueSets: Map<string, LoadedValueSet>;
  /**
   * The value sets a text may name (by a name or text-only name): the others cannot match it, so
   * their patterns need not run. One pass over the text, asked once per text of a record.
   */
  valueSetsNamedIn: (text: string) => readonly string[];
  rules: RuleDefinition[];
  /** The version of cards/ (a content hash): glutamine_cds_build_info's rules_version. */
  version: string;
  /** The data requirements each rule depends on (by rule id), derived from its criteria. */
  ruleRequirements: Map<string, DataRequirement[]>;
}

/**
 * Which value sets a text may name, by the leading tokens of their names (codings.ts leadingToken:
 * a text holding a name as a whole word holds that token). Value sets with a name whose leading
 * token is not certain, and every value set with names for non-ASCII text, are always candidates.
 */
function nameIndex(valueSets: readonly LoadedValueSet[]): (text: string) => readonly string[] {
  const byToken = new Map<string, string[]>();
  const always = new Set<string>();
  const named = new Set<string>();
  for (const vs of valueSets) {
    for (const name of [...vs.names, ...vs.textOnlyNames]) {
      named.add(vs.id);
      const token = leadingToken(name);
      if (token === '') always.add(vs.id);
      else if (!byToken.get(token)?.includes(vs.id)) byToken.set(token, [...(byToken.get(token) ?? []), vs.id]);
    }
  }
  const alwaysIds = [...always];
  const namedIds = [...named];
  // Arrays, not Sets: most texts name nothing or one value set, and this runs once per text of a record.
  return (text) => {
    const tokens = asciiTokens(text);
    if (tokens === undefined) return namedIds;
    let found: string[] | undefined;
    for (const token of tokens) {
      const ids = byToken.get(token);
      if (!ids) continue;
      found ??= [...alwaysIds];
      for (const id of ids) if (!found.includes(id)) found.push(id);
    }
    return found ?? alwaysIds;
  };
}

type Need = (r: DataRequirement) => boolean;
const readsConditions: Need = (r) => r.resourceType === 'Condition';
const readsMedications: Need = (r) => r.resourceType === 'MedicationRequest' || r.resourceType === 'MedicationStatement';

/** Reading an analyte needs its own data and, for a derived one (eGFR from creatinine), its source and the patient's sex and age. */
function readsAnalyte(id: string, analytes: ReadonlyMap<string, Analyte>): Need[] {
  const derived = analytes.get(id)?.derivedFrom;
  return [
    (r) => r.analyte === id,
    ...(derived ? [(r: DataRequirement) => r.analyte === derived.analyte, (r: DataRequirement) => r.resourceType === 'Patient'] : []),
  ];
}

/** The patient data each kind of criterion reads; dose, duration, product and reason read only the order. */
const NEEDS: CriterionHandlers<[ReadonlyMap<string, Analyte>], Need[]> = {
  condition: () => [readsConditions],
  lab: (c, analytes) => readsAnalyte(c.lab.analyte, analytes),
  medication: () => [readsMedications],
  dailyDose: () => [],
  singleDoseWeightBand: (c, analytes) => [readsConditions, ...readsAnalyte(c.singleDoseWeightBand.weightAnalyte, analytes)],
  duration: () => [],
  product: () => [],
  orderReason: () => [],
};

/** The data requirements one criterion reads, its exemptions' included. */
function criterionNeeds(criterion: Criterion, analytes: ReadonlyMap<string, Analyte>): Need[] {
  const exemptions = criterion.unless?.some((e) => 'condition' in e) ? [readsConditions] : [];
  return [...onCriterion(criterion, NEEDS, analytes), ...exemptions];
}

/** The data requirements each rule depends on, derived from its criteria. */
function requirementsOf(rule: RuleDefinition, data: readonly DataRequirement[], analytes: Map<string, Analyte>): DataRequirement[] {
  const needs = rule.tiers.flatMap((tier) => (typeof tier.when === 'string' ? [] : tier.when.flatMap((c) => criterionNeeds(c, analytes))));
  return data.filter((requirement) => needs.some((need) => need(requirement)));
}

const INDICATOR_RANK: Record<Indicator, number> = { critical: 3, warning: 2, info: 1 };

function readJson(dir: string, file: string): unknown {
  const path = join(dir, file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new CatalogueError('unreadable', `cards/${file}: cannot be read`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new CatalogueError('not-json', `cards/${file}: is not valid JSON (${(error as Error).message})`);
  }
}

/**
 * Issues as "path: message". A failed union (a criterion is a condition, a lab or a medication)
 * reports the branch that got furthest, so an author sees `when.1.lab.compare`, not "Invalid input".
 */
function describeIssues(issues: readonly z.core.$ZodIssue[], prefix: PropertyKey[] = []): string[] {
  return issues.flatMap((issue) => {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      const depth = (branch: readonly z.core.$ZodIssue[]) => Math.max(...branch.map((i) => i.path.length));
      const best = [...issue.errors].sort((a, b) => depth(b) - depth(a))[0] ?? [];
      if (depth(best) > 0) return describeIssues(best, path);
    }
    return [`${path.map(String).join('.') || '(root)'}: ${issue.message}`];
  });
}

function parse<T extends z.ZodType>(schema: T, value: unknown, file: string): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw new CatalogueError('invalid', `cards/${file}: ${describeIssues(result.error.issues).join('; ')}`);
  return result.data;
}

function loadValueSet(dir: string, id: string, names: readonly string[], textOnlyNames: readonly string[]): LoadedValueSet {
  const file = `valuesets/${id}.json`;
  const vs = parse(valueSetFileSchema, readJson(dir, file), file);
  if (vs.id !== id) throw new CatalogueError('invalid', `cards/${file}: id '${vs.id}' does not match the file name`);
  const filters = (vs.compose?.include ?? []).some((i) => i.filter !== undefined);
  if (vs.expansion.contains.length === 0 && !filters && names.length === 0) {
    throw new CatalogueError(
      'invalid',
      `cards/${file}: expansion.contains: a value set needs codes, ICD-10-CM is-a filters, or names in cards/value-set-names.json`,
    );
  }
  return {
    id,
    url: vs.url,
    title: vs.title,
    ...(vs.description ? { description: vs.description } : {}),
    codes: new CodeIndex(
      vs.expansion.contains,
      (vs.compose?.include ?? []).flatMap((i) => (i.filter ?? []).map((f) => ({ system: i.system ?? '', code: f.value }))),
    ),
    concepts: vs.expansion.contains,
    names: [...names],
    matchesName: wholeWordMatcher(names),
    textOnlyNames: [...textOnlyNames],
    matchesTextOnlyName: wholeWordMatcher([...names, ...textOnlyNames]),
    descendantsOf: (vs.compose?.include ?? []).flatMap((i) => (i.filter ?? []).map((f) => f.value)),
  };
}

/** Loads and cross-checks cards/. Throws CatalogueError naming the file and field at the first bad file. */
export function loadCatalogue(dir: string): Catalogue {
  const catalogue = parse(catalogueFileSchema, readJson(dir, 'catalogue.json'), 'catalogue.json');
  const servicesFile = parse(servicesFileSchema, readJson(dir, 'services.json'), 'services.json');
  const analytesFile = parse(analytesFileSchema, readJson(dir, 'analytes.json'), 'analytes.json');
  const dosing = parse(dosingSchema, readJson(dir, 'dosing.json'), 'dosing.json');
  const namesFile = parse(valueSetNamesFileSchema, readJson(dir, 'value-set-names.json'), 'value-set-names.json');
  const valueSetNames = namesFile.names;

  const valueSets = new Map<string, LoadedValueSet>();
  const useValueSet = (id: string, where: string): LoadedValueSet => {
    const cached = valueSets.get(id);
    if (cached) return cached;
    try {
      const loaded = loadValueSet(dir, id, valueSetNames[id] ?? [], namesFile.textOnlyNames[id] ?? []);
      valueSets.set(id, loaded);
      return loaded;
    } catch (error) {
      if (error instanceof CatalogueError && error.code === 'unreadable') {
        throw new CatalogueError('invalid', `${where}: unknown value set '${id}' (no cards/valuesets/${id}.json)`);
      }
      throw error;
    }
  };

  for (const id of Object.keys(valueSetNames)) useValueSet(id, `cards/value-set-names.json: names.${id}`);
  for (const id of Object.keys(namesFile.textOnlyNames)) useValueSet(id, `cards/value-set-names.json: textOnlyNames.${id}`);
  const glutamineProducts = useValueSet(catalogue.glutamineOrder.valueSet, 'cards/catalogue.json: glutamineOrder.valueSet');
  const glutamineOrder = { codes: glutamineProducts.codes, matchesName: glutamineProducts.matchesName };

  const analytes = new Map<string, Analyte>();
  for (const [id, analyte] of Object.entries(analytesFile)) {
    useValueSet(analyte.valueSet, `cards/analytes.json: ${id}.valueSet`);
    analytes.set(id, { ...analyte, id });
  }
  for (const analyte of analytes.values()) {
    if (analyte.derivedFrom && !analytes.has(analyte.derivedFrom.analyte)) {
      throw new CatalogueError('invalid', `cards/analytes.json: ${analyte.id}.derivedFrom.analyte: unknown analyte '${analyte.derivedFrom.analyte}'`);
    }
  }

  const serviceIds = new Set<string>();
  for (const [i, service] of servicesFile.services.entries()) {
    if (serviceIds.has(service.id)) throw new CatalogueError('invalid', `cards/services.json: services.${i}.id: duplicate id '${service.id}'`);
    serviceIds.add(service.id);
  }

  const dataKeys = new Set<string>();
  const data: DataRequirement[] = servicesFile.data.map((entry, i) => {
    const where = `cards/services.json: data.${i}`;
    if (dataKeys.has(entry.key)) throw new CatalogueError('invalid', `${where}.key: duplicate key '${entry.key}'`);
    dataKeys.add(entry.key);
    if (entry.analyte !== undefined && !analytes.has(entry.analyte)) {
      throw new CatalogueError('invalid', `${where}.analyte: unknown analyte '${entry.analyte}'`);
    }
    if ((entry.resourceType === 'Observation') !== (entry.analyte !== undefined)) {
      throw new CatalogueError('invalid', `${where}.analyte: Observation data needs an analyte, and only Observation data may have one`);
    }
    const expanded = expandTemplate(entry.template, (id) => useValueSet(id, `${where}.template`).concepts);
    if ('problems' in expanded) throw new CatalogueError('invalid', `${where}.template: ${expanded.problems.join('; ')}`);
    return { ...entry, template: expanded.template };
  });

  const rules = catalogue.rules.map((ruleId) => {
    const file = `rules/${ruleId}.json`;
    const rule = parse(ruleFileSchema, readJson(dir, file), file);
    checkRule(rule, file, { catalogue, analytes, data, useValueSet });
    return rule;
  });

  const ruleIds = new Set(rules.map((r) => r.id));
  for (const [g, group] of catalogue.cardGroups.entries()) {
    for (const [i, ruleId] of group.rules.entries()) {
      if (!ruleIds.has(ruleId)) throw new CatalogueError('invalid', `cards/catalogue.json: cardGroups.${g}.rules.${i}: unknown rule '${ruleId}'`);
    }
  }

  return {
    ruleCodeSystem: catalogue.ruleCodeSystem,
    overrideReasonSystem: catalogue.overrideReasonSystem,
    sources: catalogue.sources,
    overrideReasons: catalogue.overrideReasons,
    ...(catalogue.legacyOverrideReasons ? { legacyOverrideReasons: catalogue.legacyOverrideReasons } : {}),
    glutamineOrder,
    dosing,
    productStrengths: new CodeIndex(dosing.productStrengths),
    removeOrderSuggestion: catalogue.removeOrderSuggestion,
    signedOrderAdvice: catalogue.signedOrderAdvice,
    counsellingLine: catalogue.counsellingLine,
    cardGroups: catalogue.cardGroups,
    orderNotes: catalogue.orderNotes,
    services: servicesFile.services,
    data,
    analytes,
    valueSets,
    valueSetsNamedIn: nameIndex([...valueSets.values()]),
    rules,
    ruleRequirements: new Map(rules.map((rule) => [rule.id, requirementsOf(rule, data, analytes)])),
    version: contentVersion(dir),
  };
}

/**
 * The version of the knowledge: the first 12 hex digits of a SHA-256 over every file of cards/ (path
 * and content, in path order). Any change to a rule, text or value set changes it; nothing to bump by hand.
 */
function contentVersion(dir: string): string {
  const hash = createHash('sha256');
  const files = readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split(sep).join('/'))
    .sort();
  for (const file of files)
    hash
      .update(file)
      .update('\0')
      .update(readFileSync(join(dir, file)))
      .update('\0');
  return hash.digest('hex').slice(0, 12);
}

function checkRule(
  rule: RuleDefinition,
  file: string,
  ctx: {
    catalogue: z.infer<typeof catalogueFileSchema>;
    analytes: Map<string, Analyte>;
    data: DataRequirement[];
    useValueSet: (id: string, where: string) => LoadedValueSet;
  },
): void {
  const where = `cards/${file}`;
  if (`rules/${rule.id}.json` !== file) throw new CatalogueError('invalid', `${where}: id: '${rule.id}' does not match the file name`);
  if (!(rule.source in ctx.catalogue.sources)) throw new CatalogueError('invalid', `${where}: source: unknown source '${rule.source}'`);
  for (const [i, reason] of rule.overrideReasons.entries()) {
    if (!(reason in ctx.catalogue.overrideReasons)) {
      throw new CatalogueError('invalid', `${where}: overrideReasons.${i}: unknown override reason '${reason}'`);
    }
  }
  rule.tiers.forEach((tier, t) => {
    const previous = rule.tiers[t - 1];
    if (previous && INDICATOR_RANK[previous.indicator] <= INDICATOR_RANK[tier.indicator]) {
      throw new CatalogueError('invalid', `${where}: tiers.${t}.indicator: tiers must be listed from most to least urgent`);
    }
    if (typeof tier.when === 'string') return;
    tier.when.forEach((criterion, c) => {
      const at = `${where}: tiers.${t}.when.${c}`;
      for (const vs of criterionValueSets(criterion)) ctx.useValueSet(vs, at);
      const analyte = criterionAnalyte(criterion);
      if (analyte && !ctx.analytes.has(analyte.id)) throw new CatalogueError('invalid', `${at}.${analyte.field}: unknown analyte '${analyte.id}'`);
      if ('lab' in criterion) {
        if (!ctx.data.some((d) => d.analyte === criterion.lab.analyte)) {
          throw new CatalogueError('invalid', `${at}.lab.analyte: no entry of cards/services.json data fetches '${criterion.lab.analyte}'`);
        }
        if (typeof criterion.lab.threshold !== 'number' && ctx.analytes.get(criterion.lab.analyte)?.defaultUpperLimit === undefined) {
          throw new CatalogueError('invalid', `${at}.lab.threshold: analyte '${criterion.lab.analyte}' has no defaultUpperLimit`);
        }
      }
    });
  });
}
