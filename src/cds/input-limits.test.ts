import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkShape, checkTextDepth } from './input-limits.js';

const tooDeep = (check: () => void): boolean => {
  try {
    check();
    return false;
  } catch (error) {
    return /nested deeper than/.test((error as Error).message);
  }
};

const textTooDeep = (text: string, maxDepth: number): boolean =>
  tooDeep(() => {
    checkTextDepth(text, maxDepth);
  });
const valueTooDeep = (value: unknown, maxDepth: number): boolean =>
  tooDeep(() => {
    checkShape(value, { maxDepth, maxStringLength: Infinity });
  });

describe('checkTextDepth: the nesting of JSON text, before it is parsed', () => {
  it('allows exactly the limit and refuses one level more', () => {
    expect(textTooDeep(`${'['.repeat(64)}${']'.repeat(64)}`, 64)).toBe(false);
    expect(textTooDeep(`{"a":${'['.repeat(64)}${']'.repeat(64)}}`, 64)).toBe(true);
  });

  it('does not count brackets inside strings, escaped quotes included', () => {
    expect(textTooDeep(JSON.stringify({ a: '[[[[{{{{', b: 'say \\"[[[[" twice', c: ['\\', '"[['] }), 3)).toBe(false);
    expect(textTooDeep('{"a":"\\\\"}', 1)).toBe(false); // an escaped backslash ends before the quote
  });

  it('agrees with the check of the parsed value, on any JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 1, max: 8 }), (value, maxDepth) => {
        const text = JSON.stringify(value);
        expect(textTooDeep(text, maxDepth)).toBe(valueTooDeep(value, maxDepth));
      }),
      { seed: 64, numRuns: 2000 },
    );
  });
});

describe('checkTextDepth skipping strings', () => {
  /** The plain reading, a character at a time: what the fast one must agree with. */
  function depthByCharacter(text: string): number {
    let depth = 0;
    let max = 0;
    let inString = false;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (inString) {
        if (c === '\\') i++;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === '{' || c === '[') max = Math.max(max, ++depth);
      else if (c === '}' || c === ']') depth--;
    }
    return max;
  }
  const refuses = (text: string, maxDepth: number): boolean => {
    try {
      checkTextDepth(text, maxDepth);
      return false;
    } catch {
      return true;
    }
  };

  it('agrees with reading every character, on escapes, brackets in strings and runs of backslashes', () => {
    const pieces = ['{', '}', '[', ']', '"', '\\', '\\"', '\\\\', 'a', ',', ':', '"[[["', '"\\\\"', '"\\"]"'];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 60 }), fc.integer({ min: 0, max: 6 }), (parts, maxDepth) => {
        const text = parts.join('');
        expect(refuses(text, maxDepth)).toBe(depthByCharacter(text) > maxDepth);
      }),
      { numRuns: 3000 },
    );
  });
});
