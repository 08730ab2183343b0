import type { Observation, Quantity } from 'fhir/r4';
import { conceptLabel, conceptTexts } from '../fhir/codings.js';
import type { CodeIndex } from '../fhir/codings.js';
import { DAY_MS, displayDate, parseFhirDate } from '../fhir/dates.js';
import { asComparator, humanUnit, parseMeasuredText, quantityUnits, unitKey } from '../fhir/quantities.js';
import type { Measured } from '../fhir/quantities.js';
import { asArray } from '../fhir/tolerant.js';
import type { Analyte } from './catalogue-schema.js';
import { formatLabValue } from './lab-format.js';

/** docs/clinical-spec.md "Patient data and how it counts", Labs: only final, amended or corrected results count. */
const COUNTING_STATUS = new Set(['final', 'amended', 'corrected']);
/** Results on their way: they do not decide, but one that would fire is reported (revision 2, item 14). */
const PENDING_STATUS = new Set(['preliminary', 'registered']);

export interface LabReading {
  date?: string;
  label: string;
  /** Value in the analyte's canonical unit; absent when only an interpretation flag was reported. */
  measured?: Measured;
  reported?: string;
  reportedUnit?: string;
  /** Set when the value was converted from another unit. */
  conversion?: { basis?: string };
  upperLimit?: { value: number; from: 'report' | 'default' };
  interpretations: string[];
  /** Set when the value was calculated, not reported: from what. */
  calculatedFrom?: string;
}

interface UnreadableLab {
  date?: string;
  label: string;
  unit?: string;
}

export interface LatestLab {
  reading?: LabReading;
  /** Results more recent than the deciding one whose unit cannot be converted (not guessed at). */
  unreadable: UnreadableLab[];
  /** The newest preliminary or registered result after the deciding one (not final, so it does not decide). */
  pending?: LabReading & { status: string };
}

/** The effective date: effectiveDateTime, effectiveInstant, effectivePeriod.end (or start), else issued. */
export function observationDate(observation: Observation): string | undefined {
  return (
    observation.effectiveDateTime ??
    observation.effectiveInstant ??
    observation.effectivePeriod?.end ??
    observation.effectivePeriod?.start ??
    observation.issued
  );
}

const NITROGEN_MARKERS = [/\bas N\b/, /NH3-N/i, /nitrogen/i];

type Conversion = Analyte['conversions'][number];

/** "µg/dL as N", "ug/dL (NH3-N)": the unit proper, without the basis note (which conversionFactor reads). */
function withoutBasisNote(unit: string): string {
  return unit.replace(/\s*\(?\s*(?:as\s+(?:N|NH3-N|nitrogen)|NH3-N|nitrogen)\s*\)?\s*$/i, '');
}

/**
 * A unit longer than this is not a unit anyone reports, so it is unreadable. Bounding it first keeps
 * the unit patterns linear: a 3 KB "unit" of spaces made withoutBasisNote backtrack for 15 s.
 */
const MAX_UNIT_LENGTH = 64;

function findConversion(analyte: Analyte, units: readonly string[]): Conversion | undefined {
  const readable = units.filter((u) => u.length <= MAX_UNIT_LENGTH);
  for (const unit of readable.flatMap((u) => [u, withoutBasisNote(u)])) {
    const key = unitKey(unit);
    const hit = analyte.conversions.find((c) => c.units.some((u) => unitKey(u) === key));
    if (hit) return hit;
  }
  return undefined;
}

/** Factor and basis for a conversion, switching to the nitrogen basis when the unit or test says so. */
function conversionFactor(conversion: Conversion, texts: readonly string[]): { factor: number; basis?: string } {
  if (conversion.nitrogen && texts.some((t) => NITROGEN_MARKERS.some((m) => m.test(t)))) {
    return { factor: conversion.nitrogen.factor, basis: conversion.nitrogen.basis };
  }
  return conversion.basis ? { factor: conversion.factor, basis: conversion.basis } : { factor: conversion.factor };
}

