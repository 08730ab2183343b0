import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CodeIndex, SYSTEM, canonicalSystem, conceptLabel, mayContainAnyWord, wholeWordMatcher } from './codings.js';

describe('canonicalSystem', () => {
  it.each([
    ['urn:oid:2.16.840.1.113883.6.96', SYSTEM.snomed],
    ['urn:oid:2.16.840.1.113883.6.90', SYSTEM.icd10cm],
    ['urn:oid:2.16.840.1.113883.6.88', SYSTEM.rxnorm],
    ['urn:oid:2.16.840.1.113883.6.1', SYSTEM.loinc],
    ['http://snomed.info/sct/', SYSTEM.snomed],
    ['HTTP://LOINC.ORG', SYSTEM.loinc],
  ])('%s → %s', (input, expected) => {
    expect(canonicalSystem(input)).toBe(expected);
  });

  it('reads a missing or non-string system as no system', () => {
    expect(canonicalSystem(undefined)).toBe('');
    expect(canonicalSystem(42)).toBe('');
  });
});

describe('CodeIndex', () => {
  const index = new CodeIndex([
    { system: SYSTEM.icd10cm, code: 'K70.30' },
    { system: SYSTEM.snomed, code: '19943007' },
    { system: SYSTEM.ndc, code: '42457-420-60' },
  ]);

  it('matches ICD-10-CM with or without the dot and in any case', () => {
    expect(index.lookup({ system: SYSTEM.icd10cm, code: 'K70.30' })).toBeDefined();
    expect(index.lookup({ system: SYSTEM.icd10cm, code: 'K7030' })).toBeDefined();
    expect(index.lookup({ system: 'urn:oid:2.16.840.1.113883.6.90', code: 'k70.30' })).toBeDefined();
    expect(index.lookup({ system: SYSTEM.icd10cm, code: 'K70.3' })).toBeUndefined();
  });

  it('matches on system and code, not code alone', () => {
    expect(index.lookup({ system: SYSTEM.snomed, code: '19943007' })).toBeDefined();
    expect(index.lookup({ system: SYSTEM.loinc, code: '19943007' })).toBeUndefined();
    expect(index.lookup({ code: '19943007' })).toBeUndefined();
  });

  it('matches NDCs hyphenated, unhyphenated and in 11-digit 5-4-2 form', () => {
    for (const code of ['42457-420-60', '4245742060', '42457042060', '42457-0420-60']) {
      expect(index.lookup({ system: SYSTEM.ndc, code }), code).toBeDefined();
    }
    expect(index.lookup({ system: SYSTEM.ndc, code: '42457-420-61' })).toBeUndefined();
  });

  it('finds the matching coding of a concept, tolerating a single coding object', () => {
    const concept = { coding: { system: SYSTEM.snomed, code: '19943007' } } as never;
    expect(index.match(concept)?.code).toBe('19943007');
  });
});

describe('wholeWordMatcher', () => {
  const matches = wholeWordMatcher(['glutamine', 'Endari']);
  it.each(['L-Glutamine 5 g powder', 'GLUTAMINE 500 MG Oral Tablet', 'alanyl-glutamine', 'Endari oral powder', 'glutamine/tyrosine'])('matches %s', (text) => {
    expect(matches(text)).toBe(true);
  });
  it.each(['glutaminase inhibitor', 'glutamic acid', 'Endarion', 'polyglutamines'])('does not match %s', (text) => {
    expect(matches(text)).toBe(false);
  });
  // Clinical-spec revision 2, item 8: text that says glutamine is absent is not glutamine.
  it.each(['Glutamine-free amino acid formula', 'Formula, free of glutamine', 'Amino acids without glutamine', 'Peptide formula (no glutamine)'])(
    'does not take %j as a mention',
    (text) => {
      expect(matches(text)).toBe(false);
    },
  );
  it('still matches a name stated present elsewhere in the same text', () => {
    expect(matches('glutamine-free base with added L-glutamine 5 g')).toBe(true);
  });
});

describe('conceptLabel', () => {
  it('prefers text, then a display, then system and code', () => {
    expect(conceptLabel({ text: 'Cirrhosis', coding: [{ display: 'Other' }] })).toBe('Cirrhosis');
    expect(conceptLabel({ coding: [{ code: 'x' }, { display: 'Shown' }] })).toBe('Shown');
    expect(conceptLabel({ coding: [{ system: SYSTEM.snomed, code: '19943007' }] })).toBe('SNOMED CT 19943007');
    expect(conceptLabel(undefined)).toBeUndefined();
  });
});

