import type { CodeableConcept, Coding } from 'fhir/r4';
import { asArray } from './tolerant.js';
import type { Tolerant } from './tolerant.js';
import { withoutTrailingSlashes } from './strings.js';

export const SYSTEM = {
  snomed: 'http://snomed.info/sct',
  icd10cm: 'http://hl7.org/fhir/sid/icd-10-cm',
  rxnorm: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  loinc: 'http://loinc.org',
  ndc: 'http://hl7.org/fhir/sid/ndc',
  ucum: 'http://unitsofmeasure.org',
  // FHIR R4 terminology pages: UNII https://hl7.org/fhir/R4/unii.html, ATC http://www.whocc.no/atc
  unii: 'http://fdasis.nlm.nih.gov',
  atc: 'http://www.whocc.no/atc',
} as const;

/**
 * System URIs EHRs send for the same code systems (terminology/README.md: the `urn:oid:` forms;
 * HL7 OID registry for NDC 2.16.840.1.113883.6.69, UCUM 6.8, ATC 6.73, UNII 4.9).
 */
const SYSTEM_ALIASES: Record<string, string> = {
  'urn:oid:2.16.840.1.113883.6.96': SYSTEM.snomed,
  'urn:oid:2.16.840.1.113883.6.90': SYSTEM.icd10cm,
  'urn:oid:2.16.840.1.113883.6.88': SYSTEM.rxnorm,
  'urn:oid:2.16.840.1.113883.6.1': SYSTEM.loinc,
  'urn:oid:2.16.840.1.113883.6.69': SYSTEM.ndc,
  'urn:oid:2.16.840.1.113883.6.8': SYSTEM.ucum,
  'urn:oid:2.16.840.1.113883.6.73': SYSTEM.atc,
  'urn:oid:2.16.840.1.113883.4.9': SYSTEM.unii,
  'http://hl7.org/fhir/sid/icd-10-us': SYSTEM.icd10cm,
};

const SYSTEM_NAMES: Record<string, string> = {
  [SYSTEM.snomed]: 'SNOMED CT',
  [SYSTEM.icd10cm]: 'ICD-10-CM',
  [SYSTEM.rxnorm]: 'RxNorm',
  [SYSTEM.loinc]: 'LOINC',
  [SYSTEM.ndc]: 'NDC',
  [SYSTEM.unii]: 'UNII',
  [SYSTEM.atc]: 'ATC',
};

/** Systems seen so far: a handful of distinct URIs, looked up for every coding of every request. */
const canonicalCache = new Map<string, string>();

/** Canonical form of a system URI: lower-cased, no trailing slash, known aliases resolved. */
export function canonicalSystem(system: unknown): string {
  if (typeof system !== 'string' || system === '') return '';
  const cached = canonicalCache.get(system);
  if (cached !== undefined) return cached;
  const lower = withoutTrailingSlashes(system.trim()).toLowerCase();
  const canonical = SYSTEM_ALIASES[lower] ?? lower;
  // Bounded: arbitrary client input must not grow the cache without limit.
  if (canonicalCache.size < 1000) canonicalCache.set(system, canonical);
  return canonical;
}

export function systemName(system: unknown): string {
  const canonical = canonicalSystem(system);
  return SYSTEM_NAMES[canonical] ?? (typeof system === 'string' && system !== '' ? system : 'code');
}

/**
 * Keys under which a code is indexed and looked up. ICD-10-CM codes match with or without the
 * dot and in any case; NDCs match hyphenated, 10-digit and 11-digit (5-4-2) forms.
 */
function codeKeys(system: string, code: string): string[] {
  const trimmed = code.trim();
  if (system === SYSTEM.icd10cm) return [trimmed.toUpperCase().replace('.', '')];
  if (system === SYSTEM.ndc) return ndcKeys(trimmed);
  return [trimmed];
}

function ndcKeys(code: string): string[] {
  const parts = code.split('-');
  if (parts.length === 3 && parts.every((p) => /^\d+$/.test(p))) {
    const [labeler = '', product = '', pkg = ''] = parts;
    return [parts.join(''), `${labeler.padStart(5, '0')}${product.padStart(4, '0')}${pkg.padStart(2, '0')}`];
  }
  return [code.replaceAll('-', '')];
}

export interface CodedConcept {
  system: string;
  code: string;
  display?: string;
}

/** A set of codes (one value set) that answers "is this coding in the set?" in O(1). */
export class CodeIndex {
  /** system → code key → concept: a hash lookup per coding, without building a key string. */
  private readonly bySystem = new Map<string, Map<string, CodedConcept>>();
  /** ICD-10-CM codes whose descendants are members; ICD-10-CM's hierarchy is its code prefix. */
  private readonly icd10Prefixes: Array<{ prefix: string; concept: CodedConcept }> = [];

  constructor(concepts: Iterable<CodedConcept>, icd10Descendants: Iterable<CodedConcept> = []) {
    for (const concept of concepts) {
      const system = canonicalSystem(concept.system);
      let codes = this.bySystem.get(system);
      if (!codes) {
        codes = new Map();
        this.bySystem.set(system, codes);
      }
      for (const key of codeKeys(system, concept.code)) codes.set(key, concept);
    }
    for (const concept of icd10Descendants) {
      const [prefix] = codeKeys(SYSTEM.icd10cm, concept.code);
      if (prefix) this.icd10Prefixes.push({ prefix, concept });
    }
  }