function convertQuantity(
  quantity: Quantity,
  analyte: Analyte,
  contextTexts: readonly string[],
): { value: number; basis?: string; converted: boolean } | undefined {
  if (typeof quantity.value !== 'number' || !Number.isFinite(quantity.value)) return undefined;
  const units = quantityUnits(quantity);
  const conversion = findConversion(analyte, units);
  if (!conversion) return undefined;
  const { factor, basis } = conversionFactor(conversion, [...units, ...contextTexts]);
  return { value: quantity.value * factor, ...(basis ? { basis } : {}), converted: factor !== 1 };
}

function upperLimit(observation: Observation, analyte: Analyte, valueUnits: Quantity | undefined, texts: readonly string[]): LabReading['upperLimit'] {
  for (const range of asArray(observation.referenceRange)) {
    const high = range.high;
    if (typeof high?.value !== 'number') continue;
    // A reference limit without its own unit is in the unit of the result it belongs to.
    const withUnit = quantityUnits(high).length > 0 ? high : { ...high, code: valueUnits?.code, unit: valueUnits?.unit };
    const converted = convertQuantity(withUnit, analyte, texts);
    if (converted) return { value: converted.value, from: 'report' };
  }
  return analyte.defaultUpperLimit !== undefined ? { value: analyte.defaultUpperLimit, from: 'default' } : undefined;
}

function interpretationCodes(observation: Observation): string[] {
  return asArray(observation.interpretation)
    .flatMap((concept) => asArray(concept.coding))
    .map((coding) => coding.code)
    .filter((code): code is string => typeof code === 'string');
}

type Read = { reading: LabReading } | { unreadable: UnreadableLab } | undefined;

function readObservation(observation: Observation, analyte: Analyte): Read {
  const rawDate = observationDate(observation);
  const date = displayDate(rawDate);
  const label = conceptLabel(observation.code) ?? analyte.label;
  const texts = conceptTexts(observation.code);
  const base = { ...(date ? { date } : {}), label };
  const interpretations = interpretationCodes(observation);

  const quantity = observation.valueQuantity;
  if (quantity && typeof quantity.value === 'number') {
    const converted = convertQuantity(quantity, analyte, texts);
    const givenUnit = [quantity.unit, ...quantityUnits(quantity)].find((u): u is string => typeof u === 'string' && u.trim() !== '');
    if (!converted) return { unreadable: { ...base, ...(givenUnit ? { unit: humanUnit(givenUnit) } : {}) } };
    const comparator = asComparator(quantity.comparator);
    // People read units in human form: a unit the analyte takes as is (mL/min/{1.73_m2}, mL/min on
    // an eGFR) is shown as the analyte's own (mL/min/1.73 m²); another one without UCUM braces.
    const reportedUnit = converted.converted && givenUnit ? humanUnit(givenUnit) : analyte.unit;
    return {
      reading: {
        ...base,
        measured: comparator ? { value: converted.value, comparator } : { value: converted.value },
        reported: formatLabValue(comparator ? { value: quantity.value, comparator } : { value: quantity.value }, analyte),
        reportedUnit,
        ...(converted.converted ? { conversion: converted.basis ? { basis: converted.basis } : {} } : {}),
        ...optionalLimit(upperLimit(observation, analyte, quantity, texts)),
        interpretations,
      },
    };
  }
  if (typeof observation.valueString === 'string') {
    const parsed = analyte.textValuesInCanonicalUnit ? parseMeasuredText(observation.valueString) : undefined;
    if (!parsed) return { unreadable: { ...base, unit: 'text value' } };
    return {
      reading: {
        ...base,
        measured: parsed,
        reported: formatLabValue(parsed, analyte),
        ...optionalLimit(upperLimit(observation, analyte, undefined, texts)),
        interpretations,
      },
    };
  }
  // No value (e.g. dataAbsentReason): only an interpretation flag can still say something.
  if (interpretations.length > 0) return { reading: { ...base, interpretations } };
  return undefined;
}

function optionalLimit(limit: LabReading['upperLimit']): { upperLimit?: NonNullable<LabReading['upperLimit']> } {
  return limit ? { upperLimit: limit } : {};
}

function hasValue(part: Pick<Observation, 'valueQuantity' | 'valueString'>): boolean {
  return typeof part.valueQuantity?.value === 'number' || typeof part.valueString === 'string';
}

