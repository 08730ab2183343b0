import { describe, expect, it } from 'vitest';
import { comparatorText, formatRounded, humanUnit, isAbove, isBelow, parseMeasuredText, unitKey } from './quantities.js';

describe('unitKey', () => {
  it.each([
    ['µmol/L', 'umol/L'],
    ['μmol/L', 'umol/L'],
    ['mcmol/l', 'umol/L'],
    ['mcg/dL', 'ug/dL'],
    ['mL/min/{1.73_m2}', 'mL/min/1.73m2'],
    ['mL/min/1.73 m²', 'mL/min/1.73m2'],
  ])('%s is the same unit as %s', (a, b) => {
    expect(unitKey(a)).toBe(unitKey(b));
  });

  it('keeps different units apart', () => {
    expect(unitKey('mmol/L')).not.toBe(unitKey('umol/L'));
    expect(unitKey('mg/dL')).not.toBe(unitKey('ug/dL'));
  });
});

describe('parseMeasuredText', () => {
  it.each([
    ['60', { value: 60 }],
    ['>60', { value: 60, comparator: '>' }],
    ['> 90', { value: 90, comparator: '>' }],
    ['≥90', { value: 90, comparator: '>=' }],
    ['<5.5', { value: 5.5, comparator: '<' }],
    ['  >= 60  ', { value: 60, comparator: '>=' }],
  ])('%s', (text, expected) => {
    expect(parseMeasuredText(text)).toEqual(expected);
  });
  it.each(['', 'sixty', '60 mL/min', '>'])('rejects %j', (text) => {
    expect(parseMeasuredText(text)).toBeUndefined();
  });
  it('reads padded text, and rejects text longer than any measurement', () => {
    expect(parseMeasuredText(`${' '.repeat(65_000)}x`)).toBeUndefined();
    expect(parseMeasuredText(`${' '.repeat(65_000)}5 `)).toEqual({ value: 5 });
    expect(parseMeasuredText(`>${'0'.repeat(70)}5`)).toBeUndefined();
  });
});

describe('comparisons with bounds', () => {
  it('a plain value compares as itself', () => {
    expect(isBelow({ value: 29 }, 30)).toBe(true);
    expect(isBelow({ value: 30 }, 30)).toBe(false);
    expect(isAbove({ value: 36 }, 35, false)).toBe(true);
    expect(isAbove({ value: 35 }, 35, false)).toBe(false);
    expect(isAbove({ value: 70 }, 70, true)).toBe(true);
  });

  it('">60" is never below 60, "<15" is below 30', () => {
    expect(isBelow({ value: 60, comparator: '>' }, 60)).toBe(false);
    expect(isBelow({ value: 15, comparator: '<' }, 30)).toBe(true);
    expect(isBelow({ value: 30, comparator: '<' }, 30)).toBe(true);
    expect(isBelow({ value: 30, comparator: '<=' }, 30)).toBe(false);
  });

  it('an open bound is not guessed at', () => {
    expect(isBelow({ value: 20, comparator: '>' }, 30)).toBe(false);
    expect(isAbove({ value: 50, comparator: '<' }, 35, false)).toBe(false);
    expect(isAbove({ value: 35, comparator: '>' }, 35, false)).toBe(true);
  });
});

describe('text for people', () => {
  it('writes UCUM annotations without braces', () => {
    expect(humanUnit('mL/min/{1.73_m2}')).toBe('mL/min/1.73 m2');
    expect(humanUnit('{packet}')).toBe('packet');
    expect(humanUnit('umol/L')).toBe('umol/L');
  });
  it('rounds without trailing zeros, and writes ≤ and ≥', () => {
    expect(formatRounded(1.5, 2)).toBe('1.5');
    expect(formatRounded(40.88682632762795, 0)).toBe('41');
    expect([comparatorText('<='), comparatorText('>='), comparatorText('<'), comparatorText(undefined)]).toEqual(['≤', '≥', '<', '']);
  });
});
