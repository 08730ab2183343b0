import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildValueSet, loadSources, renderValueSets, valueSetDrift, writeValueSets } from '../scripts/build-valuesets.js';
import { CARDS_DIR } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const sources = loadSources(join(ROOT, 'terminology'), join(ROOT, 'docs', 'clinical-spec.md'));

describe('generated value sets', () => {
  it('the committed cards/valuesets are exactly what npm run valuesets builds: no stale file, no extra file', () => {
    expect(valueSetDrift(join(CARDS_DIR, 'valuesets'), renderValueSets(sources)), 'run npm run valuesets').toEqual({ stale: [], extra: [] });
  });

  it('the freshness check sees a changed file and a hand-added one', () => {
    const copy = join(mkdtempSync(join(tmpdir(), 'valuesets-')), 'valuesets');
    cpSync(join(CARDS_DIR, 'valuesets'), copy, { recursive: true });
    writeFileSync(join(copy, 'lactulose.json'), readFileSync(join(copy, 'lactulose.json'), 'utf8').replace('"total"', '"total" '));
    writeFileSync(join(copy, 'hand-written.json'), '{}');
    expect(valueSetDrift(copy, renderValueSets(sources))).toEqual({ stale: ['lactulose.json'], extra: ['hand-written.json'] });
    // …and the generator puts the folder right: the changed file rewritten, the extra one removed.
    expect(writeValueSets(copy, renderValueSets(sources))).toEqual(['hand-written.json']);
    expect(valueSetDrift(copy, renderValueSets(sources))).toEqual({ stale: [], extra: [] });
  });

  it('record the VSAC OID and version they came from', () => {
    const vs = JSON.parse(readFileSync(join(CARDS_DIR, 'valuesets', 'liver-disease-chronic.json'), 'utf8')) as {
      compose: { include: Array<{ valueSet?: string[] }> };
      description: string;
    };
    expect(vs.compose.include.flatMap((i) => i.valueSet ?? [])).toEqual([
      'http://cts.nlm.nih.gov/fhir/ValueSet/2.16.840.1.113762.1.4.1047.42|20210220',
      'http://cts.nlm.nih.gov/fhir/ValueSet/2.16.840.1.113883.3.464.1003.199.12.1035|20240105',
    ]);
    expect(vs.description).toContain('OID 2.16.840.1.113762.1.4.1047.42, version 20210220');
  });

  it('refuse a code that is not in the source they cite', () => {
    expect(() =>
      buildValueSet({ id: 'bad', title: 'Bad', description: 'x', include: [{ from: 'codes.md', system: 'snomed', codes: ['123456789'] }] }, sources),
    ).toThrow('bad include[0]: code 123456789 is not in codes.md');
    expect(() =>
      buildValueSet({ id: 'bad', title: 'Bad', description: 'x', include: [{ vsac: '2.16.840.1.113762.1.4.1047.42', match: ['Z99.*'] }] }, sources),
    ).toThrow('pattern Z99.* matches nothing');
  });

  it('take displays from the verified code list', () => {
    const vs = buildValueSet({ id: 't', title: 'T', description: 'x', include: [{ from: 'codes.md', system: 'icd10cm', codes: ['Z99.2'] }] }, sources);
    expect(vs.expansion?.contains).toEqual([{ system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'Z99.2', display: 'Dependence on renal dialysis' }]);
  });

  it("keep the clinical specification's tiers apart: plain cirrhosis is advanced, chronic hepatitis C is not", () => {
    const codes = (id: string) =>
      (
        JSON.parse(readFileSync(join(CARDS_DIR, 'valuesets', `${id}.json`), 'utf8')) as { expansion: { contains: Array<{ code: string }> } }
      ).expansion.contains.map((c) => c.code);
    expect(codes('liver-disease-advanced')).toEqual(expect.arrayContaining(['K74.60', 'K70.30', 'K72.90', 'K76.82', '19943007', '13920009']));
    expect(codes('liver-disease-advanced')).not.toContain('B18.2');
    // Revision 2: cirrhosis of any cause, hepatic coma, hepatorenal syndrome — but not a congenital
    // syndrome named "hepatorenal", nor a "without hepatic coma" code.
    expect(codes('liver-disease-advanced')).toEqual(expect.arrayContaining(['831000119103', '424340000', '31005002', '1761006', 'B17.11', 'K71.11']));
    expect(codes('liver-disease-advanced')).not.toContain('62216007');
    expect(codes('liver-disease-advanced')).not.toContain('B17.10');
    expect(codes('kidney-disease-severe')).toEqual(
      expect.arrayContaining(['N18.5', 'N18.6', 'Z99.2', 'I12.0', '433146000', '714152005', '46177005', '236435004', '105502003']),
    );
    expect(codes('kidney-disease-moderate')).toEqual(
      expect.arrayContaining(['N17.9', 'N18.30', 'N18.4', 'N18.9', 'N19', 'I12.9', '709044004', '433144002', '431857002', '14669001']),
    );
    expect(codes('kidney-disease-moderate')).not.toContain('N18.1');
    expect(codes('egfr-tests')).toHaveLength(14);
  });
});
