import { wholeWordMatcher } from '../fhir/codings.js';
import { formatNumber, isAbove, isBelow } from '../fhir/quantities.js';
import type { AnyResource } from '../fhir/tolerant.js';
import type { Analyte, Criterion, LabCriterion, RuleDefinition } from './catalogue-schema.js';
import { findConditions } from './conditions.js';
import type { DataGap, Evidence, Finding, LabEvidence } from './evidence.js';
import { evidenceKey } from './evidence.js';
import type { GlutamineOrder } from './glutamine-orders.js';
import { latestLab } from './labs.js';
import type { LabReading, LatestLab } from './labs.js';
import type { Catalogue } from './load-catalogue.js';
import { currentMedications, findMedications } from './medications.js';
import type { CurrentMedication } from './medications.js';
import type { PatientRecord } from './patient-record.js';

export interface EvaluationInput {
  catalogue: Catalogue;
  orders: readonly GlutamineOrder[];
  /** Every resource of context.draftOrders (the other orders count as co-medications). */
  drafts: readonly AnyResource[];
  record: PatientRecord;
  now: number;
}

export interface Evaluation {
  findings: Finding[];
  gaps: DataGap[];
}

/** Per-request view of the patient data, computed once and shared by every order and rule. */
class RequestData {
  private readonly labs = new Map<string, LatestLab>();

  constructor(
    private readonly input: EvaluationInput,
  ) {}

  latestLab(analyte: Analyte): LatestLab {
    let latest = this.labs.get(analyte.id);
    if (!latest) {
      const valueSet = this.input.catalogue.valueSets.get(analyte.valueSet);
      latest = valueSet ? latestLab(this.input.record.observations, analyte, valueSet.codes, this.input.now) : { unreadable: [] };
      this.labs.set(analyte.id, latest);
    }
    return latest;
  }

  medicationsBesides(order: GlutamineOrder): CurrentMedication[] {
    const others = this.input.drafts.filter((d) => d !== order.resource);
    return currentMedications(this.input.record, others, this.input.record.medications);
  }
}

function labThreshold(criterion: LabCriterion, reading: LabReading): number | undefined {
  if (typeof criterion.threshold === 'number') return criterion.threshold;
  return reading.upperLimit ? reading.upperLimit.value * criterion.threshold.upperLimitTimes : undefined;
}

function labEvidence(reading: LabReading, analyte: Analyte, criterion: LabCriterion, interpretation?: string): LabEvidence {
  const limit = typeof criterion.threshold === 'number' ? undefined : reading.upperLimit;
  return {
    kind: 'lab',
    analyte: analyte.id,
    label: reading.label,
    reported: reading.reported ?? '',
    ...(reading.reportedUnit ? { reportedUnit: reading.reportedUnit } : {}),
    ...(reading.conversion && reading.measured
      ? {
          converted: {
            value: `${reading.measured.comparator ?? ''}${formatNumber(reading.measured.value)}`,
            unit: analyte.unit,
            ...(reading.conversion.basis ? { basis: reading.conversion.basis } : {}),
          },
        }
      : {}),
    unit: analyte.unit,
    ...(limit ? { limit: { value: formatNumber(limit.value), unit: analyte.unit, from: limit.from } } : {}),
    ...(interpretation ? { interpretation } : {}),
    ...(reading.date ? { date: reading.date } : {}),
  };
}

function matchLab(criterion: LabCriterion, data: RequestData, catalogue: Catalogue): LabEvidence[] {
  const analyte = catalogue.analytes.get(criterion.analyte);
  if (!analyte) return [];
  const reading = data.latestLab(analyte).reading;
  if (!reading) return [];
  if (!reading.measured) {
    const flag = reading.interpretations.find((code) => criterion.interpretationsWhenNoValue?.includes(code));
    return flag ? [labEvidence(reading, analyte, criterion, flag)] : [];
  }
  const threshold = labThreshold(criterion, reading);
  if (threshold === undefined) return [];
  const hit =
    criterion.compare === 'below'
      ? isBelow(reading.measured, threshold)
      : isAbove(reading.measured, threshold, criterion.compare === 'at-least');
  return hit ? [labEvidence(reading, analyte, criterion)] : [];
}

/** Name matchers compiled once per criterion, not once per request. */
const nameMatchers = new WeakMap<readonly string[], (text: string) => boolean>();
function nameMatcher(names: readonly string[]): (text: string) => boolean {
  let matcher = nameMatchers.get(names);
  if (!matcher) {
    matcher = wholeWordMatcher(names);
    nameMatchers.set(names, matcher);
  }
  return matcher;
}

