import { wholeWordMatcher } from '../fhir/codings.js';
import type { RuleDefinition } from './catalogue-schema.js';
import { isNegatedFinding } from './conditions.js';
import { labHit, matchConditions, matchCriterion } from './criteria.js';
import { formatLabValue } from './lab-format.js';
import type { DataGap, Evidence, Finding, GapCause } from './evidence.js';
import { evidenceKey } from './evidence.js';
import type { GlutamineOrder } from './glutamine-orders.js';
import type { DataRequirement } from './load-catalogue.js';
import type { DataStatus } from './patient-record.js';
import { RequestData } from './request-data.js';
import type { RequestInput } from './request-data.js';

export type EvaluationInput = RequestInput;

export interface Evaluation {
  findings: Finding[];
  gaps: DataGap[];
}

/** One finding per rule per order: the most urgent tier that matched, with the evidence of every tier. */
function evaluateRule(rule: RuleDefinition, order: GlutamineOrder, data: RequestData): Finding | undefined {
  let fired: { tier: number; criterion: number } | undefined;
  const evidence = new Map<string, Evidence>();
  rule.tiers.forEach((tier, t) => {
    if (typeof tier.when === 'string') return;
    tier.when.forEach((criterion, c) => {
      const found = matchCriterion(criterion, order, data);
      if (found.length > 0) fired ??= { tier: t, criterion: c };
      for (const e of found) evidence.set(evidenceKey(e), e);
    });
  });
  const tier = fired ? rule.tiers[fired.tier] : undefined;
  if (!fired || !tier) return undefined;
  const named = tier.textIfConditionNamed;
  const text = named && hasConditionNamed(named.names, data) ? { text: { reason: named.reason, advice: named.advice } } : {};
  return {
    ruleId: rule.id,
    indicator: tier.indicator,
    tier: fired.tier,
    criterion: fired.criterion,
    orderReference: order.reference ?? order.name,
    evidence: [...evidence.values()],
    ...text,
  };
}

const nameMatchers = new Map<string, (text: string) => boolean>();

/** Whether a counting condition names one of these (lactulose is then expected treatment, item 23). */
function hasConditionNamed(names: readonly string[], data: RequestData): boolean {
  const key = names.join('|');
  let matches = nameMatchers.get(key);
  if (!matches) {
    matches = wholeWordMatcher(names);
    nameMatchers.set(key, matches);
  }
  const matcher = matches;
  return data.countingConditions().some((c) => data.textsOf(c.code).some((t) => matcher(t) && !isNegatedFinding(t)));
}

function rulesWhere(input: RequestInput, test: (rule: RuleDefinition) => boolean): string[] {
  return input.catalogue.rules.filter(test).map((r) => r.id);
}

function usesCriterion(rule: RuleDefinition, test: (criterion: Exclude<RuleDefinition['tiers'][number]['when'], string>[number]) => boolean): boolean {
  return rule.tiers.some((t) => typeof t.when !== 'string' && t.when.some(test));
}

/**
 * Whether a missing requirement cost nothing, so reporting it would only add noise: an input for
 * calculating an analyte that was reported anyway (creatinine for eGFR), or a body
 * weight that only matters for sickle cell disease, which the patient does not have.
 */
function notNeededAfterAll(requirement: DataRequirement, input: RequestInput, data: RequestData): boolean {
  const criteria = input.catalogue.rules.flatMap((rule) => rule.tiers.flatMap((t) => (typeof t.when === 'string' ? [] : t.when)));
  const bands = criteria.flatMap((c) =>
    'singleDoseWeightBand' in c && c.singleDoseWeightBand.weightAnalyte === requirement.analyte ? [c.singleDoseWeightBand] : [],
  );
  const readAsLab = criteria.some((c) => 'lab' in c && c.lab.analyte === requirement.analyte);
  if (bands.length > 0 && !readAsLab) return bands.every((band) => matchConditions(band.condition, data).length === 0);
  const derived = [...input.catalogue.analytes.values()].filter((a) => a.derivedFrom !== undefined && a.derivedFrom.analyte === requirement.analyte);
  const usedDirectly = input.catalogue.rules.some((rule) =>
    usesCriterion(
      rule,
      (c) =>
        ('lab' in c && c.lab.analyte === requirement.analyte) || ('singleDoseWeightBand' in c && c.singleDoseWeightBand.weightAnalyte === requirement.analyte),
    ),
  );
  return (
    derived.length > 0 &&
    !usedDirectly &&
    derived.every((a) => {
      const reading = data.latestLab(a).reading;
      return reading !== undefined && reading.calculatedFrom === undefined;
    })
  );
}

