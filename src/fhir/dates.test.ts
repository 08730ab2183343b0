import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { displayDate, parseFhirDate } from './dates.js';

describe('parseFhirDate', () => {
  it.each([
    ['2026-11-20', Date.UTC(2026, 10, 20)],
    ['2026-11', Date.UTC(2026, 10, 1)],
    ['2026', Date.UTC(2026, 0, 1)],
    ['2026-11-20T08:30:00Z', Date.UTC(2026, 10, 20, 8, 30)],
    ['2026-11-20T08:30:00.123+02:00', Date.UTC(2026, 10, 20, 6, 30, 0, 123)],
    ['2026-11-20T08:30:00', Date.UTC(2026, 10, 20, 8, 30)],
    ['2026-11-20T08:30', Date.UTC(2026, 10, 20, 8, 30)],
  ])('%s', (text, expected) => {
    expect(parseFhirDate(text)).toBe(expected);
  });
  it.each(['', 'yesterday', '2026-13-40', 20261120, null])('rejects %j', (value) => {
    expect(parseFhirDate(value)).toBeUndefined();
  });
});

describe('parseFhirDate on full date-times with a zone', () => {
  const two = (max: number) => fc.integer({ min: 0, max }).map((n) => String(n).padStart(2, '0'));
  const fullForm = fc
    .tuple(
      fc.integer({ min: 0, max: 9999 }).map((n) => String(n).padStart(4, '0')),
      two(14),
      two(33),
      two(25),
      two(61),
      two(61),
      fc.option(fc.stringMatching(/^\.[0-9]{0,7}$/), { nil: '' }),
      fc.oneof(
        fc.constant('Z'),
        fc.tuple(fc.constantFrom('+', '-'), two(25), two(61)).map(([sign, h, m]) => `${sign}${h}:${m}`),
      ),
    )
    .map(([y, mo, d, h, mi, s, fraction, zone]) => `${y}-${mo}-${d}T${h}:${mi}:${s}${fraction}${zone}`);

  it('reads them as Date.parse does, out-of-range fields and fractions of any length included', () => {
    fc.assert(
      fc.property(fullForm, (text) => {
        const parsed = Date.parse(text);
        expect(parseFhirDate(text)).toBe(Number.isNaN(parsed) ? undefined : parsed);
      }),
      { seed: 20, numRuns: 20_000 },
    );
  });

  it.each([
    ['2026-02-29T00:00:00Z', Date.UTC(2026, 2, 1)],
    ['2024-02-29T23:59:59.999-00:30', Date.UTC(2024, 2, 1, 0, 29, 59, 999)],
    ['2026-11-20T08:30:00.1234567Z', Date.UTC(2026, 10, 20, 8, 30, 0, 123)],
    ['0099-01-01T00:00:00Z', Date.parse('0099-01-01T00:00:00Z')],
  ])('%s', (text, expected) => {
    expect(parseFhirDate(text)).toBe(expected);
  });
});

describe('displayDate', () => {
  it('keeps the calendar date', () => {
    expect(displayDate('2026-11-20T08:30:00Z')).toBe('2026-11-20');
    expect(displayDate(undefined)).toBeUndefined();
    expect(displayDate(5)).toBeUndefined();
  });
});
