import type { Observation } from 'fhir/r4';
import { describe, expect, it } from 'vitest';
import { testCatalogue } from '../../test/helpers.js';
import type { CodeIndex } from '../fhir/codings.js';
import { SYSTEM } from '../fhir/codings.js';
import { DAY_MS } from '../fhir/dates.js';
import type { Analyte } from './catalogue-schema.js';
import { datedResults, latestLabOf, observationDate } from './labs.js';
import type { LatestLab } from './labs.js';

const catalogue = testCatalogue();

/** The latest result of an analyte among these observations, as RequestData reads it. */
function latestLab(observations: readonly Observation[], analyte: Analyte, valueSet: CodeIndex, now: number): LatestLab {
  return latestLabOf(datedResults(observations), analyte, valueSet, now);
}
const NOW = Date.parse('2026-11-26T12:00:00Z');

function analyte(id: string): { analyte: Analyte; codes: CodeIndex } {
  const a = catalogue.analytes.get(id);
  const vs = a && catalogue.valueSets.get(a.valueSet);
  if (!a || !vs) throw new Error(`no analyte ${id}`);
  return { analyte: a, codes: vs.codes };
}

function obs(code: string, daysAgo: number, value: Partial<Observation>, status: Observation['status'] = 'final'): Observation {
  return {
    resourceType: 'Observation',
    status,
    code: { coding: [{ system: SYSTEM.loinc, code }] },
    effectiveDateTime: new Date(NOW - daysAgo * DAY_MS).toISOString(),
    ...value,
  };
}

const ammonia = analyte('ammonia');
const egfr = analyte('egfr');
const creatinine = analyte('creatinine');
const weight = analyte('bodyWeight');

function ammoniaValue(o: Observation[]): number | undefined {
  return latestLab(o, ammonia.analyte, ammonia.codes, NOW).reading?.measured?.value;
}

describe('latestLab: which result decides', () => {
  it('takes the most recent counting result inside the window', () => {
    const result = latestLab(
      [obs('16362-6', 3, { valueQuantity: { value: 40, code: 'umol/L' } }), obs('16362-6', 1, { valueQuantity: { value: 20, code: 'umol/L' } })],
      ammonia.analyte,
      ammonia.codes,
      NOW,
    );
    expect(result.reading?.measured).toEqual({ value: 20 });
  });

  it('ammonia looks back 30 days; eGFR 90', () => {
    expect(ammoniaValue([obs('16362-6', 29.9, { valueQuantity: { value: 50, code: 'umol/L' } })])).toBe(50);
    expect(ammoniaValue([obs('16362-6', 30.1, { valueQuantity: { value: 50, code: 'umol/L' } })])).toBeUndefined();
    const inWindow = latestLab([obs('98979-8', 89, { valueQuantity: { value: 25, code: 'mL/min/{1.73_m2}' } })], egfr.analyte, egfr.codes, NOW);
    expect(inWindow.reading?.measured?.value).toBe(25);
    const outside = latestLab([obs('98979-8', 91, { valueQuantity: { value: 25, code: 'mL/min/{1.73_m2}' } })], egfr.analyte, egfr.codes, NOW);
    expect(outside.reading).toBeUndefined();
  });

  it.each(['final', 'amended', 'corrected'] as const)('counts status %s', (status) => {
    expect(ammoniaValue([obs('16362-6', 1, { valueQuantity: { value: 50, code: 'umol/L' } }, status)])).toBe(50);
  });

  it.each(['preliminary', 'registered', 'cancelled', 'entered-in-error', 'unknown'] as const)('ignores status %s', (status) => {
    expect(ammoniaValue([obs('16362-6', 1, { valueQuantity: { value: 50, code: 'umol/L' } }, status)])).toBeUndefined();
  });

  it('ignores other tests', () => {
    expect(ammoniaValue([obs('2160-0', 1, { valueQuantity: { value: 50, code: 'umol/L' } })])).toBeUndefined();
  });

  it('dates a result by effectiveDateTime, effectiveInstant, effectivePeriod end or start, else issued', () => {
    expect(observationDate({ resourceType: 'Observation', status: 'final', code: {}, effectiveInstant: '2026-01-01T00:00:00Z' })).toBe('2026-01-01T00:00:00Z');
    expect(observationDate({ resourceType: 'Observation', status: 'final', code: {}, effectivePeriod: { start: '2026-01-01', end: '2026-01-02' } })).toBe(
      '2026-01-02',
    );
    expect(observationDate({ resourceType: 'Observation', status: 'final', code: {}, effectivePeriod: { start: '2026-01-01' } })).toBe('2026-01-01');
    expect(observationDate({ resourceType: 'Observation', status: 'final', code: {}, issued: '2026-01-03T00:00:00Z' })).toBe('2026-01-03T00:00:00Z');
  });
});

