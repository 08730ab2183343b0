import type { Indicator } from './catalogue-schema.js';

/** The patient's own data behind a finding, structured so cards can render it and tests can assert it. */
export type Evidence = ConditionEvidence | LabEvidence | MedicationEvidence | OrderEvidence;

export interface ConditionEvidence {
  kind: 'condition';
  display: string;
  /** Absent when the condition matched by name and carries no code. */
  system?: string;
  code?: string;
  /** Recorded or onset date as the record gives it (YYYY-MM-DD). */
  date?: string;
  dateLabel?: 'recorded' | 'onset';
  unconfirmed: boolean;
  /** Counted by a name in its text, not by a code of the value set: the card says so. */
  matchedByName?: boolean;
}

export interface LabEvidence {
  kind: 'lab';
  analyte: string;
  label: string;
  /** The value as reported, e.g. `>60` or `150`. */
  reported: string;
  reportedUnit?: string;
  /** The value in the analyte's canonical unit when it had to be converted. */
  converted?: { value: string; unit: string; basis?: string };
  unit: string;
  limit?: { value: string; unit: string; from: 'report' | 'default' };
  /** Interpretation flag when the decision rests on it (no value). */
  interpretation?: string;
  /** Set when the value was calculated rather than reported (eGFR from creatinine): from what. */
  calculatedFrom?: string;
  date?: string;
}

export interface MedicationEvidence {
  kind: 'medication';
  name: string;
  status?: string;
  origin: 'medication-request' | 'medication-statement' | 'draft-order';
  /** What taking it says about the patient ("cancer treatment"): the card reads "On <drug> (note)". */
  note?: string;
}

/** A fact about the glutamine order itself: its dose, duration, product or reason. */
export interface OrderEvidence {
  kind: 'order';
  label: string;
  value: string;
}

/** A rule that fired for one glutamine order. */
export interface Finding {
  ruleId: string;
  indicator: Indicator;
  /** Index of the tier that fired (the most urgent one that matched). */
  tier: number;
  /** Index, within that tier, of the first criterion that matched (for criterion-specific card text). */
  criterion: number;
  orderReference: string;
  evidence: Evidence[];
  /** The tier's words for this patient, when a condition on file changes them (textIfConditionNamed). */
  text?: { reason: string; advice: string };
}

/**
 * The kind of reason something went unchecked; the incomplete-data card's summary names these
 * (clinical-spec revision 2, item 18) with the words in cards/rules/incomplete-data.json.
 */
export const GAP_CAUSES = [
  'unavailable',
  'timeout',
  'budget',
  'unreadable-unit',
  'not-final',
  'not-calculated',
  'not-on-file',
  'unresolved-medication',
] as const;
export type GapCause = (typeof GAP_CAUSES)[number];

/** Something a rule needed and could not have. */
export interface DataGap {
  cause: GapCause;
  /** The data requirement key (`conditions`, `ammonia` …) or `medication-reference` / `lab-unit`. */
  key: string;
  description: string;
  /** Rule ids that could not be (fully) checked because of it. */
  rules: string[];
}

export function evidenceKey(e: Evidence): string {
  switch (e.kind) {
    case 'condition':
      return `c|${e.system ?? ''}|${e.code ?? e.display}|${e.date ?? ''}`;
    case 'lab':
      return `l|${e.analyte}|${e.reported}|${e.date ?? ''}`;
    case 'medication':
      return `m|${e.name}|${e.origin}`;
    case 'order':
      return `o|${e.label}|${e.value}`;
  }
}
