import { describe, expect, it } from 'vitest';
import { parseSmartScopes } from './smart-scopes.js';

describe('SMART scopes: what a token lets the service read and search', () => {
  it.each([
    ['patient/*.read', 'Observation', true, true],
    ['patient/Observation.read', 'Observation', true, true],
    ['patient/Observation.read', 'Condition', false, false],
    ['user/*.*', 'MedicationStatement', true, true],
    ['patient/Condition.write', 'Condition', false, false],
    ['patient/Observation.rs', 'Observation', true, true],
    ['patient/Observation.r', 'Observation', true, false],
    ['patient/Observation.s', 'Observation', false, true],
    ['system/*.cruds', 'Medication', true, true],
    ['patient/Observation.cud', 'Observation', false, false],
    ['patient/Observation.rs?category=laboratory', 'Observation', true, true],
    ['launch openid fhirUser', 'Observation', false, false],
    ['patient/Observation.sr', 'Observation', false, false], // v2 permissions are written in c r u d s order
  ])('%s: %s read %s, search %s', (scope, type, read, search) => {
    const grant = parseSmartScopes(scope);
    expect([grant.allows(type, 'read'), grant.allows(type, 'search')]).toEqual([read, search]);
  });

  it('combines scopes and ignores what it does not understand', () => {
    const grant = parseSmartScopes('openid launch/patient  patient/Condition.rs patient/Observation.read nonsense/.x');
    expect(grant.allows('Condition', 'search')).toBe(true);
    expect(grant.allows('Observation', 'search')).toBe(true);
    expect(grant.allows('MedicationRequest', 'search')).toBe(false);
  });

  it('without a scope (no fhirAuthorization) leaves it to the server', () => {
    expect(parseSmartScopes(undefined).allows('Anything', 'search')).toBe(true);
  });
});
