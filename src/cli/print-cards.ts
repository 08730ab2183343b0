import { styleText } from 'node:util';
import type { Card } from '../cds/card-schema.js';

type Style = Parameters<typeof styleText>[0];

const INDICATOR_STYLE: Record<Card['indicator'], Style> = { critical: ['bold', 'red'], warning: ['bold', 'yellow'], info: ['bold', 'cyan'] };

/** Card markdown as plain text: bold markers and escapes removed, for a terminal. */
function plainText(markdown: string): string {
  return markdown.replace(/\*\*/g, '').replace(/\\([\\`*_[\]|<>~])/g, '$1');
}

/** Cards as a clinician would read them, one block per card; colour only when asked. */
export function printCards(title: string, cards: readonly Card[], color: boolean): string {
  const paint = (style: Style, text: string): string => (color ? styleText(style, text) : text);
  const lines = [paint('bold', `${title} — ${cards.length === 0 ? 'no cards' : `${cards.length} card${cards.length === 1 ? '' : 's'}`}`)];
  for (const card of cards) {
    lines.push('');
    lines.push(
      `  ${paint(INDICATOR_STYLE[card.indicator], card.indicator.toUpperCase().padEnd(8))} ${card.summary}  ${paint('dim', `[${card.source.topic?.code ?? '?'}]`)}`,
    );
    for (const line of plainText(card.detail ?? '').split('\n')) lines.push(line.trim() === '' ? '' : `    ${line}`);
    for (const suggestion of card.suggestions ?? []) {
      const actions = (suggestion.actions ?? []).map((a) => `${a.type} ${a.resourceId ?? ''}`.trim()).join(', ');
      lines.push(`    ${paint('green', 'Suggestion:')} ${suggestion.label}${actions ? ` (${actions})` : ''}`);
    }
    if (card.overrideReasons) lines.push(`    ${paint('dim', `Override reasons: ${card.overrideReasons.map((r) => r.display).join('; ')}`)}`);
  }
  return lines.join('\n');
}