describe('CodeIndex with ICD-10-CM descendants (is-a filters)', () => {
  const sickle = new CodeIndex(
    [{ system: SYSTEM.snomed, code: '417357006' }],
    [
      { system: SYSTEM.icd10cm, code: 'D57.0' },
      { system: SYSTEM.icd10cm, code: 'D57.1' },
    ],
  );

  it('matches the code and every code below it, with or without the dot', () => {
    for (const code of ['D57.0', 'D57.00', 'D57.01', 'D5702', 'D57.1']) expect(sickle.lookup({ system: SYSTEM.icd10cm, code }), code).toBeDefined();
  });

  it('does not match siblings (sickle-cell trait D57.3) or other systems', () => {
    expect(sickle.lookup({ system: SYSTEM.icd10cm, code: 'D57.3' })).toBeUndefined();
    expect(sickle.lookup({ system: SYSTEM.icd10cm, code: 'D57' })).toBeUndefined();
    expect(sickle.lookup({ system: SYSTEM.snomed, code: 'D57.0' })).toBeUndefined();
    expect(sickle.lookup({ system: SYSTEM.snomed, code: '417357006' })).toBeDefined();
  });
});

describe('wholeWordMatcher with its ASCII shortcut', () => {
  const matches = wholeWordMatcher(['glutamine', 'L-glutamine', 'Endari']);
  it('finds a word in any case, as a whole word, in ASCII and in other text alike', () => {
    for (const text of ['GLUTAMINE 5 g powder', 'l-Glutamine oral', 'ENDARI', 'Glutamine für Kinder', 'glutamine 5 g — café'])
      expect(matches(text), text).toBe(true);
    for (const text of ['glutamines', 'glutaminase', 'Endarium', 'Glutaminé', 'glutamine-free formula', 'Säure ohne']) expect(matches(text), text).toBe(false);
  });
});

describe('mayContainAnyWord, the prefilter before the whole-word pattern', () => {
  const words = ['glutamine', 'sickle cell', 'Keppra', 'valproate', 'aſ', 'l-glutamine', '5-FU'];
  const mayContain = mayContainAnyWord(words);
  /** The whole-word pattern with Unicode case folding and nothing in front of it: what the prefilter must never hide. */
  const unicodeWholeWord = new RegExp(`(?<![\\p{L}\\p{N}])(?:${words.join('|')})(?![\\p{L}\\p{N}])`, 'iu');
  // Pieces that fold onto ASCII only under Unicode rules (the long s, the Kelvin sign) are among them.
  const piece = fc.constantFrom(
    'glutamine',
    'GLUTAMINE',
    'ſickle cell',
    'sickle cell',
    '\u212Aeppra',
    'keppra',
    'valproate',
    'valproat',
    'é',
    ' ',
    '-',
    'x',
    'Ke',
    '5 g',
    'as',
    'AS',
    'L-',
    'l',
    '5',
    'fu',
  );
  it('passes every text the whole-word pattern would match, in any case and any script', () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 8 }), (pieces) => {
        const text = pieces.join('');
        if (unicodeWholeWord.test(text)) expect(mayContain(text), text).toBe(true);
      }),
      { seed: 7, numRuns: 5000 },
    );
  });

  it('refuses ASCII text without any of the words, and passes everything when a word is not ASCII', () => {
    const ascii = mayContainAnyWord(['glutamine', 'sickle cell', 'Keppra', '5-FU']);
    expect(ascii('Background problem 12 (not a glutamine concern)')).toBe(true);
    expect(ascii('Background medicine 3 10 MG Oral Tablet')).toBe(false);
    expect(ascii('Sickle-cell')).toBe(true);
    expect(ascii('Épilepsie')).toBe(true);
    expect(mayContainAnyWord([])('glutamine')).toBe(false);
    expect(mayContainAnyWord(['Säure'])('nothing here')).toBe(true);
    expect(mayContainAnyWord(['aſ'])('as')).toBe(true);
    expect(mayContainAnyWord(['L-glutamine'])('glutamine, not the L form')).toBe(true);
    expect(mayContainAnyWord(['L-glutamine'])('glutamine alone')).toBe(false);
  });
});
