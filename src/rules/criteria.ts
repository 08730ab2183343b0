import type { CodeableConcept, Condition, MedicationRequest, Reference } from 'fhir/r4';
import { conceptLabel, conceptTexts, systemName } from '../fhir/codings.js';
import { formatNumber, isAbove, isBelow } from '../fhir/quantities.js';
import { asArray, isResource, resourceOf } from '../fhir/tolerant.js';
import type { Tolerant } from '../fhir/tolerant.js';
import { onCriterion } from './catalogue-schema.js';
import type { Analyte, Criterion, CriterionHandlers, CriterionOf, Exemption, LabCriterion } from './catalogue-schema.js';
import { findAmongCounting, isNegatedFinding, isUnconfirmed } from './conditions.js';
import type { ConditionEvidence, Evidence, LabEvidence, OrderEvidence } from './evidence.js';
import type { GlutamineOrder } from './glutamine-orders.js';
import { formatLabValue } from './lab-format.js';
import type { LabReading } from './labs.js';
import { findMedications } from './medications.js';
import type { Product } from './medication-product.js';
import type { CurrentMedication } from './medications.js';
import type { LoadedValueSet } from './load-catalogue.js';
import type { RequestData } from './request-data.js';

function valueSet(data: RequestData, id: string): LoadedValueSet | undefined {
  return data.input.catalogue.valueSets.get(id);
}

/**
 * Counting conditions in the value set, or (where codes cannot all be listed) named so: a name of
 * the value set in a condition's text or displays, or — for a condition with no coding, text only —
 * one of its text-only names (clinical-spec revision 2, item 6). Negated text never counts by name.
 */
export function matchConditions(match: { valueSet: string }, data: RequestData): ConditionEvidence[] {
  return data.memo(`conditions:${match.valueSet}`, () => conditionsIn(match.valueSet, data));
}

function conditionsIn(valueSetId: string, data: RequestData): ConditionEvidence[] {
  const vs = valueSet(data, valueSetId);
  if (!vs) return [];
  const counting = data.countingConditions();
  const byCode = findAmongCounting(counting, vs.codes);
  if (vs.names.length === 0 && vs.textOnlyNames.length === 0) return byCode;
  const named = (c: Condition): boolean => {
    if (vs.codes.match(c.code) !== undefined) return false;
    const textOnly = !asArray(c.code?.coding).some((x) => typeof x.code === 'string');
    const matches = textOnly ? vs.matchesTextOnlyName : vs.matchesName;
    return data.textsOf(c.code).some((t) => matches(t) && !isNegatedFinding(t));
  };
  // Only the conditions whose texts may name this value set: the others cannot match its names.
  const byName = data
    .conditionsThatMayName(valueSetId)
    .filter(named)
    .map((c): ConditionEvidence => {
      const coding = asArray(c.code?.coding).find((x) => typeof x.code === 'string');
      return {
        kind: 'condition',
        display: conceptLabel(c.code) ?? 'condition',
        ...(coding?.code ? { system: systemName(coding.system), code: coding.code } : {}),
        unconfirmed: isUnconfirmed(c),
        matchedByName: true,
      };
    });
  return [...byCode, ...byName];
}

function labThreshold(criterion: LabCriterion, reading: LabReading): number | undefined {
  if (typeof criterion.threshold === 'number') return criterion.threshold;
  return reading.upperLimit ? reading.upperLimit.value * criterion.threshold.upperLimitTimes : undefined;
}

