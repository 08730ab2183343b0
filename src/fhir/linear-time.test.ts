import { describe, expect, it } from 'vitest';
import { isNegatedFinding } from '../rules/conditions.js';
import { escapeMarkdown } from '../cds/markdown.js';
import { canonicalSystem, wholeWordMatcher } from './codings.js';
import { humanUnit, parseMeasuredText, unitKey } from './quantities.js';
import { withoutTrailingSlashes } from './strings.js';

/**
 * Every pattern that sees client text runs in linear time. Each function gets adversarial strings
 * of 10 KB and of 100 KB; the time of the large one must grow like the input (×10), not like its
 * square (×100). The bound is a ratio of the same machine's timings, so a busy machine does not
 * break it: linear code stays near 10, a backtracking pattern goes past 100.
 */

function timeOf(run: () => void, reps: number): number {
  let best = Infinity;
  for (let trial = 0; trial < 3; trial++) {
    const started = performance.now();
    for (let i = 0; i < reps; i++) run();
    best = Math.min(best, performance.now() - started);
  }
  return best;
}

/** How much slower the large input (10 × the small one) is than the small one. */
function growth(fn: (input: string) => unknown, make: (size: number) => string, smallSize = 10_000): number {
  const small = make(smallSize);
  const large = make(smallSize * 10);
  // Enough repetitions that the small case takes a few milliseconds (timer resolution).
  let reps = 1;
  while (timeOf(() => fn(small), reps) < 2 && reps < 1_000_000) reps *= 4;
  return timeOf(() => fn(large), reps) / timeOf(() => fn(small), reps);
}

const matcher = wholeWordMatcher(['glutamine', 'l-glutamine', 'alanyl-glutamine', 'Endari']);

const cases: Array<[string, (input: string) => unknown, (size: number) => string]> = [
  // A different string each call: canonicalSystem remembers the systems it has seen.
  ['canonicalSystem: slashes, then not a slash', (input) => canonicalSystem(`${input}${Math.random()}`), (n) => `${'/'.repeat(n)}x`],
  ['withoutTrailingSlashes: slashes, then not a slash', withoutTrailingSlashes, (n) => `${'/'.repeat(n)}x`],
  ['withoutTrailingSlashes: all slashes', withoutTrailingSlashes, (n) => `x${'/'.repeat(n)}`],
  ['parseMeasuredText: spaces, then a letter', parseMeasuredText, (n) => `${' '.repeat(n)}x`],
  ['parseMeasuredText: a comparator, spaces, a letter', parseMeasuredText, (n) => `>${' '.repeat(n)}x`],
  ['unitKey: mc, mc, mc …', unitKey, (n) => 'mc'.repeat(n / 2)],
  ['humanUnit: unclosed braces', humanUnit, (n) => '{'.repeat(n)],
  ['humanUnit: one long annotation', humanUnit, (n) => `{${'a'.repeat(n)}`],
  ['wholeWordMatcher: near-misses', matcher, (n) => 'glutamin '.repeat(n / 9)],
  ['wholeWordMatcher: every mention stated absent', matcher, (n) => 'glutamine-free '.repeat(n / 15)],
  ['isNegatedFinding: ruled, spaces, no out', isNegatedFinding, (n) => `ruled${' '.repeat(n)}x`],
  ['isNegatedFinding: history of, again and again', isNegatedFinding, (n) => 'history of '.repeat(n / 11)],
  ['escapeMarkdown: markdown characters', escapeMarkdown, (n) => '*_['.repeat(n / 3)],
];

describe('linear time on adversarial client text', () => {
  // Generous time limits: on a loaded machine the measuring itself takes longer (not an assertion).
  it.each(cases)(
    '%s',
    (_name, fn, make) => {
      expect(growth(fn, make)).toBeLessThan(30);
    },
    60_000,
  );

  it('the check itself tells a backtracking pattern from a linear one', () => {
    // Smaller inputs: the backtracking pattern would take minutes at 100 KB.
    const backtracking = (input: string) => input.replace(/\/+$/, '');
    expect(growth(backtracking, (n) => `${'/'.repeat(n)}x`, 300)).toBeGreaterThan(30);
  }, 60_000);
});
