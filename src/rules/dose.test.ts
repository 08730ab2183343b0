import type { Dosage, MedicationRequest, NutritionOrder, Quantity } from 'fhir/r4';
import { describe, expect, it } from 'vitest';
import { testCatalogue } from '../../test/helpers.js';
import { SYSTEM } from '../fhir/codings.js';
import { administrationsPerDay, dailyDose, doseGrams, gramsPerUnit, largestSingleDose, plannedDuration } from './dose.js';

const catalogue = testCatalogue();
const dosing = catalogue.dosing;
const ctx = { dosing };
const UCUM = 'http://unitsofmeasure.org';

function order(dosageInstruction: Dosage[], extra: Partial<MedicationRequest> = {}): MedicationRequest {
  return { resourceType: 'MedicationRequest', status: 'draft', intent: 'order', subject: { reference: 'Patient/1' }, dosageInstruction, ...extra };
}
const dose = (value: number, code: string, timing: Dosage['timing'], sequence?: number): Dosage => ({
  ...(sequence !== undefined ? { sequence } : {}),
  timing,
  doseAndRate: [{ doseQuantity: { value, system: UCUM, code } }],
});
const perDay = (frequency: number, period = 1, periodUnit: 'h' | 'd' | 'wk' | 'mo' = 'd') => ({ repeat: { frequency, period, periodUnit } });

describe('doseGrams: units', () => {
  it.each<[Quantity, number]>([
    [{ value: 5, code: 'g' }, 5],
    [{ value: 5, unit: 'gram' }, 5],
    [{ value: 10, unit: 'GM' }, 10],
    [{ value: 500, code: 'mg' }, 0.5],
    [{ value: 0.005, code: 'kg' }, 5],
    [{ value: 2, code: '{packet}' }, 10],
    [{ value: 1, unit: 'packet' }, 5],
    [{ value: 1, unit: 'sachet' }, 5],
  ])('%j → %s g', (quantity, grams) => {
    expect(doseGrams(quantity, ctx)?.grams).toBeCloseTo(grams, 9);
  });

  it('counts tablets and capsules by product strength, and only when it is known', () => {
    expect(doseGrams({ value: 4, code: '{tablet}' }, { dosing, gramsPerUnit: 0.5 })?.grams).toBe(2);
    expect(doseGrams({ value: 2, unit: 'capsule' }, { dosing, gramsPerUnit: 0.75 })?.grams).toBe(1.5);
    expect(doseGrams({ value: 1, code: '{pill}' }, { dosing, gramsPerUnit: 0.5 })?.grams).toBe(0.5);
    expect(doseGrams({ value: 4, code: '{tablet}' }, ctx)).toBeUndefined();
  });

  it('does not guess unknown units, missing or negative values', () => {
    expect(doseGrams({ value: 5, code: 'mL' }, ctx)).toBeUndefined();
    expect(doseGrams({ value: 5 }, ctx)).toBeUndefined();
    expect(doseGrams({ code: 'g' }, ctx)).toBeUndefined();
    expect(doseGrams({ value: -1, code: 'g' }, ctx)).toBeUndefined();
  });
});

