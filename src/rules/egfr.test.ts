import { describe, expect, it } from 'vitest';
import { ageInYears, ckdEpi2021 } from './egfr.js';

describe('ckdEpi2021', () => {
  // Expected values from an independent implementation of the published equation (Python), rounded.
  // 50-year-old man, Scr 1.0 mg/dL → 92 matches the commonly quoted CKD-EPI 2021 example.
  it.each([
    [1.0, 50, 'male', 91.7],
    [1.0, 50, 'female', 68.6],
    [0.6, 30, 'female', 123.8],
    [2.5, 70, 'male', 27.0],
    [3.0, 80, 'female', 15.2],
  ] as const)('Scr %s mg/dL, %s years, %s → %s', (scr, age, sex, expected) => {
    expect(ckdEpi2021(scr, age, sex)).toBeCloseTo(expected, 1);
  });

  it('falls as creatinine rises and with age', () => {
    expect(ckdEpi2021(2, 60, 'male')).toBeLessThan(ckdEpi2021(1, 60, 'male'));
    expect(ckdEpi2021(1, 80, 'male')).toBeLessThan(ckdEpi2021(1, 40, 'male'));
  });
});

describe('ageInYears', () => {
  it('counts whole years, turning on the birthday', () => {
    expect(ageInYears(Date.UTC(1968, 3, 2), Date.UTC(2026, 3, 1))).toBe(57);
    expect(ageInYears(Date.UTC(1968, 3, 2), Date.UTC(2026, 3, 2))).toBe(58);
  });
});
