import type { CodeableConcept, Dosage, Duration, Medication, Period, Quantity, Timing } from 'fhir/r4';
import type { CodeIndex } from '../fhir/codings.js';
import { DAY_MS, parseFhirDate } from '../fhir/dates.js';
import { formatNumber, quantityUnits, unitKey } from '../fhir/quantities.js';
import { asArray, isRecord } from '../fhir/tolerant.js';
import type { Tolerant } from '../fhir/tolerant.js';
import type { OrderRequest } from './glutamine-orders.js';
import type { Dosing } from './catalogue-schema.js';

/**
 * docs/clinical-spec.md "Computing dose and duration". Everything here answers "how many grams a day,
 * in the largest single dose, for how long" — or nothing, when the order does not say: the rules
 * never guess a dose.
 */

export interface DailyDose {
  /** Grams per day; a lower bound when `complete` is false (some instruction could not be read). */
  grams: number;
  complete: boolean;
  /** How it was computed, for the card: "10 g × 4 a day". */
  working: string;
}

export interface SingleDose {
  grams: number;
  working: string;
}

export interface PlannedDuration {
  days: number;
  /** Where the duration came from, for the card: "30-day supply × (1 + 5 repeats)". */
  source: string;
}

/** One administration instruction, normalised from a MedicationRequest dosage or a NutritionOrder supplement. */
interface Instruction {
  sequence?: number;
  dose?: Tolerant<Quantity>;
  timing?: Tolerant<Timing>;
}

export interface DoseContext {
  dosing: Dosing;
  /** Grams of glutamine per tablet or capsule of this product, when known. */
  gramsPerUnit?: number;
}

function unitOf(dosing: Dosing, quantity: Tolerant<Quantity>): { grams: number; label: string } | undefined {
  const keys = quantityUnits(quantity).map(unitKey);
  for (const mass of dosing.massUnits) {
    if (mass.units.some((u) => keys.includes(unitKey(u)))) return { grams: mass.grams, label: 'g' };
  }
  if (dosing.packet.units.some((u) => keys.includes(unitKey(u)))) return { grams: dosing.packet.grams, label: 'packet' };
  return undefined;
}

/** Grams in one administration, from g / mg / kg, packets, or tablet/capsule counts × product strength. */
export function doseGrams(quantity: Tolerant<Quantity> | undefined, ctx: DoseContext): { grams: number; text: string } | undefined {
  if (typeof quantity?.value !== 'number' || !Number.isFinite(quantity.value) || quantity.value < 0) return undefined;
  const unit = unitOf(ctx.dosing, quantity);
  if (unit) {
    const grams = quantity.value * unit.grams;
    const text =
      unit.label === 'g' ? `${formatNumber(grams)} g` : `${formatNumber(quantity.value)} packet${quantity.value === 1 ? '' : 's'} (${formatNumber(grams)} g)`;
    return { grams, text };
  }
  const keys = quantityUnits(quantity).map(unitKey);
  if (ctx.gramsPerUnit !== undefined && ctx.dosing.doseForms.units.some((u) => keys.includes(unitKey(u)))) {
    const grams = quantity.value * ctx.gramsPerUnit;
    return { grams, text: `${formatNumber(quantity.value)} × ${formatNumber(ctx.gramsPerUnit * 1000)} mg (${formatNumber(grams)} g)` };
  }
  return undefined;
}

function daysIn(dosing: Dosing, unit: unknown): number | undefined {
  if (typeof unit !== 'string' || unit.trim() === '') return undefined;
  const trimmed = unit.trim();
  const canonical = dosing.daysPerUnit[trimmed] !== undefined ? trimmed : dosing.durationUnitAliases[trimmed.toLowerCase()];
  return canonical === undefined ? undefined : dosing.daysPerUnit[canonical];
}

function timingCode(timing: Tolerant<Timing>): string | undefined {
  // Lenient: a bare string where R4 has a CodeableConcept ("code": "BID").
  const raw: unknown = timing.code;
  if (typeof raw === 'string') return raw.trim().toUpperCase();
  const codes = [...asArray(timing.code?.coding).map((c) => c.code), timing.code?.text];
  return codes
    .find((c): c is string => typeof c === 'string' && c.trim() !== '')
    ?.trim()
    .toUpperCase();
}

