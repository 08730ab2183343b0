import type { Evidence } from '../rules/evidence.js';
import { escapeMarkdown } from './markdown.js';

/** One line of a card's evidence list: the patient's own data, in plain words (markdown-escaped). */
const ORIGIN_TEXT: Record<Extract<Evidence, { kind: 'medication' }>['origin'], string> = {
  'medication-request': 'medication order',
  'medication-statement': 'medication statement',
  'draft-order': 'ordered in this session',
};

export function evidenceLine(e: Evidence): string {
  switch (e.kind) {
    case 'condition': {
      const when = e.date ? `, ${e.dateLabel ?? 'recorded'} ${e.date}` : '';
      const code = e.code ? ` — ${e.system ?? ''} ${escapeMarkdown(e.code)}` : '';
      return `${escapeMarkdown(e.display)}${e.unconfirmed ? ' (unconfirmed)' : ''}${e.matchedByName ? ' (matched by name)' : ''}${code}${when}`;
    }
    case 'lab': {
      const value = e.interpretation
        ? `flagged ${escapeMarkdown(e.interpretation)} (no value reported)`
        : `${escapeMarkdown(e.reported)} ${escapeMarkdown(e.reportedUnit ?? e.unit)}`;
      const converted = e.converted ? ` (= ${e.converted.value} ${e.converted.unit}${e.converted.basis ? `, ${e.converted.basis}` : ''})` : '';
      const limit = e.limit
        ? `; upper limit ${e.limit.value} ${e.limit.unit}${e.limit.from === 'report' ? ' from the report' : ' (default, no reference range reported)'}`
        : '';
      const calculated = e.calculatedFrom ? ` — ${escapeMarkdown(e.calculatedFrom)}` : '';
      return `${escapeMarkdown(e.label)}: ${value}${converted}${e.date && !e.calculatedFrom ? ` on ${e.date}` : ''}${limit}${calculated}`;
    }
    case 'medication': {
      const name = e.note ? `On ${escapeMarkdown(e.name)} (${escapeMarkdown(e.note)})` : escapeMarkdown(e.name);
      return `${name} — ${ORIGIN_TEXT[e.origin]}${e.status && e.origin !== 'draft-order' ? ` (${escapeMarkdown(e.status)})` : ''}`;
    }
    case 'order':
      return `${e.label}: ${escapeMarkdown(e.value)}`;
  }
}