function labEvidence(reading: LabReading, analyte: Analyte, criterion: LabCriterion | undefined, interpretation?: string): LabEvidence {
  const limit = criterion && typeof criterion.threshold !== 'number' ? reading.upperLimit : undefined;
  return {
    kind: 'lab',
    analyte: analyte.id,
    label: reading.label,
    reported: reading.reported ?? '',
    ...(reading.reportedUnit ? { reportedUnit: reading.reportedUnit } : {}),
    ...(reading.conversion && reading.measured
      ? {
          converted: {
            value: formatLabValue(reading.measured, analyte),
            unit: analyte.unit,
            ...(reading.conversion.basis ? { basis: reading.conversion.basis } : {}),
          },
        }
      : {}),
    unit: analyte.unit,
    ...(limit ? { limit: { value: formatLabValue({ value: limit.value }, analyte), unit: analyte.unit, from: limit.from } } : {}),
    ...(interpretation ? { interpretation } : {}),
    ...(reading.calculatedFrom ? { calculatedFrom: reading.calculatedFrom } : {}),
    ...(reading.date ? { date: reading.date } : {}),
  };
}

function matchLab(criterion: LabCriterion, data: RequestData): LabEvidence[] {
  const analyte = data.input.catalogue.analytes.get(criterion.analyte);
  const reading = analyte ? data.latestLab(analyte).reading : undefined;
  return analyte && reading ? labHit(criterion, reading, analyte) : [];
}

/** Whether one reading meets a lab criterion, as evidence. Also asked of results not yet final. */
export function labHit(criterion: LabCriterion, reading: LabReading, analyte: Analyte): LabEvidence[] {
  if (!reading.measured) {
    const flag = reading.interpretations.find((code) => criterion.interpretationsWhenNoValue?.includes(code));
    return flag ? [labEvidence(reading, analyte, criterion, flag)] : [];
  }
  // The lab flagged it normal and gave no range of its own: its flag outranks the default limit
  // (clinical-spec revision 2, item 13). Criteria far above any limit (2 × ULN) do not ask this.
  if (reading.upperLimit?.from === 'default' && reading.interpretations.some((code) => criterion.normalWhenFlagged?.includes(code))) return [];
  const threshold = labThreshold(criterion, reading);
  if (threshold === undefined) return [];
  const hit = criterion.compare === 'below' ? isBelow(reading.measured, threshold) : isAbove(reading.measured, threshold, criterion.compare === 'at-least');
  return hit ? [labEvidence(reading, analyte, criterion)] : [];
}

function productHas(order: GlutamineOrder, match: { valueSet: string }, data: RequestData): boolean {
  const vs = valueSet(data, match.valueSet);
  return vs !== undefined && (order.product.concepts.some((c) => vs.codes.match(c) !== undefined) || order.product.texts.some(vs.matchesName));
}

function exempt(exemptions: readonly Exemption[] | undefined, order: GlutamineOrder, data: RequestData): boolean {
  return (exemptions ?? []).some((e) => ('condition' in e ? matchConditions(e.condition, data).length > 0 : productHas(order, e.product, data)));
}

function orderLine(label: string, value: string): OrderEvidence {
  return { kind: 'order', label, value };
}

function matchDailyDose(aboveGrams: number, order: GlutamineOrder, data: RequestData): Evidence[] {
  const daily = data.orderFacts(order).daily;
  if (!daily || !(daily.grams > aboveGrams)) return [];
  const amount = `${daily.complete ? '' : 'at least '}${formatNumber(daily.grams)} g a day`;
  return [orderLine('Total daily dose', `${amount} (${daily.working})`)];
}

type WeightBand = Extract<Criterion, { singleDoseWeightBand: unknown }>['singleDoseWeightBand'];

/**
 * Endari labeling: for sickle cell disease the dose is set by body weight, given twice a day. Both
 * the single dose and the daily total (the band × its times a day) must stay within the band
 * (clinical-spec revision 2, item 11: 10 g three times a day at 50 kg is over the 20 g a day).
 */
