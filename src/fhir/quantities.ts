import type { Quantity } from 'fhir/r4';

/**
 * A unit written the way EHRs write it, reduced to a comparable key: micro signs and `mc` become
 * `u`, case, spaces, braces and underscores are dropped, `²` becomes `2`. So `µmol/L`, `umol/L` and
 * `mcmol/l` compare equal, and so do `mL/min/{1.73_m2}` and `mL/min/1.73 m²`.
 */
export function unitKey(unit: string): string {
  return unit
    .trim()
    .replace(/[\u00B5\u03BC]/g, 'u')
    .replace(/²/g, '2')
    .toLowerCase()
    .replace(/\bmc(?=(g|mol)\b)/g, 'u')
    .replace(/[\s{}_]/g, '');
}

/** The unit strings of a quantity: the UCUM `code` first, then the human `unit`. */
export function quantityUnits(quantity: Pick<Quantity, 'code' | 'unit'> | undefined): string[] {
  if (!quantity) return [];
  return [quantity.code, quantity.unit].filter((u): u is string => typeof u === 'string' && u.trim() !== '');
}

export type Comparator = '<' | '<=' | '>=' | '>';

/** A measured number, possibly only a bound (`>60`, `<5`). */
export interface Measured {
  value: number;
  comparator?: Comparator;
}

const COMPARATORS = new Set<string>(['<', '<=', '>=', '>']);

export function asComparator(value: unknown): Comparator | undefined {
  return typeof value === 'string' && COMPARATORS.has(value) ? (value as Comparator) : undefined;
}

/** Longer than any reported measurement such as ">= 1000.25": not a measurement. */
const MAX_MEASURED_TEXT = 64;

/** Reads "60", ">60", "< 5", "≥ 90" from text. */
export function parseMeasuredText(text: string): Measured | undefined {
  // Trimmed first, so that no two whitespace runs meet in the pattern (which made it quadratic).
  const trimmed = text.trim();
  if (trimmed.length > MAX_MEASURED_TEXT) return undefined;
  const m = /^(<=|>=|<|>|≤|≥)?\s*(\d+(?:\.\d+)?)$/.exec(trimmed);
  if (!m?.[2]) return undefined;
  const symbol = m[1] === '≤' ? '<=' : m[1] === '≥' ? '>=' : m[1];
  const comparator = asComparator(symbol);
  const value = Number(m[2]);
  return comparator ? { value, comparator } : { value };
}

/**
 * Whether a possibly-bounded measurement is certainly beyond a threshold. A bound that leaves the
 * answer open (`>20` against "below 30") is not counted: the rules never guess.
 */
export function isAbove(m: Measured, threshold: number, inclusive: boolean): boolean {
  switch (m.comparator) {
    case undefined:
      return inclusive ? m.value >= threshold : m.value > threshold;
    case '>':
      return m.value >= threshold;
    case '>=':
      return inclusive ? m.value >= threshold : m.value > threshold;
    default:
      return false;
  }
}

export function isBelow(m: Measured, threshold: number): boolean {
  switch (m.comparator) {
    case undefined:
      return m.value < threshold;
    case '<':
      return m.value <= threshold;
    case '<=':
      return m.value < threshold;
    default:
      return false;
  }
}

/** Comparators as people write them: `<=` as ≤, `>=` as ≥. */
export function comparatorText(comparator: Comparator | undefined): string {
  return comparator === '<=' ? '≤' : comparator === '>=' ? '≥' : (comparator ?? '');
}

/** A value rounded to `decimals` places for people, without trailing zeros (1.50 → 1.5). */
export function formatRounded(value: number, decimals: number): string {
  return String(Number(value.toFixed(decimals)));
}

/**
 * A UCUM code in human form: annotations lose their braces and underscores (`mL/min/{1.73_m2}` →
 * `mL/min/1.73 m2`), so no clinician reads a brace.
 */
export function humanUnit(unit: string): string {
  return unit.replace(/\{([^{}]{0,64})\}/g, (_m, annotation: string) => annotation.replace(/_/g, ' '));
}

export function formatNumber(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return String(Math.round(value * 10) / 10);
}