describe('latestLab: units (docs/clinical-spec.md "Units")', () => {
  it.each([
    [{ value: 50, code: 'umol/L' }, 50],
    [{ value: 50, unit: 'µmol/L' }, 50],
    [{ value: 50, unit: 'mcmol/L' }, 50],
    [{ value: 0.05, code: 'mmol/L' }, 50],
    [{ value: 100, code: 'ug/dL' }, 58.7],
    [{ value: 100, unit: 'mcg/dL' }, 58.7],
    [{ value: 100, unit: 'µg/dL as N' }, 71.4],
  ])('ammonia %j → %s µmol/L', (quantity, expected) => {
    expect(ammoniaValue([obs('16362-6', 1, { valueQuantity: quantity })])).toBeCloseTo(expected, 5);
  });

  it('uses the nitrogen basis when the test itself says "nitrogen"', () => {
    const o = obs('22763-7', 1, { valueQuantity: { value: 100, code: 'ug/dL' } });
    o.code = { text: 'Ammonia nitrogen', coding: [{ system: SYSTEM.loinc, code: '22763-7' }] };
    const result = latestLab([o], ammonia.analyte, ammonia.codes, NOW);
    expect(result.reading?.measured?.value).toBeCloseTo(71.4, 5);
    expect(result.reading?.conversion?.basis).toBe('as ammonia nitrogen (14.01 g/mol)');
  });

  it('creatinine µmol/L ÷ 88.4; weight lb × 0.4536 and g ÷ 1000', () => {
    const cr = latestLab([obs('14682-9', 1, { valueQuantity: { value: 88.4, code: 'umol/L' } })], creatinine.analyte, creatinine.codes, NOW);
    expect(cr.reading?.measured?.value).toBeCloseTo(1, 6);
    const lb = latestLab([obs('29463-7', 1, { valueQuantity: { value: 100, code: '[lb_av]' } })], weight.analyte, weight.codes, NOW);
    expect(lb.reading?.measured?.value).toBeCloseTo(45.36, 6);
    const g = latestLab([obs('29463-7', 1, { valueQuantity: { value: 70500, code: 'g' } })], weight.analyte, weight.codes, NOW);
    expect(g.reading?.measured?.value).toBeCloseTo(70.5, 6);
  });

  // Clinical-spec revision 2, item 1: eGFR codes are per 1.73 m² by definition.
  it.each(['mL/min', 'ML/MIN', 'mL/min/1.73m2', 'mL/min/1.73m^2', 'mL/min/1.73 m2', 'mL/min/1.73 sq.m', 'mL/min/{1.73_m2}', 'mL/min/BSA'])(
    'reads an eGFR in %s as mL/min/1.73 m², shown in that human form',
    (code) => {
      const result = latestLab([obs('33914-3', 1, { valueQuantity: { value: 5, code, unit: code } })], egfr.analyte, egfr.codes, NOW);
      expect(result.reading?.measured).toEqual({ value: 5 });
      expect(result.reading?.reportedUnit).toBe('mL/min/1.73 m²');
      expect(result.unreadable).toEqual([]);
    },
  );

  it('still refuses a different dimension on an eGFR code', () => {
    const result = latestLab([obs('33914-3', 1, { valueQuantity: { value: 1.2, code: 'mg/dL' } })], egfr.analyte, egfr.codes, NOW);
    expect(result.reading).toBeUndefined();
    expect(result.unreadable.map((u) => u.unit)).toEqual(['mg/dL']);
  });

  it('reads an eGFR reported only in components (FHIR example f205): the lower of two', () => {
    const panel = obs('33914-3', 1, {
      component: [
        { code: { coding: [{ system: SYSTEM.loinc, code: '48643-1' }] }, valueQuantity: { value: 60, comparator: '>', code: 'mL/min/{1.73_m2}' } },
        { code: { coding: [{ system: SYSTEM.loinc, code: '48642-3' }] }, valueQuantity: { value: 52, code: 'mL/min/{1.73_m2}' } },
        { code: { coding: [{ system: SYSTEM.loinc, code: '2160-0' }] }, valueQuantity: { value: 1.1, code: 'mg/dL' } },
      ],
    });
    expect(latestLab([panel], egfr.analyte, egfr.codes, NOW).reading?.measured).toEqual({ value: 52 });
    // Any analyte in a component counts the same way: here the panel's creatinine.
    expect(latestLab([panel], creatinine.analyte, creatinine.codes, NOW).reading?.measured).toEqual({ value: 1.1 });
  });

  it('shows values rounded for people (revision 2, item 21)', () => {
    const read = (a: typeof egfr, code: string, value: number, unit: string) =>
      latestLab([obs(code, 1, { valueQuantity: { value, code: unit } })], a.analyte, a.codes, NOW).reading?.reported;
    expect(read(egfr, '98979-8', 40.88682632762795, 'mL/min/{1.73_m2}')).toBe('41');
    expect(read(egfr, '98979-8', 7.25, 'mL/min/{1.73_m2}')).toBe('7.3');
    expect(read(ammonia, '16362-6', 52.4, 'umol/L')).toBe('52');
    expect(read(creatinine, '2160-0', 1.23456, 'mg/dL')).toBe('1.23');
    expect(read(weight, '29463-7', 70.26, 'kg')).toBe('70.3');
  });

  it('reads eGFR text values such as ">60" as a bound', () => {
    const result = latestLab([obs('62238-1', 1, { valueString: '>60' })], egfr.analyte, egfr.codes, NOW);
    expect(result.reading?.measured).toEqual({ value: 60, comparator: '>' });
    expect(result.reading?.reported).toBe('>60');
  });

  it('keeps a quantity comparator', () => {
    const result = latestLab([obs('98979-8', 1, { valueQuantity: { value: 90, comparator: '>', code: 'mL/min/{1.73_m2}' } })], egfr.analyte, egfr.codes, NOW);
    expect(result.reading?.measured).toEqual({ value: 90, comparator: '>' });
  });

  it('does not guess an unconvertible unit: skips it, reports it, lets the older readable result decide', () => {
    const result = latestLab(
      [
        obs('16362-6', 1, { valueQuantity: { value: 3, code: 'mg/L' } }),
        obs('16362-6', 5, { valueQuantity: { value: 20, code: 'umol/L' } }),
        obs('16362-6', 2, { valueQuantity: { value: 9 } }),
      ],
      ammonia.analyte,
      ammonia.codes,
      NOW,
    );
    expect(result.reading?.measured?.value).toBe(20);
    expect(result.unreadable.map((u) => u.unit)).toEqual(['mg/L', undefined]);
  });

  it('does not read text values for ammonia (the unit is unknown)', () => {
    const result = latestLab([obs('16362-6', 1, { valueString: '80' })], ammonia.analyte, ammonia.codes, NOW);
    expect(result.reading).toBeUndefined();
    expect(result.unreadable).toHaveLength(1);
  });
});

