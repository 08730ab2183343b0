import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { testCatalogue } from '../../test/helpers.js';

/**
 * Every conversion factor in cards/analytes.json, cross-checked against a real UCUM engine
 * (@lhncbc/ucum-lhc, the NLM's), with molecular weights where mass and moles meet. The service's own
 * table stays the runtime path; this catches a factor typed wrong.
 */

interface UcumResult {
  status: string;
  toVal: number | null;
  msg: string[];
}
interface UcumUtils {
  convertUnitTo(from: string, value: number, to: string, options?: { molecularWeight?: number }): UcumResult;
  validateUnitString(unit: string): { status: string };
}
const { UcumLhcUtils } = createRequire(import.meta.url)('@lhncbc/ucum-lhc') as { UcumLhcUtils: { getInstance(): UcumUtils } };
const ucum = UcumLhcUtils.getInstance();

/** The analyte's canonical unit as a UCUM code. */
const CANONICAL: Record<string, string> = { ammonia: 'umol/L', egfr: 'mL/min/{1.73_m2}', creatinine: 'mg/dL', bodyWeight: 'kg' };

/** g/mol: NH3 17.031 (N 14.007 for the nitrogen basis), creatinine 113.12. */
const MOLECULAR_WEIGHT: Record<string, { base: number; nitrogen?: number }> = { ammonia: { base: 17.031, nitrogen: 14.007 }, creatinine: { base: 113.12 } };

/**
 * How EHRs write units that are not UCUM codes, and the UCUM code each means. A spelling listed
 * here must indeed be rejected by UCUM (so this list cannot hide a real code).
 */
const NOT_UCUM: Record<string, string> = {
  'µmol/L': 'umol/L',
  'mcmol/L': 'umol/L',
  'µg/dL': 'ug/dL',
  'mcg/dL': 'ug/dL',
  lb: '[lb_av]',
  lbs: '[lb_av]',
  'mL/min/1.73m2': 'mL/min/{1.73_m2}',
  'mL/min/1.73 m2': 'mL/min/{1.73_m2}',
  'mL/min/1.73m^2': 'mL/min/{1.73_m2}',
  'mL/min/1.73 sq.m': 'mL/min/{1.73_m2}',
  'mL/min/BSA': 'mL/min/{1.73_m2}',
};

const catalogue = testCatalogue();
const cases = [...catalogue.analytes.values()].flatMap((analyte) =>
  analyte.conversions.flatMap((conversion) =>
    conversion.units.map((unit) => ({ analyte: analyte.id, unit, factor: conversion.factor, nitrogen: conversion.nitrogen?.factor })),
  ),
);

describe('cards/analytes.json conversion factors against UCUM (@lhncbc/ucum-lhc)', () => {
  // The library prints every rejected unit string; the rejections are asserted, not read.
  beforeAll(() => {
    vi.spyOn(console, 'log').mockImplementation(() => undefined);
  });
  afterAll(() => {
    vi.restoreAllMocks();
  });

  it('covers every unit of every analyte', () => {
    expect(cases.length).toBeGreaterThan(20);
    for (const c of cases) expect(CANONICAL[c.analyte], c.analyte).toBeDefined();
  });

  it.each(cases)('$analyte: 1 $unit = $factor × the canonical unit', ({ analyte, unit, factor, nitrogen }) => {
    const code = NOT_UCUM[unit] ?? unit;
    if (NOT_UCUM[unit] !== undefined) expect(ucum.validateUnitString(unit).status, `${unit} is listed as not UCUM`).not.toBe('valid');
    const weights = MOLECULAR_WEIGHT[analyte];
    const convert = (molecularWeight?: number) =>
      ucum.convertUnitTo(code, 1, CANONICAL[analyte] ?? '', molecularWeight === undefined ? {} : { molecularWeight });
    const plain = convert();
    // Mass ↔ moles needs the molecular weight; UCUM refuses without it.
    const result = plain.status === 'succeeded' ? plain : convert(weights?.base);
    expect(result.status, result.msg.join('; ')).toBe('succeeded');
    expect((result.toVal ?? NaN) / factor).toBeCloseTo(1, 2);
    if (nitrogen !== undefined) {
      const asNitrogen = convert(weights?.nitrogen);
      expect(asNitrogen.status).toBe('succeeded');
      expect((asNitrogen.toVal ?? NaN) / nitrogen).toBeCloseTo(1, 2);
    }
  });
});
