import { describe, expect, it } from 'vitest';
import { escapeMarkdown, truncate } from './markdown.js';

describe('escapeMarkdown', () => {
  it('keeps patient text from becoming markup', () => {
    expect(escapeMarkdown('Hepatitis *C* [see](http://x) <b>bold</b> a_b | c')).toBe('Hepatitis \\*C\\* \\[see\\](http://x) \\<b\\>bold\\</b\\> a\\_b \\| c');
  });
  it('folds line breaks so text cannot start a new block', () => {
    expect(escapeMarkdown('one\n# two\r\nthree')).toBe('one # two three');
  });
  it('leaves ordinary text readable', () => {
    expect(escapeMarkdown('Cirrhosis of liver (disorder)')).toBe('Cirrhosis of liver (disorder)');
  });
});

describe('truncate', () => {
  it('leaves short text alone and cuts long text on a word boundary with an ellipsis', () => {
    expect(truncate('short', 10)).toBe('short');
    const cut = truncate('Avoid glutamine: advanced liver disease — Glutamine 500 MG Oral Capsule from the pharmacy', 50);
    expect(cut.length).toBeLessThanOrEqual(50);
    expect(cut.endsWith('…')).toBe(true);
  });
});
