import { comparatorText, formatRounded } from '../fhir/quantities.js';
import type { Measured } from '../fhir/quantities.js';
import type { Analyte } from './catalogue-schema.js';

/**
 * A lab value as people read it (clinical-spec revision 2, item 21): eGFR and ammonia whole (one
 * decimal under 10), creatinine two decimals, weight one — the analyte's `display` says which —
 * with ≤ and ≥ for bounds. Never a raw float such as 40.88682632762795.
 */
export function formatLabValue(measured: Measured, analyte: Pick<Analyte, 'display'>): string {
  const { decimals, decimalsBelow10 } = analyte.display;
  const places = decimalsBelow10 !== undefined && Math.abs(measured.value) < 10 ? decimalsBelow10 : decimals;
  return `${comparatorText(measured.comparator)}${formatRounded(measured.value, places)}`;
}
