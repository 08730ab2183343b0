/**
 * FHIR date, dateTime and instant values to epoch milliseconds. Partial dates (`2024`, `2024-05`)
 * are read as their first instant; a value without a zone is read as UTC.
 */
const FHIR_DATE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

export function parseFhirDate(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
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
