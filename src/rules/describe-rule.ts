import { criterionAnalyte, criterionValueSets, onCriterion } from './catalogue-schema.js';
import type { Criterion, CriterionHandlers, CriterionOf, Exemption, LabCriterion, RuleDefinition } from './catalogue-schema.js';
import type { Catalogue } from './load-catalogue.js';

/**
 * What each rule checks, in words, derived from cards/: the rule pages a card's `source.url` points
 * to and the committed catalogue docs/rules.md both come from here, so they cannot drift apart.
 */

interface ValueSetUse {
  id: string;
  title: string;
  codes: number;
  /** ICD-10-CM codes whose descendants are included. */
  descendantsOf: string[];
  source: string;
}

export interface RuleSummary {
  id: string;
  title: string;
  description: string;
  source: string;
  tiers: Array<{ indicator: string; summary: string; checks: string[] }>;
  valueSets: ValueSetUse[];
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function valueSetText(id: string, catalogue: Catalogue): string {
  const vs = catalogue.valueSets.get(id);
  if (!vs) return `"${id}"`;
  const below = vs.descendantsOf.length > 0 ? `${vs.concepts.length > 0 ? ' + ' : ''}ICD-10-CM ${vs.descendantsOf.join(', ')} and below` : '';
  const count = vs.concepts.length > 0 ? plural(vs.concepts.length, 'code') : '';
  // The names of cards/value-set-names.json count as members too.
  const named = vs.names.length > 0 ? ` or named ${vs.names.join(', ')}` : '';
  return `"${vs.title}" (${count}${below})${named}`;
}

function exemptionText(exemption: Exemption, catalogue: Catalogue): string {
  if ('condition' in exemption) return `an active condition in ${valueSetText(exemption.condition.valueSet, catalogue)}`;
  return `a product in ${valueSetText(exemption.product.valueSet, catalogue)}`;
}

function describeCriterion(criterion: Criterion, catalogue: Catalogue): string {
  const unless = criterion.unless ? `, unless the patient or order has ${criterion.unless.map((e) => exemptionText(e, catalogue)).join(' or ')}` : '';
  return `${describeCore(criterion, catalogue)}${unless}`;
}

function describeLab(lab: LabCriterion, catalogue: Catalogue): string {
  const analyte = catalogue.analytes.get(lab.analyte);
  const label = analyte?.label ?? lab.analyte;
  const threshold =
    typeof lab.threshold === 'number'
      ? `${lab.threshold} ${analyte?.unit ?? ''}`.trim()
      : `${lab.threshold.upperLimitTimes === 1 ? '' : `${lab.threshold.upperLimitTimes} × `}the upper limit (report's reference range, else ${analyte?.defaultUpperLimit ?? '?'} ${analyte?.unit ?? ''})`;
  const compare = { above: 'above', 'at-least': 'at least', below: 'below' }[lab.compare];
  const flags = lab.interpretationsWhenNoValue ? `, or flagged ${lab.interpretationsWhenNoValue.join('/')} without a value` : '';
  const source = analyte?.derivedFrom ? catalogue.analytes.get(analyte.derivedFrom.analyte) : undefined;
  const derived = source
    ? ` (calculated with CKD-EPI 2021 from the latest ${source.label.toLowerCase()} of the last ${source.lookbackDays} days when none is reported)`
    : '';
  return `Latest ${label} of the last ${analyte?.lookbackDays ?? '?'} days${derived} ${compare} ${threshold}${flags}`;
}

function describeWeightBand(band: CriterionOf<'singleDoseWeightBand'>['singleDoseWeightBand'], catalogue: Catalogue): string {
  const bands = band.bands
    .map((b) => `${b.belowKg !== undefined ? `under ${b.belowKg} kg` : b.upToKg !== undefined ? `up to ${b.upToKg} kg` : 'heavier'}: ${b.maxGrams} g`)
    .join(', ');
  const weight = catalogue.analytes.get(band.weightAnalyte);
  return `Active condition in ${valueSetText(band.condition.valueSet, catalogue)}, a ${weight?.label.toLowerCase() ?? 'weight'} in the last ${weight?.lookbackDays ?? '?'} days, and a single dose above the weight band (${bands})`;
}

/** What each kind of criterion checks, in words, for the rule pages and docs/rules.md. */
const DESCRIPTIONS: CriterionHandlers<[Catalogue], string> = {
  condition: (c, catalogue) => `Active condition in value set ${valueSetText(c.condition.valueSet, catalogue)}`,
  lab: (c, catalogue) => describeLab(c.lab, catalogue),
  medication: (c, catalogue) =>
    `Current medication (active or on-hold order, active statement) or another draft order in ${valueSetText(c.medication.valueSet, catalogue)}`,
  dailyDose: (c) => `Total daily dose of the order above ${c.dailyDose.aboveGrams} g`,
  singleDoseWeightBand: (c, catalogue) => describeWeightBand(c.singleDoseWeightBand, catalogue),
  duration: (c) => `Planned duration above ${c.duration.aboveDays} days (supply × (1 + repeats), validity period or dosage bounds, the longest)`,
  product: (c, catalogue) =>
    `Product in ${valueSetText(c.product.valueSet, catalogue)}${c.product.multipleIngredients ? ', or a Medication with more than one ingredient' : ''}`,
  orderReason: (c, catalogue) => `Reason for the order (reasonCode or reasonReference) in ${valueSetText(c.orderReason.valueSet, catalogue)}`,
};

function describeCore(criterion: Criterion, catalogue: Catalogue): string {
  return onCriterion(criterion, DESCRIPTIONS, catalogue);
}

/** Every value set a rule uses, including those of the analytes it reads. */
function ruleValueSets(rule: RuleDefinition, catalogue: Catalogue): string[] {
  const ids = new Set<string>();
  for (const tier of rule.tiers) {
    if (typeof tier.when === 'string') continue;
    for (const criterion of tier.when) {
      for (const id of criterionValueSets(criterion)) ids.add(id);
      const analyteId = criterionAnalyte(criterion)?.id;
      const analyte = analyteId ? catalogue.analytes.get(analyteId) : undefined;
      if (analyte) ids.add(analyte.valueSet);
      const source = analyte?.derivedFrom ? catalogue.analytes.get(analyte.derivedFrom.analyte) : undefined;
      if (source) ids.add(source.valueSet);
    }
  }
  return [...ids];
}

function sourceOf(description: string | undefined): string {
  const generated = description?.split('Generated by scripts/build-valuesets.ts from: ')[1];
  return generated ? generated.replace(/\.$/, '') : 'cards/valuesets';
}

export function ruleSummary(rule: RuleDefinition, catalogue: Catalogue): RuleSummary {
  return {
    id: rule.id,
    title: rule.title,
    description: rule.description,
    source: catalogue.sources[rule.source]?.label ?? rule.source,
    tiers: rule.tiers.map((t) => ({
      indicator: t.indicator,
      summary: t.summary,
      checks:
        t.when === 'data-unavailable'
          ? ['Patient data the other rules need was not available']
          : t.when === 'order-unreadable'
            ? ['A draft order names its product only by a Medication that could not be read, so it may be glutamine']
            : t.when.map((c) => describeCriterion(c, catalogue)),
    })),
    valueSets: ruleValueSets(rule, catalogue).map((id) => {
      const vs = catalogue.valueSets.get(id);
      return { id, title: vs?.title ?? id, codes: vs?.concepts.length ?? 0, descendantsOf: vs?.descendantsOf ?? [], source: sourceOf(vs?.description) };
    }),
  };
}
