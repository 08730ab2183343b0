import type { Condition } from 'fhir/r4';
import { describe, expect, it } from 'vitest';
import { CodeIndex, SYSTEM } from '../fhir/codings.js';
import { conditionCounts, findConditions } from './conditions.js';

const CLINICAL = 'http://terminology.hl7.org/CodeSystem/condition-clinical';
const VERIFICATION = 'http://terminology.hl7.org/CodeSystem/condition-ver-status';

function condition(clinical?: string, verification?: string, extra: Partial<Condition> = {}): Condition {
  return {
    resourceType: 'Condition',
    subject: { reference: 'Patient/1' },
    code: { coding: [{ system: SYSTEM.snomed, code: '19943007', display: 'Cirrhosis of liver (disorder)' }] },
    ...(clinical ? { clinicalStatus: { coding: [{ system: CLINICAL, code: clinical }] } } : {}),
    ...(verification ? { verificationStatus: { coding: [{ system: VERIFICATION, code: verification }] } } : {}),
    ...extra,
  };
}

describe('conditionCounts (docs/clinical-spec.md "Patient data and how it counts", Conditions)', () => {
  it.each(['active', 'recurrence', 'relapse'])('counts clinicalStatus %s', (status) => {
    expect(conditionCounts(condition(status, 'confirmed'))).toBe(true);
  });
  it.each(['inactive', 'remission', 'resolved'])('does not count clinicalStatus %s', (status) => {
    expect(conditionCounts(condition(status, 'confirmed'))).toBe(false);
  });
  it.each(['refuted', 'entered-in-error'])('never counts verificationStatus %s', (status) => {
    expect(conditionCounts(condition('active', status))).toBe(false);
  });
  it.each(['unconfirmed', 'provisional', 'differential', 'confirmed'])('counts verificationStatus %s', (status) => {
    expect(conditionCounts(condition('active', status))).toBe(true);
  });
  it('counts an absent clinicalStatus only when there is no abatement', () => {
    expect(conditionCounts(condition())).toBe(true);
    expect(conditionCounts(condition(undefined, undefined, { abatementDateTime: '2024-01-01' }))).toBe(false);
    expect(conditionCounts(condition(undefined, undefined, { abatementString: 'resolved in 2020' }))).toBe(false);
  });
});

describe('findConditions', () => {
  const valueSet = new CodeIndex([{ system: SYSTEM.snomed, code: '19943007', display: 'Cirrhosis of liver (disorder)' }]);

  it('reports each counting match with display, code, date and confirmation', () => {
    const found = findConditions(
      [
        condition('active', 'provisional', { onsetDateTime: '2023-02-01T10:00:00Z' }),
        condition('resolved', 'confirmed'),
        condition('active', 'confirmed', { recordedDate: '2024-05-06' }),
      ],
      valueSet,
    );
    expect(found).toEqual([
      {
        kind: 'condition',
        display: 'Cirrhosis of liver (disorder)',
        system: 'SNOMED CT',
        code: '19943007',
        date: '2023-02-01',
        dateLabel: 'onset',
        unconfirmed: true,
      },
      {
        kind: 'condition',
        display: 'Cirrhosis of liver (disorder)',
        system: 'SNOMED CT',
        code: '19943007',
        date: '2024-05-06',
        dateLabel: 'recorded',
        unconfirmed: false,
      },
    ]);
  });

  it('matches any coding of the condition, including the second one', () => {
    const c = condition('active', 'confirmed', {
      code: {
        coding: [
          { system: 'http://example.org/local', code: 'LIV1' },
          { system: 'urn:oid:2.16.840.1.113883.6.96', code: '19943007' },
        ],
      },
    });
    expect(findConditions([c], valueSet)).toHaveLength(1);
  });

  it('ignores conditions outside the value set', () => {
    const c = condition('active', 'confirmed', { code: { coding: [{ system: SYSTEM.snomed, code: '0000000' }] } });
    expect(findConditions([c], valueSet)).toEqual([]);
  });
});