function matchWeightBand(band: WeightBand, order: GlutamineOrder, data: RequestData): Evidence[] {
  const { single, daily } = data.orderFacts(order);
  const conditions = matchConditions(band.condition, data);
  const weight = data.latestValue(band.weightAnalyte);
  if ((!single && !daily) || conditions.length === 0 || !weight) return [];
  const fits = band.bands.find((b) => (b.belowKg === undefined || weight.value < b.belowKg) && (b.upToKg === undefined || weight.value <= b.upToKg));
  if (!fits) return [];
  const dailyMax = fits.maxGrams * band.labeledTimesPerDay;
  const singleOver = single !== undefined && single.grams > fits.maxGrams;
  const dailyOver = daily !== undefined && daily.grams > dailyMax;
  if (!singleOver && !dailyOver) return [];
  const analyte = data.input.catalogue.analytes.get(band.weightAnalyte);
  const reading = analyte ? data.latestLab(analyte).reading : undefined;
  const kg = analyte ? formatLabValue({ value: weight.value }, analyte) : formatNumber(weight.value);
  return [
    ...conditions,
    ...(reading && analyte ? [labEvidence(reading, analyte, undefined)] : []),
    ...(singleOver ? [orderLine('Single dose', `${single.working}; the labeled dose at ${kg} kg is ${formatNumber(fits.maxGrams)} g`)] : []),
    ...(dailyOver
      ? [
          orderLine(
            'Total daily dose',
            `${daily.complete ? '' : 'at least '}${formatNumber(daily.grams)} g a day (${daily.working}); the labeled daily dose at ${kg} kg is ${formatNumber(dailyMax)} g (${formatNumber(fits.maxGrams)} g × ${band.labeledTimesPerDay})`,
          ),
        ]
      : []),
  ];
}

function matchDuration(aboveDays: number, order: GlutamineOrder, data: RequestData): Evidence[] {
  const duration = data.orderFacts(order).duration;
  if (!duration || !(duration.days > aboveDays)) return [];
  const weeks = duration.days / 7;
  return [orderLine('Planned duration', `${formatNumber(duration.days)} days (about ${formatNumber(Math.round(weeks))} weeks; ${duration.source})`)];
}

function matchProduct(match: { valueSet: string; multipleIngredients?: boolean | undefined }, order: GlutamineOrder, data: RequestData): Evidence[] {
  const coded = productHas(order, match, data);
  const blended = match.multipleIngredients === true && order.product.ingredientCount > 1;
  if (!coded && !blended) return [];
  const count = order.product.ingredientCount > 1 ? ` (${order.product.ingredientCount} ingredients)` : '';
  return [orderLine('Product', `${order.name}${count}`)];
}

/** The conditions and codes given as the reason for the order: reasonCode, and reasonReference resolved where possible. */
function orderReasons(order: GlutamineOrder, data: RequestData): Array<{ concept?: Tolerant<CodeableConcept>; text?: string }> {
  const resource = order.request;
  const reasons: Array<{ concept?: Tolerant<CodeableConcept>; text?: string }> = [];
  if (resource.resourceType === 'MedicationRequest') {
    for (const concept of asArray(resource.reasonCode)) reasons.push({ concept });
    for (const reference of asArray(resource.reasonReference)) {
      const condition = resolveCondition(reference, resource, data);
      if (condition) reasons.push({ concept: condition.code ?? {} });
      else if (typeof reference.display === 'string') reasons.push({ text: reference.display });
    }
  }
  return reasons;
}

function resolveCondition(reference: Tolerant<Reference>, container: Tolerant<MedicationRequest>, data: RequestData): Tolerant<Condition> | undefined {
  const ref = reference.reference;
  if (typeof ref !== 'string') return undefined;
  if (ref.startsWith('#')) {
    const contained = asArray<unknown>(container.contained)
      .filter(isResource)
      .find((r) => r.resourceType === 'Condition' && r.id === ref.slice(1));
    return contained ? resourceOf<Condition>(contained, 'Condition') : undefined;
  }
  const id = /(?:^|\/)Condition\/([^/]+)$/.exec(ref)?.[1];
  return id ? data.input.record.conditions.find((c) => c.id === id) : undefined;
}

