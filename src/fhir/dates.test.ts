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

describe('displayDate', () => {
  it('keeps the calendar date', () => {
    expect(displayDate('2026-11-20T08:30:00Z')).toBe('2026-11-20');
    expect(displayDate(undefined)).toBeUndefined();
    expect(displayDate(5)).toBeUndefined();
  });
});
