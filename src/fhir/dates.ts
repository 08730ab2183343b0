/**
 * FHIR date, dateTime and instant values to epoch milliseconds. Partial dates (`2024`, `2024-05`)
 * are read as their first instant; a value without a zone is read as UTC.
 */
const FHIR_DATE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

const DIGIT_0 = 0x30;
const FRACTION_SCALE = [100, 10, 1];

/** The number written by the `count` digits at `at`; -1 if any is not a digit. */
function digitsAt(text: string, at: number, count: number): number {
  let value = 0;
  for (let i = at; i < at + count; i++) {
    const digit = text.charCodeAt(i) - DIGIT_0;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/**
 * The common full form with a zone (2026-11-20T08:30:00Z, …08:30:00.123+01:00) read digit by digit:
 * a record's hundreds of dates are read on every hook call, and Date.parse was a tenth of it. Only
 * values inside the ordinary ranges are read here (year 100 and later, month 1–12, day 1–31, hour
 * 0–23, minute and second 0–59, zone up to ±23:59); anything else is left to Date.parse, whose
 * readings these agree with (a property test compares the two).
 */
function fullInstant(value: string): number | undefined {
  if (value.length < 20 || value[4] !== '-' || value[7] !== '-' || value[10] !== 'T' || value[13] !== ':' || value[16] !== ':') return undefined;
  const year = digitsAt(value, 0, 4);
  const month = digitsAt(value, 5, 2);
  const day = digitsAt(value, 8, 2);
  const hour = digitsAt(value, 11, 2);
  const minute = digitsAt(value, 14, 2);
  const second = digitsAt(value, 17, 2);
  // Date.UTC reads years below 100 as 1900 + year.
  if (year < 100 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) {
    return undefined;
  }
  let at = 19;
  let ms = 0;
  if (value[at] === '.') {
    const start = ++at;
    for (; at < value.length; at++) {
      const digit = value.charCodeAt(at) - DIGIT_0;
      if (digit < 0 || digit > 9) break;
      // Milliseconds are the first three digits; the rest are dropped, as Date.parse drops them.
      ms += digit * (FRACTION_SCALE[at - start] ?? 0);
    }
    if (at === start) return undefined;
  }
  let offsetMinutes = 0;
  if (value[at] === 'Z' && at + 1 === value.length) offsetMinutes = 0;
  else if ((value[at] === '+' || value[at] === '-') && at + 6 === value.length && value[at + 3] === ':') {
    const hours = digitsAt(value, at + 1, 2);
    const minutes = digitsAt(value, at + 4, 2);
    if (hours < 0 || hours > 23 || minutes < 0 || minutes > 59) return undefined;
    offsetMinutes = (value[at] === '+' ? 1 : -1) * (hours * 60 + minutes);
  } else return undefined;
  return daysFromCivil(year, month, day) * DAY_MS + ((hour * 60 + minute - offsetMinutes) * 60 + second) * 1000 + ms;
}

/**
 * Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil), in integer
 * arithmetic: Date.UTC cost more than the rest of reading a date. A day past the month's end runs on
 * into the next month, as Date.UTC and Date.parse do.
 */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

export function parseFhirDate(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const full = fullInstant(value);
  if (full !== undefined) return full;
  // Other full forms with a zone Date.parse reads exactly; partial dates and zone-less times go
  // through the pattern below (read as UTC).
  if (value.length >= 20 && value[10] === 'T' && value[4] === '-' && (value.endsWith('Z') || value[value.length - 3] === ':')) {
    const ms = Date.parse(value);
    if (!Number.isNaN(ms)) return ms;
  }
  const m = FHIR_DATE.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo = '01', d = '01', h = '00', mi = '00', s = '00', zone = 'Z'] = m;
  const ms = Date.parse(`${y ?? ''}-${mo}-${d}T${h}:${mi}:${s}${zone}`);
  return Number.isNaN(ms) ? undefined : ms;
}

/** The calendar date part of a FHIR date/dateTime, for display (`2024-05-01`). */
export function displayDate(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  return value.slice(0, 10);
}

export const DAY_MS = 24 * 60 * 60 * 1000;