  lookup(coding: Tolerant<Coding> | undefined): CodedConcept | undefined {
    if (!coding?.code || typeof coding.code !== 'string') return undefined;
    const system = canonicalSystem(coding.system);
    const codes = this.bySystem.get(system);
    // Fast path: most codes are stored exactly as sent.
    const exact = codes?.get(coding.code);
    if (exact) return exact;
    if (!codes && (system !== SYSTEM.icd10cm || this.icd10Prefixes.length === 0)) return undefined;
    for (const key of codeKeys(system, coding.code)) {
      const hit = codes?.get(key) ?? (system === SYSTEM.icd10cm ? this.icd10Prefixes.find((p) => key.startsWith(p.prefix))?.concept : undefined);
      if (hit) return hit;
    }
    return undefined;
  }

  /** The first coding of the concept that is in the set. */
  match(concept: Tolerant<CodeableConcept> | undefined): Tolerant<Coding> | undefined {
    // A loop rather than asArray().find(): asked of every result and condition against every value set.
    const codings: unknown = concept?.coding;
    if (!Array.isArray(codings)) return asArray(concept?.coding).find((coding) => this.lookup(coding) !== undefined);
    for (const coding of codings as Array<Tolerant<Coding> | null | undefined>) {
      if (coding !== null && coding !== undefined && this.lookup(coding) !== undefined) return coding;
    }
    return undefined;
  }
}

/** Every human-readable text of a concept: `text` and each `coding.display`. */
export function conceptTexts(concept: Tolerant<CodeableConcept> | undefined): string[] {
  if (!concept) return [];
  const texts = asArray(concept.coding).map((c) => c.display);
  return [concept.text, ...texts].filter((t): t is string => typeof t === 'string' && t.trim() !== '');
}

/** Whether a UTF-16 code unit is an ASCII letter or digit. */
function isAsciiAlphanumeric(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39);
}

/**
 * A word's leading run of ASCII letters and digits, lower-cased: the token any text holding the word
 * holds. '' when that is not certain: the word starts with something else, or the run goes on in a
 * non-ASCII character (which Unicode case folding could match with an ASCII one: "aſ" is "as").
 */
export function leadingToken(word: string): string {
  let end = 0;
  while (end < word.length && isAsciiAlphanumeric(word.charCodeAt(end))) end++;
  if (end < word.length && word.charCodeAt(end) >= 0x80) return '';
  return word.slice(0, end).toLowerCase();
}

/**
 * The text's runs of ASCII letters and digits, lower-cased: what mayContainAnyWord looks up; undefined
 * for text with a non-ASCII character (which may contain anything, by Unicode case folding).
 */
export function asciiTokens(text: string): string[] | undefined {
  const tokens: string[] = [];
  let start = -1;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 0x20;
    if (c >= 0x80) return undefined;
    if (isAsciiAlphanumeric(c)) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      tokens.push(text.slice(start, i).toLowerCase());
      start = -1;
    }
  }
  return tokens;
}

/**
 * A prefilter for whole-word matching of a set of words: false only when the text cannot contain any
 * of them as a whole word. A word found as a whole word starts at a token boundary, so its leading
 * run of letters and digits is one of the text's tokens: the text's ASCII tokens are looked up in
 * the set of the words' leading tokens, with no pattern run (an alternation
 * of a hundred names cost 0.7 µs a text). Text with a non-ASCII character always passes (Unicode
 * case folding — "ſ" is "s" — could make it match), as does any text when a word does not start
 * with an ASCII letter or digit.
 */
export function mayContainAnyWord(words: readonly string[]): (text: string) => boolean {
  if (words.length === 0) return () => false;
  const leading = new Set(words.map(leadingToken));
  if (leading.has('')) return () => true;
  return (text) => asciiTokens(text)?.some((token) => leading.has(token)) ?? true;
}

function escapeRegExp(word: string): string {
  return word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Case-insensitive whole-word matcher: `glutamine` matches "L-Glutamine 5 g" but not "glutaminase". */
export function wholeWordMatcher(words: readonly string[]): (text: string) => boolean {
  if (words.length === 0) return () => false;
  const pattern = new RegExp(`(?<![\\p{L}\\p{N}])(?:${words.map(escapeRegExp).join('|')})(?![\\p{L}\\p{N}])`, 'giu');
  // The Unicode-aware pattern is dear (a twentieth of a hook call's CPU, run over every condition and
  // medication text against up to 46 names): a text that cannot contain any word is answered without it.
  const mayMatch = mayContainAnyWord(words);
  // A name the text says is absent ("glutamine-free", "free of glutamine", "without glutamine",
  // "no glutamine": clinical-spec revision 2, item 8) is not a mention of it.
  return (text) => {
    if (!mayMatch(text)) return false;
    for (const match of text.matchAll(pattern)) {
      const before = text.slice(Math.max(0, match.index - 12), match.index);
      const after = text.slice(match.index + match[0].length, match.index + match[0].length + 5);
      if (!STATED_ABSENT_BEFORE.test(before) && !STATED_ABSENT_AFTER.test(after)) return true;
    }
    return false;
  };
}

const STATED_ABSENT_BEFORE = /(?:^|[^\p{L}])(?:free of|without|no)\s+$/iu;
const STATED_ABSENT_AFTER = /^-free(?![\p{L}])/iu;

/** The best label for a concept: its text, else the first display, else system + code. */
export function conceptLabel(concept: Tolerant<CodeableConcept> | undefined): string | undefined {
  if (!concept) return undefined;
  if (typeof concept.text === 'string' && concept.text.trim() !== '') return concept.text.trim();
  const codings = asArray(concept.coding);
  const withDisplay = codings.find((c) => typeof c.display === 'string' && c.display.trim() !== '');
  if (withDisplay?.display) return withDisplay.display.trim();
  const first = codings.find((c) => typeof c.code === 'string');
  return first?.code ? `${systemName(first.system)} ${first.code}` : undefined;
}