describe('administrationsPerDay', () => {
  it.each([
    ['QD', 1],
    ['BID', 2],
    ['TID', 3],
    ['QID', 4],
    ['Q4H', 6],
    ['Q6H', 4],
    ['Q8H', 3],
    ['Q12H', 2],
    ['QOD', 0.5],
    ['QHS', 1],
    ['AM', 1],
    ['PM', 1],
    ['WK', 1 / 7],
  ])('timing.code %s → %s a day', (code, expected) => {
    const timing = { code: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation', code }] } };
    expect(administrationsPerDay(timing, dosing)?.perDay).toBeCloseTo(expected, 9);
  });

  it('reads the code from text or a bare string too', () => {
    expect(administrationsPerDay({ code: { text: 'bid' } }, dosing)?.perDay).toBe(2);
    expect(administrationsPerDay({ code: 'TID' } as never, dosing)?.perDay).toBe(3);
  });

  it.each([
    [perDay(2), 2],
    [perDay(1, 8, 'h'), 3],
    [perDay(3, 1, 'wk'), 3 / 7],
    [perDay(1, 1, 'mo'), 1 / 30],
    [{ repeat: { period: 1, periodUnit: 'd' as const } }, 1],
  ])('timing.repeat %j → %s a day', (timing, expected) => {
    expect(administrationsPerDay(timing, dosing)?.perDay).toBeCloseTo(expected, 9);
  });

  it('prefers timing.repeat over the code, and gives up without either', () => {
    expect(administrationsPerDay({ ...perDay(3), code: { text: 'BID' } }, dosing)?.perDay).toBe(3);
    expect(administrationsPerDay({ repeat: { frequency: 2 } }, dosing)).toBeUndefined();
    expect(administrationsPerDay({ code: { text: 'as directed' } }, dosing)).toBeUndefined();
    expect(administrationsPerDay(undefined, dosing)).toBeUndefined();
  });
});

describe('dailyDose', () => {
  it('multiplies dose by frequency', () => {
    expect(dailyDose(order([dose(10, 'g', perDay(4))]), ctx)).toEqual({ grams: 40, complete: true, working: '10 g 4 times a day' });
  });

  it('adds concurrent instructions (same sequence, or none)', () => {
    expect(dailyDose(order([dose(5, 'g', { code: { text: 'AM' } }), dose(10, 'g', { code: { text: 'QHS' } })]), ctx)?.grams).toBe(15);
    expect(dailyDose(order([dose(5, 'g', perDay(2), 1), dose(10, 'g', perDay(1), 1)]), ctx)?.grams).toBe(20);
  });

  it('takes the largest of sequential instructions (a titration)', () => {
    expect(dailyDose(order([dose(5, 'g', perDay(2), 1), dose(15, 'g', perDay(2), 2), dose(10, 'g', perDay(2), 3)]), ctx)?.grams).toBe(30);
  });

  it('gives a lower bound, marked incomplete, when an instruction cannot be read', () => {
    const result = dailyDose(order([dose(10, 'g', perDay(3)), dose(5, 'mL', perDay(1))]), ctx);
    expect(result).toMatchObject({ grams: 30, complete: false });
  });

  it('is undefined when no instruction can be read', () => {
    expect(dailyDose(order([dose(10, 'x-unknown-unit', perDay(2))]), ctx)).toBeUndefined();
    expect(dailyDose(order([]), ctx)).toBeUndefined();
  });

  it('counts a dose with no timing at all as at least once a day (revision 2, item 10)', () => {
    expect(dailyDose(order([dose(40, 'g', undefined)]), ctx)).toEqual({ grams: 40, complete: false, working: '40 g at least once a day (no timing given)' });
  });

  it('reads doseRange.high, an object-for-array doseAndRate, and STU3-style doseQuantity', () => {
    const range: Dosage = { timing: perDay(2), doseAndRate: [{ doseRange: { low: { value: 5, code: 'g' }, high: { value: 10, code: 'g' } } }] };
    expect(dailyDose(order([range]), ctx)?.grams).toBe(20);
    const objectForm = { timing: perDay(2), doseAndRate: { doseQuantity: { value: 5, code: 'g' } } } as unknown as Dosage;
    expect(dailyDose(order([objectForm]), ctx)?.grams).toBe(10);
    const stu3 = { timing: perDay(3), doseQuantity: { value: 5, code: 'g' } } as unknown as Dosage;
    expect(dailyDose(order([stu3]), ctx)?.grams).toBe(15);
  });

  it('reads a NutritionOrder supplement quantity and schedule', () => {
    const nutrition: NutritionOrder = {
      resourceType: 'NutritionOrder',
      status: 'draft',
      intent: 'order',
      patient: { reference: 'Patient/1' },
      dateTime: '2026-11-26',
      supplement: [{ productName: 'L-glutamine', quantity: { value: 10, code: 'g' }, schedule: [perDay(3)] }],
    };
    expect(dailyDose(nutrition, ctx)?.grams).toBe(30);
  });

  it('finds the largest single administration', () => {
    expect(largestSingleDose(order([dose(5, 'g', perDay(1)), dose(3, '{packet}', perDay(1))]), ctx)?.grams).toBe(15);
  });
});

describe('plannedDuration', () => {
  it('supply × (1 + repeats)', () => {
    const o = order([], { dispenseRequest: { expectedSupplyDuration: { value: 30, code: 'd' }, numberOfRepeatsAllowed: 5 } });
    expect(plannedDuration(o, dosing)).toEqual({ days: 180, source: '30-day supply × (1 + 5 repeats)' });
  });

  it('converts supply units', () => {
    expect(plannedDuration(order([], { dispenseRequest: { expectedSupplyDuration: { value: 4, unit: 'weeks' } } }), dosing)?.days).toBe(28);
    expect(plannedDuration(order([], { dispenseRequest: { expectedSupplyDuration: { value: 3, code: 'mo' } } }), dosing)?.days).toBe(90);
  });

  it('the validity period', () => {
    const o = order([], { dispenseRequest: { validityPeriod: { start: '2026-01-01', end: '2026-07-01' } } });
    expect(plannedDuration(o, dosing)).toEqual({ days: 181, source: 'prescription validity period' });
  });

  it('timing bounds as a duration or a period', () => {
    expect(plannedDuration(order([{ timing: { repeat: { boundsDuration: { value: 20, code: 'wk' } } } }]), dosing)).toEqual({
      days: 140,
      source: 'dosage bounds',
    });
    expect(plannedDuration(order([{ timing: { repeat: { boundsPeriod: { start: '2026-01-01', end: '2026-01-31' } } } }]), dosing)).toEqual({
      days: 30,
      source: 'dosage start and end dates',
    });
  });

  it('takes the longest source', () => {
    const o = order([{ timing: { repeat: { boundsDuration: { value: 8, code: 'wk' } } } }], {
      dispenseRequest: { expectedSupplyDuration: { value: 30, code: 'd' }, numberOfRepeatsAllowed: 3 },
    });
    expect(plannedDuration(o, dosing)?.days).toBe(120);
  });

  it('is undefined when the order says nothing about duration', () => {
    expect(plannedDuration(order([dose(5, 'g', perDay(2))]), dosing)).toBeUndefined();
    expect(plannedDuration(order([], { dispenseRequest: { expectedSupplyDuration: { value: 30, unit: 'fortnights' } } }), dosing)).toBeUndefined();
  });
});

describe('gramsPerUnit', () => {
  const isGlutamine = () => true;
  it('knows the strength of the coded tablets and capsules', () => {
    const concept = (code: string) => [{ coding: [{ system: SYSTEM.rxnorm, code }] }];
    expect(gramsPerUnit(concept('199153'), undefined, dosing, catalogue.productStrengths, isGlutamine)).toBe(0.5);
    expect(gramsPerUnit(concept('199866'), undefined, dosing, catalogue.productStrengths, isGlutamine)).toBe(0.5);
    expect(gramsPerUnit(concept('579958'), undefined, dosing, catalogue.productStrengths, isGlutamine)).toBe(0.75);
    expect(gramsPerUnit(concept('1869684'), undefined, dosing, catalogue.productStrengths, isGlutamine)).toBeUndefined();
  });

  it("reads a Medication's ingredient strength", () => {
    const medication = {
      resourceType: 'Medication' as const,
      ingredient: [
        { itemCodeableConcept: { text: 'glutamine' }, strength: { numerator: { value: 1000, code: 'mg' }, denominator: { value: 1, code: '{tablet}' } } },
      ],
    };
    expect(gramsPerUnit([], medication, dosing, catalogue.productStrengths, isGlutamine)).toBe(1);
  });
});