/** Administrations per day from `timing.repeat` (frequency per period), else the `timing.code` abbreviation. */
export function administrationsPerDay(timing: Tolerant<Timing> | undefined, dosing: Dosing): { perDay: number; text: string } | undefined {
  if (!timing) return undefined;
  const repeat = timing.repeat;
  if (repeat && typeof repeat.period === 'number' && repeat.period > 0) {
    const unitDays = daysIn(dosing, repeat.periodUnit);
    const frequency = typeof repeat.frequency === 'number' && repeat.frequency > 0 ? repeat.frequency : 1;
    if (unitDays !== undefined) {
      const perDay = frequency / (repeat.period * unitDays);
      return { perDay, text: `${formatNumber(frequency)} per ${formatNumber(repeat.period)} ${String(repeat.periodUnit)}` };
    }
  }
  const code = timingCode(timing);
  const coded = code ? dosing.timingCodes[code] : undefined;
  if (code && coded) {
    const unitDays = daysIn(dosing, coded.periodUnit);
    if (unitDays !== undefined) return { perDay: coded.frequency / (coded.period * unitDays), text: code };
  }
  return undefined;
}

const AT_LEAST_ONCE_A_DAY = { perDay: 1, text: 'no timing given' };

function describePerDay(perDay: number, text: string): string {
  if (text === AT_LEAST_ONCE_A_DAY.text) return 'at least once a day (no timing given)';
  if (Number.isInteger(perDay)) return perDay === 1 ? 'once a day' : `${perDay} times a day`;
  return `${formatNumber(perDay)} times a day (${text})`;
}

/** R4 `doseAndRate[].doseQuantity` (or `doseRange.high`); STU3-style `doseQuantity` on the dosage itself is tolerated. */
function dosageQuantity(dosage: Tolerant<Dosage>): Tolerant<Quantity> | undefined {
  for (const dr of asArray(dosage.doseAndRate)) {
    if (dr.doseQuantity) return dr.doseQuantity;
    if (dr.doseRange?.high) return dr.doseRange.high;
  }
  const legacy = dosage as Tolerant<Dosage> & { doseQuantity?: Tolerant<Quantity>; doseRange?: { high?: Tolerant<Quantity> } };
  return legacy.doseQuantity ?? legacy.doseRange?.high;
}

function instructions(order: OrderRequest): Instruction[] {
  if (order.resourceType === 'NutritionOrder') {
    return asArray(order.supplement).map((s) => {
      const timing = asArray(s.schedule)[0];
      return { ...(s.quantity ? { dose: s.quantity } : {}), ...(timing ? { timing } : {}) };
    });
  }
  return asArray(order.dosageInstruction).map((d) => {
    const dose = dosageQuantity(d);
    return {
      ...(typeof d.sequence === 'number' ? { sequence: d.sequence } : {}),
      ...(dose ? { dose } : {}),
      ...(d.timing ? { timing: d.timing } : {}),
    };
  });
}

/**
 * Total grams a day. Instructions with the same `sequence` run together and add up; different
 * sequences follow one another and the largest day counts. Instructions without a sequence are
 * read as running together (a morning and an evening dose).
 */
export function dailyDose(order: OrderRequest, ctx: DoseContext): DailyDose | undefined {
  const groups = new Map<number | 'none', { grams: number; complete: boolean; parts: string[]; any: boolean }>();
  for (const instruction of instructions(order)) {
    const key = instruction.sequence ?? 'none';
    const group = groups.get(key) ?? { grams: 0, complete: true, parts: [], any: false };
    groups.set(key, group);
    const dose = doseGrams(instruction.dose, ctx);
    // A dose with no timing at all is given at least once a day (clinical-spec revision 2, item 10):
    // a single 40 g dose is over 30 g a day. The total is then a lower bound.
    const untimed = instruction.timing === undefined;
    const frequency = untimed ? AT_LEAST_ONCE_A_DAY : administrationsPerDay(instruction.timing, ctx.dosing);
    if (!dose || !frequency) {
      group.complete = false;
      continue;
    }
    if (untimed) group.complete = false;
    group.grams += dose.grams * frequency.perDay;
    group.parts.push(`${dose.text} ${describePerDay(frequency.perDay, frequency.text)}`);
    group.any = true;
  }
  const readable = [...groups.values()].filter((g) => g.any);
  if (readable.length === 0) return undefined;
  const largest = readable.reduce((a, b) => (b.grams > a.grams ? b : a));
  const complete = [...groups.values()].every((g) => g.complete);
  return { grams: largest.grams, complete, working: largest.parts.join(' + ') };
}

