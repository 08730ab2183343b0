import type { CodeableConcept, Condition } from 'fhir/r4';
import { conceptLabel, systemName } from '../fhir/codings.js';
import type { CodeIndex } from '../fhir/codings.js';
import { displayDate } from '../fhir/dates.js';
import { asArray, nonEmptyString } from '../fhir/tolerant.js';
import type { ConditionEvidence } from './evidence.js';

const ACTIVE = new Set(['active', 'recurrence', 'relapse']);
const EXCLUDED_VERIFICATION = new Set(['refuted', 'entered-in-error']);
const UNCONFIRMED = new Set(['unconfirmed', 'provisional', 'differential']);

function statusCodes(concept: CodeableConcept | undefined): string[] {
  return asArray(concept?.coding)
    .map((c) => c.code)
    .filter((c): c is string => typeof c === 'string');
}

const ABATEMENT_FIELDS = ['abatementDateTime', 'abatementAge', 'abatementPeriod', 'abatementRange', 'abatementString', 'abatementBoolean'] as const;

/** `abatementBoolean` is STU3's; some feeds still send it. */
function hasAbatement(condition: Condition & { abatementBoolean?: unknown }): boolean {
  return ABATEMENT_FIELDS.some((field) => {
    // Messy feeds send null here; only a present, non-false value says the condition abated.
    const value: unknown = condition[field];
    return value !== undefined && value !== null && value !== false;
  });
}

/**
 * docs/clinical-spec.md "Patient data and how it counts": a condition counts when clinicalStatus is active, recurrence or
 * relapse (or absent with no abatement), and verificationStatus is not refuted or entered-in-error.
 */
export function conditionCounts(condition: Condition): boolean {
  const verification = statusCodes(condition.verificationStatus);
  if (verification.some((code) => EXCLUDED_VERIFICATION.has(code))) return false;
  const clinical = statusCodes(condition.clinicalStatus);
  if (clinical.length === 0) return !hasAbatement(condition);
  return clinical.some((code) => ACTIVE.has(code));
}

/**
 * Problem-list text that denies the finding it names (clinical-spec revision 2, item 6): "no …",
 * "not …", "… ruled out", "history of … resolved". Such text never counts by name.
 */
export function isNegatedFinding(text: string): boolean {
  if (NEGATION_CUES.some((cue) => cue.test(text))) return true;
  // "history of … resolved" by position, not by a pattern that could backtrack over long text.
  const lower = text.toLowerCase();
  const history = lower.indexOf('history of');
  return history >= 0 && lower.indexOf('resolved', history) >= 0;
}

const NEGATION_CUES = [/(?:^|[^\p{L}])(?:no|not)\s/iu, /\bruled\s+out\b/i];

export function isUnconfirmed(condition: Condition): boolean {
  return statusCodes(condition.verificationStatus).some((code) => UNCONFIRMED.has(code));
}

/** The counting conditions with a coding in the value set, as evidence (one item per condition). */
export function findConditions(conditions: readonly Condition[], valueSet: CodeIndex): ConditionEvidence[] {
  return findAmongCounting(conditions.filter(conditionCounts), valueSet);
}

/** As findConditions, for conditions already known to count (filtered once per request). */
export function findAmongCounting(counting: readonly Condition[], valueSet: CodeIndex): ConditionEvidence[] {
  const found: ConditionEvidence[] = [];
  for (const condition of counting) {
    const coding = valueSet.match(condition.code);
    if (!coding?.code) continue;
    const recorded = displayDate(condition.recordedDate);
    const onset = displayDate(condition.onsetDateTime ?? condition.onsetPeriod?.start);
    const display = nonEmptyString(coding.display) ?? conceptLabel(condition.code) ?? valueSet.lookup(coding)?.display ?? coding.code;
    found.push({
      kind: 'condition',
      display,
      system: systemName(coding.system),
      code: coding.code,
      ...(onset ? { date: onset, dateLabel: 'onset' as const } : recorded ? { date: recorded, dateLabel: 'recorded' as const } : {}),
      unconfirmed: isUnconfirmed(condition),
    });
  }
  return found;
}