/**
 * A preliminary (or registered) result newer than the deciding one that would fire a tier: it is not
 * final, so it does not decide, but the clinician is told (clinical-spec revision 2, item 14).
 */
function pendingLabGaps(input: RequestInput, data: RequestData): DataGap[] {
  const gaps: DataGap[] = [];
  for (const analyte of input.catalogue.analytes.values()) {
    const pending = data.latestLab(analyte).pending;
    if (!pending?.measured) continue;
    const rules = rulesWhere(input, (rule) =>
      rule.tiers.some(
        (t) => typeof t.when !== 'string' && t.when.some((c) => 'lab' in c && c.lab.analyte === analyte.id && labHit(c.lab, pending, analyte).length > 0),
      ),
    );
    if (rules.length === 0) continue;
    const value = `${formatLabValue(pending.measured, analyte)} ${analyte.unit}`;
    gaps.push({
      key: 'pending-lab',
      cause: 'not-final',
      description: `a ${pending.status} ${analyte.label.toLowerCase()} of ${value}${pending.date ? ` on ${pending.date}` : ''} (not final)`,
      rules,
    });
  }
  return gaps;
}

/**
 * Sickle cell disease and no body weight in the window: the weight-band dose was not checked
 * (clinical-spec revision 2, item 12) — unless the weight data itself is already reported missing.
 */
function weightBandGaps(input: RequestInput, data: RequestData, reported: readonly DataGap[]): DataGap[] {
  const gaps: DataGap[] = [];
  for (const rule of input.catalogue.rules) {
    for (const tier of rule.tiers) {
      if (typeof tier.when === 'string') continue;
      for (const criterion of tier.when) {
        if (!('singleDoseWeightBand' in criterion)) continue;
        const band = criterion.singleDoseWeightBand;
        const weightKeys = input.catalogue.data.filter((r) => r.analyte === band.weightAnalyte).map((r) => r.key);
        if (reported.some((g) => weightKeys.includes(g.key)) || gaps.length > 0) continue;
        if (matchConditions(band.condition, data).length === 0 || data.latestValue(band.weightAnalyte) !== undefined) continue;
        const label = input.catalogue.analytes.get(band.weightAnalyte)?.label.toLowerCase() ?? band.weightAnalyte;
        gaps.push({ key: 'weight-band', cause: 'not-on-file', description: `${label} not on file: weight-band dose not checked`, rules: [rule.id] });
      }
    }
  }
  return gaps;
}

function causeOf(status: DataStatus): GapCause {
  if (status.state !== 'unavailable' && status.state !== 'partial') return 'unavailable';
  return status.cause === 'timeout' ? 'timeout' : status.cause === 'budget' ? 'budget' : 'unavailable';
}

/** Requirements that are one kind of data, read from different resources. */
const SAME_KIND: Readonly<Record<string, string>> = { MedicationRequest: 'medications', MedicationStatement: 'medications' };

/**
 * A data source the FHIR server does not support is no gap when another source of the same kind was
 * read: many EHRs do not search MedicationStatement, but their MedicationRequests say what is
 * current (clinical-spec revision 2, item 20).
 */
function replacedBySameKind(requirement: DataRequirement, status: DataStatus, input: RequestInput): boolean {
  const kind = SAME_KIND[requirement.resourceType];
  if (status.state !== 'unavailable' || status.cause !== 'unsupported' || kind === undefined) return false;
  return input.catalogue.data.some((other) => {
    if (other === requirement || SAME_KIND[other.resourceType] !== kind) return false;
    const state = input.record.status.get(other.key)?.state;
    return state === 'available' || state === 'empty';
  });
}

