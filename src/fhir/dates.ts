/**
 * FHIR date, dateTime and instant values to epoch milliseconds. Partial dates (`2024`, `2024-05`)
 * are read as their first instant; a value without a zone is read as UTC.
 */
const FHIR_DATE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

export function parseFhirDate(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  // Fast path for the common full form with a zone (2026-11-20T08:30:00Z, …+01:00): Date.parse reads
  // it exactly; partial dates and zone-less times go through the pattern below (read as UTC).
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