function matchOrderReason(match: { valueSet: string }, order: GlutamineOrder, data: RequestData): Evidence[] {
  const vs = valueSet(data, match.valueSet);
  if (!vs) return [];
  const lines: Evidence[] = [];
  for (const reason of orderReasons(order, data)) {
    const coding = reason.concept ? vs.codes.match(reason.concept) : undefined;
    const texts = [...conceptTexts(reason.concept), ...(reason.text ? [reason.text] : [])];
    if (!coding && !texts.some(vs.matchesName)) continue;
    const label = conceptLabel(reason.concept) ?? reason.text ?? 'reason';
    const code = coding?.code ? ` — ${systemName(coding.system)} ${coding.code}` : '';
    lines.push(orderLine('Reason for order', `${label}${code}`));
  }
  return lines;
}

/**
 * Whether a co-medication is another checked order that comes later in draftOrders: on order-sign
 * the later of two glutamine orders carries the duplicate card; on order-select the selected one
 * does (the unselected ones are not checked orders, so they always count).
 */
function isLaterCheckedOrder(medication: CurrentMedication, order: GlutamineOrder, data: RequestData): boolean {
  if (medication.draft === undefined) return false;
  const other = data.draftPosition(medication.draft);
  return other.checked && other.index > data.draftPosition(order.resource).index;
}

/** The patient's or order's evidence for one criterion; empty when it does not hold (or an exemption applies). */
export function matchCriterion(criterion: Criterion, order: GlutamineOrder, data: RequestData): Evidence[] {
  const found = evidenceFor(criterion, order, data);
  if (found.length === 0 || exempt(criterion.unless, order, data)) return [];
  return found;
}

/**
 * The products among the current medications and other drafts that are in a value set, by code or
 * by name (names only looked for in the products whose texts may hold them): matched once per
 * request, for every order.
 */
function productsIn(valueSetId: string, data: RequestData): ReadonlySet<Product> {
  return data.memo(`medications:${valueSetId}`, () => {
    const vs = valueSet(data, valueSetId);
    if (!vs) return new Set();
    const byCode = data.currentMedications().flatMap((m) => (m.product.concepts.some((c) => vs.codes.match(c) !== undefined) ? [m.product] : []));
    const byName = data.productsThatMayName(valueSetId).filter((p) => p.texts.some(vs.matchesName));
    return new Set([...byCode, ...byName]);
  });
}

function matchMedication(medication: CriterionOf<'medication'>['medication'], order: GlutamineOrder, data: RequestData): Evidence[] {
  const candidates = medication.oneCardPerPair
    ? data.medicationsBesides(order).filter((m) => !isLaterCheckedOrder(m, order, data))
    : data.medicationsBesides(order);
  const inValueSet = productsIn(medication.valueSet, data);
  const found = findMedications(candidates, (product) => inValueSet.has(product));
  const note = medication.note;
  return note ? found.map((m) => ({ ...m, note })) : found;
}

/** How each kind of criterion finds its evidence. */
const EVIDENCE: CriterionHandlers<[GlutamineOrder, RequestData], Evidence[]> = {
  condition: (c, _order, data) => matchConditions(c.condition, data),
  lab: (c, _order, data) => matchLab(c.lab, data),
  medication: (c, order, data) => matchMedication(c.medication, order, data),
  dailyDose: (c, order, data) => matchDailyDose(c.dailyDose.aboveGrams, order, data),
  singleDoseWeightBand: (c, order, data) => matchWeightBand(c.singleDoseWeightBand, order, data),
  duration: (c, order, data) => matchDuration(c.duration.aboveDays, order, data),
  product: (c, order, data) => matchProduct(c.product, order, data),
  orderReason: (c, order, data) => matchOrderReason(c.orderReason, order, data),
};

function evidenceFor(criterion: Criterion, order: GlutamineOrder, data: RequestData): Evidence[] {
  return onCriterion(criterion, EVIDENCE, order, data);
}