describe('latestLab: upper limit', () => {
  it("uses the report's own reference range, converted", () => {
    const o = obs('22763-7', 1, {
      valueQuantity: { value: 100, code: 'ug/dL' },
      referenceRange: [{ low: { value: 15, code: 'ug/dL' }, high: { value: 60, code: 'ug/dL' } }],
    });
    const result = latestLab([o], ammonia.analyte, ammonia.codes, NOW);
    expect(result.reading?.upperLimit?.from).toBe('report');
    expect(result.reading?.upperLimit?.value).toBeCloseTo(35.22, 5);
  });

  it('reads a limit without a unit in the unit of the result', () => {
    const o = obs('16362-6', 1, { valueQuantity: { value: 50, code: 'umol/L' }, referenceRange: [{ high: { value: 72 } }] });
    expect(latestLab([o], ammonia.analyte, ammonia.codes, NOW).reading?.upperLimit).toEqual({ value: 72, from: 'report' });
  });

  it('falls back to 35 µmol/L without a usable reference range', () => {
    const o = obs('16362-6', 1, { valueQuantity: { value: 50, code: 'umol/L' }, referenceRange: [{ text: 'see lab' }] });
    expect(latestLab([o], ammonia.analyte, ammonia.codes, NOW).reading?.upperLimit).toEqual({ value: 35, from: 'default' });
  });

  it('keeps an interpretation-only result (no value) so a high flag can decide', () => {
    const o = obs('16362-6', 1, { interpretation: [{ coding: [{ code: 'H' }] }], dataAbsentReason: { text: 'hemolysed' } });
    const reading = latestLab([o], ammonia.analyte, ammonia.codes, NOW).reading;
    expect(reading?.measured).toBeUndefined();
    expect(reading?.interpretations).toEqual(['H']);
  });
});

describe('latestLab: unit with a basis note', () => {
  it.each(['µg/dL as N', 'ug/dL (as N)', 'ug/dL NH3-N', 'mcg/dL as nitrogen'])('%s is read as µg/dL on the nitrogen basis', (unit) => {
    expect(ammoniaValue([obs('16362-6', 1, { valueQuantity: { value: 100, unit } })])).toBeCloseTo(71.4, 5);
  });
  it('takes a unit longer than 64 characters as unreadable, reported like any other', () => {
    const unit = `umol/L${' '.repeat(3_000)}as N`;
    const result = latestLab([obs('16362-6', 1, { valueQuantity: { value: 100, unit } })], ammonia.analyte, ammonia.codes, NOW);
    expect(result.reading).toBeUndefined();
    expect(result.unreadable.map((u) => u.unit)).toEqual([unit]);
  });
});