/** What could not be checked: data not obtained, lab units not convertible, eGFR not calculable, Medications not resolvable. */
function findGaps(input: RequestInput, data: RequestData): DataGap[] {
  const { catalogue, record } = input;
  const gaps: DataGap[] = [];
  for (const requirement of catalogue.data) {
    const status = record.status.get(requirement.key);
    if (!status || status.state === 'available' || status.state === 'empty') continue;
    // Demographics only matter to a calculation; when one needed them, its own line says so (item 19).
    if (requirement.resourceType === 'Patient') continue;
    if (notNeededAfterAll(requirement, input, data) || replacedBySameKind(requirement, status, input)) continue;
    const rules = rulesWhere(input, (rule) => catalogue.ruleRequirements.get(rule.id)?.includes(requirement) ?? false);
    if (rules.length === 0) continue;
    gaps.push({ key: requirement.key, cause: causeOf(status), description: `${requirement.label}: ${status.reason}`, rules });
  }
  for (const analyte of catalogue.analytes.values()) {
    const rules = rulesWhere(input, (rule) => catalogue.ruleRequirements.get(rule.id)?.some((r) => r.analyte === analyte.id) ?? false);
    if (rules.length === 0) continue;
    for (const lab of data.latestLab(analyte).unreadable) {
      const unit = lab.unit ? `'${lab.unit}'` : 'no unit';
      gaps.push({
        key: 'lab-unit',
        cause: 'unreadable-unit',
        description: `${lab.label}${lab.date ? ` of ${lab.date}` : ''}: ${unit} cannot be converted to ${analyte.unit}, so the result was not used`,
        rules,
      });
    }
  }
  gaps.push(...weightBandGaps(input, data, gaps), ...pendingLabGaps(input, data));
  for (const problem of data.derivationProblems) {
    const rules = rulesWhere(input, (rule) => usesCriterion(rule, (c) => 'lab' in c && c.lab.analyte === problem.analyte));
    gaps.push({ key: 'derived-lab', cause: 'not-calculated', description: problem.reason, rules });
  }
  const medicationRules = rulesWhere(input, (rule) => usesCriterion(rule, (c) => 'medication' in c));
  if (medicationRules.length > 0) {
    const unresolved = new Set<string>();
    for (const order of input.orders) {
      for (const medication of data.medicationsBesides(order)) {
        if (medication.product.unresolvedReference && medication.product.texts.length === 0) unresolved.add(medication.product.unresolvedReference);
      }
    }
    // Named one by one while few; many are one line, so a card never grows with the attacker's list.
    if (unresolved.size > MAX_NAMED_REFERENCES) {
      gaps.push({
        key: 'medication-reference',
        cause: 'unresolved-medication',
        description: `${unresolved.size} medications refer to a Medication that was not provided or could not be read, so their products are unknown`,
        rules: medicationRules,
      });
    } else {
      for (const reference of unresolved) {
        gaps.push({
          key: 'medication-reference',
          cause: 'unresolved-medication',
          description: `a medication refers to ${reference}, which was not provided, so its product is unknown`,
          rules: medicationRules,
        });
      }
    }
  }
  return withoutRepeats(gaps);
}

/** One line per missing item (revision 2, item 17): the same result under several keys is one gap. */
function withoutRepeats(gaps: readonly DataGap[]): DataGap[] {
  const seen = new Map<string, DataGap>();
  for (const gap of gaps) {
    const earlier = seen.get(gap.description);
    if (earlier) earlier.rules = [...new Set([...earlier.rules, ...gap.rules])];
    else seen.set(gap.description, { ...gap, rules: [...gap.rules] });
  }
  return [...seen.values()];
}

/** Unresolved Medication references named one by one up to this many. */
const MAX_NAMED_REFERENCES = 5;

/** Runs every rule against every glutamine order. Pure: same input, same output. */
export function evaluate(input: EvaluationInput): Evaluation {
  const data = new RequestData(input);
  const findings: Finding[] = [];
  for (const order of input.orders) {
    for (const rule of input.catalogue.rules) {
      const finding = evaluateRule(rule, order, data);
      if (finding) findings.push(finding);
    }
  }
  return { findings, gaps: findGaps(input, data) };
}