/** The largest single administration, in grams. */
export function largestSingleDose(order: OrderRequest, ctx: DoseContext): SingleDose | undefined {
  let best: SingleDose | undefined;
  for (const instruction of instructions(order)) {
    const dose = doseGrams(instruction.dose, ctx);
    if (dose && (!best || dose.grams > best.grams)) best = { grams: dose.grams, working: dose.text };
  }
  return best;
}

function durationDays(duration: Tolerant<Duration> | undefined, dosing: Dosing): number | undefined {
  if (typeof duration?.value !== 'number' || duration.value < 0) return undefined;
  const unitDays = [duration.code, duration.unit].map((u) => daysIn(dosing, u)).find((d) => d !== undefined);
  return unitDays === undefined ? undefined : duration.value * unitDays;
}

function periodDays(period: Tolerant<Period> | undefined): number | undefined {
  const start = parseFhirDate(period?.start);
  const end = parseFhirDate(period?.end);
  return start !== undefined && end !== undefined && end >= start ? (end - start) / DAY_MS : undefined;
}

/**
 * Planned duration: supply × (1 + repeats), the validity period, or the timing bounds — the longest.
 */
export function plannedDuration(order: OrderRequest, dosing: Dosing): PlannedDuration | undefined {
  const candidates: PlannedDuration[] = [];
  if (order.resourceType === 'MedicationRequest') {
    const dispense = order.dispenseRequest;
    const supply = durationDays(dispense?.expectedSupplyDuration, dosing);
    if (supply !== undefined) {
      const repeats = typeof dispense?.numberOfRepeatsAllowed === 'number' && dispense.numberOfRepeatsAllowed > 0 ? dispense.numberOfRepeatsAllowed : 0;
      candidates.push({
        days: supply * (1 + repeats),
        source: repeats > 0 ? `${formatNumber(supply)}-day supply × (1 + ${repeats} repeat${repeats === 1 ? '' : 's'})` : `${formatNumber(supply)}-day supply`,
      });
    }
    const validity = periodDays(dispense?.validityPeriod);
    if (validity !== undefined) candidates.push({ days: validity, source: 'prescription validity period' });
  }
  for (const instruction of instructions(order)) {
    const bounds = instruction.timing?.repeat;
    // Messy input may put anything here; only an object can carry bounds.
    if (!isRecord(bounds)) continue;
    const byDuration = durationDays(bounds.boundsDuration, dosing);
    if (byDuration !== undefined) candidates.push({ days: byDuration, source: 'dosage bounds' });
    const byPeriod = periodDays(bounds.boundsPeriod);
    if (byPeriod !== undefined) candidates.push({ days: byPeriod, source: 'dosage start and end dates' });
  }
  if (candidates.length === 0) return undefined;
  return candidates.reduce((a, b) => (b.days > a.days ? b : a));
}

/**
 * Grams of glutamine per tablet or capsule: the product's known strength (cards/dosing.json), else a
 * glutamine ingredient strength of its Medication (numerator per one unit).
 */
export function gramsPerUnit(
  concepts: readonly Tolerant<CodeableConcept>[],
  medication: Tolerant<Medication> | undefined,
  dosing: Dosing,
  strengths: CodeIndex,
  isGlutamine: (concept: Tolerant<CodeableConcept> | undefined) => boolean,
): number | undefined {
  for (const concept of concepts) {
    for (const coding of asArray(concept.coding)) {
      const hit = strengths.lookup(coding);
      if (hit) {
        const strength = dosing.productStrengths.find((s) => s.code === hit.code);
        if (strength) return strength.grams;
      }
    }
  }
  const ingredients = asArray(medication?.ingredient);
  const ingredient = ingredients.length === 1 ? ingredients[0] : ingredients.find((i) => isGlutamine(i.itemCodeableConcept));
  const numerator = ingredient?.strength?.numerator;
  const denominator = typeof ingredient?.strength?.denominator?.value === 'number' ? ingredient.strength.denominator.value : 1;
  if (!numerator || denominator <= 0) return undefined;
  const unit = unitOf(dosing, numerator);
  if (!unit || unit.label !== 'g' || typeof numerator.value !== 'number') return undefined;
  return (numerator.value * unit.grams) / denominator;
}
