import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import secureJson from 'secure-json-parse';
import { DEFAULT_INPUT_LIMITS, checkAndCleanShape, checkHookRequestSize, checkTextDepth } from './input-limits.js';

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
    checkAndCleanShape(value, { maxDepth, maxStringLength: Infinity });
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

describe('checkAndCleanShape: the keys a prototype could be reached through', () => {
  /** JSON text with `__proto__` and `constructor` keys among ordinary ones, at any depth. */
  const keyName = fc.constantFrom('__proto__', 'constructor', 'prototype', 'a', 'b', 'resourceType');
  // An object is { entries }, so that it can hold any keys, repeated ones included.
  type Generated = unknown;
  const jsonWithPrototypeKeys = fc.letrec<{ value: Generated; object: { entries: Array<[string, Generated]> } }>((tie) => ({
    value: fc.oneof({ depthSize: 'small' }, fc.jsonValue({ maxDepth: 1 }), tie('object'), fc.array(tie('value'), { maxLength: 3 })),
    object: fc.record({ entries: fc.array(fc.tuple(keyName, tie('value')), { maxLength: 4 }) }),
  }));
  // Written by hand: an object literal could not hold two `__proto__` keys, or one as its own key.
  const isObject = (value: unknown): value is { entries: Array<[string, Generated]> } =>
    typeof value === 'object' && value !== null && !Array.isArray(value) && Array.isArray((value as { entries?: unknown }).entries);
  const toText = (value: Generated): string =>
    isObject(value)
      ? `{${value.entries.map(([k, v]) => `${JSON.stringify(k)}:${toText(v)}`).join(',')}}`
      : Array.isArray(value)
        ? `[${value.map(toText).join(',')}]`
        : JSON.stringify(value);

  it('removes exactly what secure-json-parse (fastify) removes while parsing, on any JSON', () => {
    fc.assert(
      fc.property(jsonWithPrototypeKeys.object, (object) => {
        const text = toText(object);
        const ours: unknown = JSON.parse(text);
        checkAndCleanShape(ours, { maxDepth: 64, maxStringLength: Infinity });
        const theirs: unknown = secureJson.parse(text, undefined, { protoAction: 'remove', constructorAction: 'remove' });
        // As text: an own `constructor` key confuses deep equality, which compares constructors.
        expect(JSON.stringify(ours)).toBe(JSON.stringify(theirs));
      }),
      { seed: 17, numRuns: 3000 },
    );
  });

  it('leaves the prototypes alone: what it removes was an own key', () => {
    const value = JSON.parse('{"__proto__":{"polluted":1},"a":{"constructor":{"prototype":{"polluted":2}}},"b":{"constructor":"kept"}}') as Record<
      string,
      unknown
    >;
    checkAndCleanShape(value, { maxDepth: 64, maxStringLength: Infinity });
    expect(value).toStrictEqual({ a: {}, b: { constructor: 'kept' } });
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('a body checked once is not let through under tighter limits', () => {
    const body = { context: { a: [[['deep']]] }, hook: 'x'.repeat(20) };
    checkAndCleanShape(body, { maxDepth: 64, maxStringLength: 1000 });
    const limits = { ...DEFAULT_INPUT_LIMITS, maxDepth: 3 };
    expect(() => {
      checkHookRequestSize(body, limits);
    }).toThrow(/nested deeper than 3 levels/);
    expect(() => {
      checkHookRequestSize(body, { ...DEFAULT_INPUT_LIMITS, maxStringLength: 10 });
    }).toThrow(/longer than 10 characters/);
    expect(() => {
      checkHookRequestSize(body, DEFAULT_INPUT_LIMITS);
    }).not.toThrow();
  });
});
