/*
 * Prefetch templates (CDS Hooks 2.0 §Prefetch tokens): checked and expanded when the catalogue is
 * loaded, filled for each hook call. Below the rules, so that both the catalogue and the hook call
 * can use it.
 */

/**
 * CDS Hooks 2.0 §Prefetch tokens: a template may only use `{{context.<field>}}` for the hook's
 * root-level prefetch-token fields, or one of the four user tokens. For order-select and
 * order-sign those context fields are userId, patientId and encounterId.
 */
const ALLOWED_TOKENS = new Set([
  'context.userId',
  'context.patientId',
  'context.encounterId',
  'userPractitionerId',
  'userPractitionerRoleId',
  'userPatientId',
  'userRelatedPersonId',
]);

/** A template token, `{{ name }}`: the one pattern for expanding templates and for filling them. */
const TOKEN = /\{\{\s*([^}]*?)\s*\}\}/g;
const CODES_MACRO = /^codes:([a-z0-9-]+)$/;

/**
 * Expands the build-time macro `{{codes:<value set id>}}` into `system|code,…` and checks that
 * every remaining token is one CDS Hooks 2.0 allows. Returns the template or the problems found.
 */
export function expandTemplate(
  template: string,
  valueSetCodes: (valueSetId: string) => Array<{ system: string; code: string }> | undefined,
): { template: string } | { problems: string[] } {
  const problems: string[] = [];
  const expanded = template.replace(TOKEN, (whole, inner: string) => {
    const macro = CODES_MACRO.exec(inner);
    if (macro?.[1]) {
      const codes = valueSetCodes(macro[1]);
      if (!codes) {
        problems.push(`unknown value set '${macro[1]}' in ${whole}`);
        return whole;
      }
      return codes.map((c) => `${c.system}|${c.code}`).join(',');
    }
    if (!ALLOWED_TOKENS.has(inner)) problems.push(`token ${whole} is not a CDS Hooks 2.0 prefetch token`);
    return whole;
  });
  return problems.length > 0 ? { problems } : { template: expanded };
}

/** The values of the prefetch tokens for this call (CDS Hooks 2.0 §Prefetch tokens). */
export interface TokenValues {
  'context.patientId': string;
  'context.userId'?: string;
  'context.encounterId'?: string;
}

/** Fills a prefetch template; undefined when a token has no value in this call. */
export function fillTemplate(template: string, tokens: TokenValues): string | undefined {
  const values = new Map<string, string | undefined>(Object.entries(tokens));
  const missing: string[] = [];
  const filled = template.replace(TOKEN, (_whole, name: string) => {
    const value = values.get(name);
    if (value === undefined) {
      missing.push(name);
      return '';
    }
    return encodeURIComponent(value);
  });
  return missing.length > 0 ? undefined : filled;
}
