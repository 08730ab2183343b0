import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { renderRulesDoc } from '../scripts/build-rules-doc.js';
import { testCatalogue } from './helpers.js';

const committed = readFileSync(fileURLToPath(new URL('../docs/rules.md', import.meta.url)), 'utf8');

describe('docs/rules.md (the rule catalogue)', () => {
  it('is exactly what npm run docs:rules generates from cards/', () => {
    expect(committed, 'docs/rules.md is out of date: run npm run docs:rules').toBe(renderRulesDoc(testCatalogue()));
  });

  it('documents every rule id with its indicators, value sets and thresholds', () => {
    for (const rule of testCatalogue().rules) {
      expect(committed).toContain(`## ${rule.id}`);
      for (const tier of rule.tiers) expect(committed).toContain(`**${tier.indicator}** — card summary: "${tier.summary}"`);
    }
    expect(committed).toContain('| `active-cancer` Malignancy (primary or secondary), excluding keratinocyte skin cancer | 4124 |');
    expect(committed).toContain('Latest Ammonia of the last 30 days at least 2 × the upper limit');
    expect(committed).toContain('Planned duration above 112 days');
    expect(committed).toContain('OID 2.16.840.1.113762.1.4.1111.161, version 20200310');
  });
});

describe('fixtures/README.md (the fixture library)', () => {
  it('is exactly what npm run docs:fixtures generates', async () => {
    const { renderFixturesDoc } = await import('../scripts/build-fixtures-doc.js');
    const committedFixtures = readFileSync(fileURLToPath(new URL('../fixtures/README.md', import.meta.url)), 'utf8');
    expect(committedFixtures, 'fixtures/README.md is out of date: run npm run docs:fixtures').toBe(renderFixturesDoc());
  });
});