/**
 * The results of the analyte an Observation carries: itself when its code is in the value set and
 * it has a value; else its components in the value set (clinical-spec revision 2, item 2: an eGFR
 * reported only in `component`, as FHIR's example f205), each read as a result of the same date and
 * status; else itself (a flag-only or value-less result still says something).
 */
function analyteResults(observation: Observation, valueSet: CodeIndex): Observation[] {
  const own = valueSet.match(observation.code) !== undefined;
  if (own && hasValue(observation)) return [observation];
  const components = asArray(observation.component).filter((c) => valueSet.match(c.code) !== undefined && hasValue(c));
  if (components.length > 0) {
    return components.map((c): Observation => ({
      ...observation,
      component: undefined,
      code: c.code,
      valueQuantity: c.valueQuantity,
      valueString: c.valueString,
      interpretation: c.interpretation,
      referenceRange: c.referenceRange,
    }));
  }
  return own ? [observation] : [];
}

/** A result whose status counts or is pending, with its effective time read once. */
export interface DatedResult {
  observation: Observation;
  time: number;
  /** Final, amended or corrected (else preliminary or registered: pending). */
  counting: boolean;
}

/**
 * The record's results that can decide (or be pending), dated: done once per request and shared by
 * every analyte, so each result's status and date are read once, not once per analyte. Results
 * with any other status, or without a readable date, never count.
 */
export function datedResults(observations: readonly Observation[]): DatedResult[] {
  const dated: DatedResult[] = [];
  for (const observation of observations) {
    const status = observation.status;
    if (typeof status !== 'string') continue;
    const counting = COUNTING_STATUS.has(status);
    if (!counting && !PENDING_STATUS.has(status)) continue;
    const time = parseFhirDate(observationDate(observation));
    if (time !== undefined) dated.push({ observation, time, counting });
  }
  return dated;
}

type Candidate = { o: Observation; time: number };

/** Newest first; among results of the same moment (the components of one panel), the lowest value first: the cautious reading. */
function newestFirst(a: Candidate, b: Candidate): number {
  return b.time - a.time || (a.o.valueQuantity?.value ?? Infinity) - (b.o.valueQuantity?.value ?? Infinity);
}

/**
 * docs/clinical-spec.md "Patient data and how it counts", Labs: the most recent counting result inside the look-back window decides.
 * Results whose unit cannot be converted are skipped, not guessed at, and reported. Among results of
 * the same moment (the components of one panel), the lowest value comes first: the cautious reading.
 * Over the record's results as datedResults gives them (once per request, for every analyte).
 */
export function latestLabOf(results: readonly DatedResult[], analyte: Analyte, valueSet: CodeIndex, now: number): LatestLab {
  const since = now - analyte.lookbackDays * DAY_MS;
  const counting: Candidate[] = [];
  const pendingResults: Candidate[] = [];
  // The window first (a number), the value set only for results inside it.
  for (const { observation, time, counting: counts } of results) {
    if (time < since) continue;
    for (const o of analyteResults(observation, valueSet)) (counts ? counting : pendingResults).push({ o, time });
  }
  counting.sort(newestFirst);
  pendingResults.sort(newestFirst);

  const unreadable: UnreadableLab[] = [];
  let decided: { reading: LabReading; time: number } | undefined;
  for (const { o, time } of counting) {
    const read = readObservation(o, analyte);
    if (!read) continue;
    if ('unreadable' in read) {
      unreadable.push(read.unreadable);
      continue;
    }
    decided = { reading: read.reading, time };
    break;
  }
  const pending = newestPending(pendingResults, analyte, decided?.time);
  return { ...(decided ? { reading: decided.reading } : {}), unreadable, ...(pending ? { pending } : {}) };
}

function newestPending(candidates: readonly Candidate[], analyte: Analyte, after: number | undefined): LatestLab['pending'] {
  for (const { o, time } of candidates) {
    if (after !== undefined && time <= after) return undefined;
    const read = readObservation(o, analyte);
    if (read && 'reading' in read && read.reading.measured) return { ...read.reading, status: o.status };
  }
  return undefined;
}
