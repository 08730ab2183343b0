import { describe, expect, it } from 'vitest';
import { testCatalogue } from '../../test/helpers.js';
import { MedicationLookup } from '../rules/medication-lookup.js';
import { recordFromPrefetch } from './prefetch.js';

const catalogue = testCatalogue();

const condition = { resourceType: 'Condition', id: 'c1', code: { text: 'x' }, subject: { reference: 'Patient/1' } };
const bundle = (...resources: unknown[]) => ({ resourceType: 'Bundle', type: 'searchset', entry: resources.map((resource) => ({ resource })) });

function statusOf(prefetch: Record<string, unknown> | undefined, key: string) {
  return recordFromPrefetch(catalogue.data, prefetch, new MedicationLookup()).status.get(key);
}

describe('recordFromPrefetch (CDS Hooks 2.0 §Prefetch)', () => {
  it('uses a searchset Bundle', () => {
    const record = recordFromPrefetch(catalogue.data, { conditions: bundle(condition) }, new MedicationLookup());
    expect(record.conditions).toHaveLength(1);
    expect(record.status.get('conditions')).toEqual({ state: 'available' });
  });

  it('reads null as "no data", not as missing', () => {
    expect(statusOf({ conditions: null }, 'conditions')).toEqual({ state: 'empty' });
  });

  it('reads an empty Bundle as no data', () => {
    expect(statusOf({ conditions: bundle() }, 'conditions')).toEqual({ state: 'empty' });
  });

  it('reads an absent key as unavailable', () => {
    expect(statusOf({}, 'conditions')).toEqual({ state: 'unavailable', reason: 'not provided by the EHR' });
    expect(statusOf(undefined, 'conditions')?.state).toBe('unavailable');
  });

  it('reads an OperationOutcome, alone or inside the Bundle, as unavailable', () => {
    const failure = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'timeout' }] };
    expect(statusOf({ conditions: failure }, 'conditions')?.state).toBe('unavailable');
    expect(statusOf({ conditions: bundle(condition, failure) }, 'conditions')?.state).toBe('unavailable');
  });

  it('keeps the data when the Bundle only carries a warning OperationOutcome', () => {
    const warning = { resourceType: 'OperationOutcome', issue: [{ severity: 'warning', code: 'informational' }] };
    expect(statusOf({ conditions: bundle(condition, warning) }, 'conditions')).toEqual({ state: 'available' });
  });

  it('flags a paginated Bundle as partial (next pages are not fetched yet)', () => {
    const paged = { ...bundle(condition), link: [{ relation: 'next', url: 'https://ehr.example.org/fhir/Condition?page=2' }] };
    const record = recordFromPrefetch(catalogue.data, { conditions: paged }, new MedicationLookup());
    expect(record.conditions).toHaveLength(1);
    expect(record.status.get('conditions')).toEqual({ state: 'partial', reason: 'only the first page of results was received' });
  });

  it('accepts a Bundle without type and with entry as an object', () => {
    const record = recordFromPrefetch(catalogue.data, { conditions: { resourceType: 'Bundle', entry: { resource: condition } } }, new MedicationLookup());
    expect(record.conditions).toHaveLength(1);
  });

  it('takes only resources of the expected type and reads a bare resource', () => {
    const record = recordFromPrefetch(
      catalogue.data,
      {
        patient: { resourceType: 'Patient', id: '1', gender: 'female' },
        conditions: bundle(condition, { resourceType: 'Observation', id: 'o', status: 'final', code: {} }),
      },
      new MedicationLookup(),
    );
    expect(record.patient?.gender).toBe('female');
    expect(record.conditions).toHaveLength(1);
    expect(record.observations).toHaveLength(0);
  });

  it('reads a value that is not a FHIR resource as unavailable', () => {
    expect(statusOf({ conditions: 'oops' }, 'conditions')?.state).toBe('unavailable');
    expect(statusOf({ patient: { resourceType: 'Practitioner', id: 'x' } }, 'patient')).toEqual({
      state: 'unavailable',
      reason: 'the EHR sent a Practitioner instead',
    });
  });
});