function matchCriterion(criterion: Criterion, order: GlutamineOrder, data: RequestData, input: EvaluationInput): Evidence[] {
  const { catalogue, record } = input;
  if ('condition' in criterion) {
    const valueSet = catalogue.valueSets.get(criterion.condition.valueSet);
    return valueSet ? findConditions(record.conditions, valueSet.codes) : [];
  }
  if ('lab' in criterion) return matchLab(criterion.lab, data, catalogue);
  const valueSet = catalogue.valueSets.get(criterion.medication.valueSet);
  if (!valueSet) return [];
  return findMedications(data.medicationsBesides(order), valueSet.codes, nameMatcher(criterion.medication.names));
}

/** One finding per rule per order: the most urgent tier that matched, with the evidence of every tier. */
function evaluateRule(rule: RuleDefinition, order: GlutamineOrder, data: RequestData, input: EvaluationInput): Finding | undefined {
  let fired: number | undefined;
  const evidence = new Map<string, Evidence>();
  rule.tiers.forEach((tier, index) => {
    if (tier.when === 'data-unavailable') return;
    for (const criterion of tier.when) {
      const found = matchCriterion(criterion, order, data, input);
      if (found.length > 0 && fired === undefined) fired = index;
      for (const e of found) evidence.set(evidenceKey(e), e);
    }
  });
  const tier = fired === undefined ? undefined : rule.tiers[fired];
  if (fired === undefined || !tier) return undefined;
  return {
    ruleId: rule.id,
    indicator: tier.indicator,
    tier: fired,
    orderReference: order.reference ?? order.name,
    evidence: [...evidence.values()],
  };
}

function rulesUsing(input: EvaluationInput, test: (rule: RuleDefinition) => boolean): string[] {
  return input.catalogue.rules.filter(test).map((r) => r.id);
}

/** What could not be checked: data not obtained, lab units not convertible, Medications not resolvable. */
function findGaps(input: EvaluationInput, data: RequestData): DataGap[] {
  const { catalogue, record } = input;
  const gaps: DataGap[] = [];
  for (const requirement of catalogue.data) {
    const status = record.status.get(requirement.key);
    if (!status || status.state === 'available' || status.state === 'empty') continue;
    const rules = rulesUsing(input, (rule) => catalogue.ruleRequirements.get(rule.id)?.includes(requirement) ?? false);
    if (rules.length === 0) continue;
    gaps.push({ key: requirement.key, description: `${requirement.label}: ${status.reason}`, rules });
  }
  for (const analyte of catalogue.analytes.values()) {
    const rules = rulesUsing(input, (rule) => rule.tiers.some((t) => t.when !== 'data-unavailable' && t.when.some((c) => 'lab' in c && c.lab.analyte === analyte.id)));
    if (rules.length === 0) continue;
    for (const lab of data.latestLab(analyte).unreadable) {
      const unit = lab.unit ? `'${lab.unit}'` : 'no unit';
      gaps.push({
        key: 'lab-unit',
        description: `${lab.label}${lab.date ? ` of ${lab.date}` : ''}: ${unit} cannot be converted to ${analyte.unit}, so the result was not used`,
        rules,
      });
    }
  }
  const medicationRules = rulesUsing(input, (rule) => rule.tiers.some((t) => t.when !== 'data-unavailable' && t.when.some((c) => 'medication' in c)));
  if (medicationRules.length > 0) {
    const unresolved = new Set<string>();
    for (const order of input.orders) {
      for (const medication of data.medicationsBesides(order)) {
        if (medication.product.unresolvedReference && medication.product.texts.length === 0) unresolved.add(medication.product.unresolvedReference);
      }
    }
    for (const reference of unresolved) {
      gaps.push({ key: 'medication-reference', description: `a medication refers to ${reference}, which was not provided, so its product is unknown`, rules: medicationRules });
    }
  }
  return gaps;
}

/** Runs every rule against every glutamine order. Pure: same input, same output. */
export function evaluate(input: EvaluationInput): Evaluation {
  const data = new RequestData(input);
  const findings: Finding[] = [];
  for (const order of input.orders) {
    for (const rule of input.catalogue.rules) {
      const finding = evaluateRule(rule, order, data, input);
      if (finding) findings.push(finding);
    }
  }
  return { findings, gaps: findGaps(input, data) };
}
