import { z } from 'zod';
import { GAP_CAUSES } from './evidence.js';

/**
 * The shape of every file in cards/. Checked at start-up: a file that does not match stops the
 * service with the file and the field named (see load-catalogue.ts).
 */

const id = z.string().regex(/^[a-z][a-z0-9-]*$/, 'must be a lower-case kebab-case id');
const text = z.string().trim().min(1, 'must not be empty');
/** CDS Hooks 2.0 §Card: "one-sentence, <140-character summary". */
const summary = text.max(139, 'must be under 140 characters (CDS Hooks 2.0 card summary)');

const indicatorSchema = z.enum(['critical', 'warning', 'info']);
export type Indicator = z.infer<typeof indicatorSchema>;

export const catalogueFileSchema = z.strictObject({
  ruleCodeSystem: z.string().min(1),
  overrideReasonSystem: z.string().min(1),
  rules: z.array(id).min(1),
  sources: z.record(id, z.strictObject({ label: text, url: z.url().optional() })),
  overrideReasons: z.record(id, text),
  /** Codes of an older override reason system that feedback may still carry: named in analytics, never offered. */
  legacyOverrideReasons: z.strictObject({ system: z.string().min(1), reasons: z.record(id, text) }).optional(),
  glutamineOrder: z.strictObject({ valueSet: id }),
  removeOrderSuggestion: z.strictObject({ label: text, actionDescription: text }),
  /** In place of the remove suggestion when the order is already signed (medication-verify). */
  signedOrderAdvice: text,
  /** The one line of patient counselling the `counselling` option adds (clinical spec: advice, never a card). */
  counsellingLine: text,
  /**
   * Fewer cards (clinical-spec revision 2, items 23-26): findings of the rules of one group are one
   * card per order, at the highest indicator; all info findings of an order are one card, `orderNotes`.
   */
  cardGroups: z.array(z.strictObject({ id, rules: z.array(id).min(2) })),
  orderNotes: z.strictObject({ code: id, display: text, summary }),
});

export const servicesFileSchema = z.strictObject({
  services: z
    .array(
      z.strictObject({
        id,
        hook: z.enum(['order-select', 'order-sign', 'medication-verify']),
        /** The version of the hook definition the service implements (CDS Hooks 3.0 ballot discovery `hookVersion`). */
        hookVersion: z.string().regex(/^\d+\.\d+(?:\.\d+)?$/),
        title: text,
        description: text,
        usageRequirements: text.optional(),
      }),
    )
    .min(1),
  data: z
    .array(
      z.strictObject({
        key: z.string().regex(/^[A-Za-z][A-Za-z0-9]*$/, 'must be a camelCase prefetch key'),
        label: text,
        resourceType: z.enum(['Patient', 'Condition', 'Observation', 'MedicationRequest', 'MedicationStatement']),
        analyte: z.string().optional(),
        template: text,
      }),
    )
    .min(1),
});

const conversionSchema = z.strictObject({
  units: z.array(text).min(1),
  factor: z.number().positive(),
  basis: text.optional(),
  nitrogen: z.strictObject({ factor: z.number().positive(), basis: text }).optional(),
});

const analyteSchema = z.strictObject({
  label: text,
  valueSet: id,
  lookbackDays: z.number().int().positive(),
  unit: text,
  /** How values are shown to people (clinical-spec revision 2, item 21): decimals, and below 10. */
  display: z.strictObject({ decimals: z.number().int().min(0).max(3), decimalsBelow10: z.number().int().min(0).max(3).optional() }),
  conversions: z.array(conversionSchema).min(1),
  defaultUpperLimit: z.number().positive().optional(),
  textValuesInCanonicalUnit: z.boolean().optional(),
  /** Computed from another analyte when no result of its own is in the window (eGFR from creatinine). */
  derivedFrom: z.strictObject({ analyte: z.string().min(1), equation: z.literal('ckd-epi-2021-creatinine') }).optional(),
});
export const analytesFileSchema = z.record(z.string(), analyteSchema);
export type Analyte = z.infer<typeof analyteSchema> & { id: string };

/** cards/dosing.json: the units, product strengths and timing abbreviations the dose arithmetic knows. */
const timingSchema = z.strictObject({ frequency: z.number().positive(), period: z.number().positive(), periodUnit: z.string().min(1) });
export const dosingSchema = z
  .strictObject({
    massUnits: z.array(z.strictObject({ units: z.array(text).min(1), grams: z.number().positive() })).min(1),
    packet: z.strictObject({ units: z.array(text).min(1), grams: z.number().positive() }),
    doseForms: z.strictObject({ units: z.array(text).min(1) }),
    productStrengths: z.array(z.strictObject({ system: text, code: text, grams: z.number().positive() })),
    timingCodes: z.record(z.string().regex(/^[A-Z0-9]+$/, 'must be an upper-case abbreviation'), timingSchema),
    daysPerUnit: z.record(z.string(), z.number().positive()),
    durationUnitAliases: z.record(z.string(), z.string()),
  })
  .superRefine((dosing, ctx) => {
    for (const [code, timing] of Object.entries(dosing.timingCodes)) {
      if (dosing.daysPerUnit[timing.periodUnit] === undefined) {
        ctx.addIssue({ code: 'custom', path: ['timingCodes', code, 'periodUnit'], message: `unknown unit '${timing.periodUnit}' (not in daysPerUnit)` });
      }
    }
    for (const [alias, unit] of Object.entries(dosing.durationUnitAliases)) {
      if (dosing.daysPerUnit[unit] === undefined) {
        ctx.addIssue({ code: 'custom', path: ['durationUnitAliases', alias], message: `unknown unit '${unit}' (not in daysPerUnit)` });
      }
    }
  });
export type Dosing = z.infer<typeof dosingSchema>;

const thresholdSchema = z.union([z.number(), z.strictObject({ upperLimitTimes: z.number().positive() })]);

/** Criteria name a value set; its members are its codes plus the names in cards/value-set-names.json. */
const conditionMatchSchema = z.strictObject({ valueSet: id });

/** What exempts a patient or order from a criterion: a condition, or the product itself. */
const exemptionSchema = z.union([z.strictObject({ condition: conditionMatchSchema }), z.strictObject({ product: z.strictObject({ valueSet: id }) })]);
export type Exemption = z.infer<typeof exemptionSchema>;

/** Card text for a criterion that needs its own words within a tier (e.g. the sickle cell weight band). */
const textOverrideSchema = z.strictObject({ summary: summary.optional(), reason: text.optional(), advice: text.optional() });

const criterionExtras = { unless: z.array(exemptionSchema).min(1).optional(), text: textOverrideSchema.optional() };

const criterionSchema = z.union([
  z.strictObject({ condition: conditionMatchSchema, ...criterionExtras }),
  z.strictObject({
    lab: z.strictObject({
      analyte: z.string(),
      compare: z.enum(['above', 'at-least', 'below']),
      threshold: thresholdSchema,
      interpretationsWhenNoValue: z.array(text).optional(),
      /** Flags by which the lab calls the result normal: with no range of the report, the default limit then yields. */
      normalWhenFlagged: z.array(text).optional(),
    }),
    ...criterionExtras,
  }),
  z.strictObject({
    /**
     * `note`: what the medication says about the patient, shown with it ("cancer treatment").
     * `oneCardPerPair`: two checked draft orders of the value set are one finding, on the later
     * one, so that accepting every suggestion never removes both (revision 2, item 16).
     */
    medication: z.strictObject({ valueSet: id, note: text.optional(), oneCardPerPair: z.boolean().optional() }),
    ...criterionExtras,
  }),
  z.strictObject({ dailyDose: z.strictObject({ aboveGrams: z.number().positive() }), ...criterionExtras }),
  z.strictObject({
    singleDoseWeightBand: z.strictObject({
      condition: conditionMatchSchema,
      weightAnalyte: z.string().min(1),
      /** The band is per dose, given this many times a day: the daily total may be at most that many bands (revision 2, item 11). */
      labeledTimesPerDay: z.number().int().positive(),
      bands: z
        .array(
          z.strictObject({
            belowKg: z.number().positive().optional(),
            upToKg: z.number().positive().optional(),
            maxGrams: z.number().positive(),
          }),
        )
        .min(1),
    }),
    ...criterionExtras,
  }),
  z.strictObject({ duration: z.strictObject({ aboveDays: z.number().positive() }), ...criterionExtras }),
  z.strictObject({
    product: z.strictObject({ valueSet: id, multipleIngredients: z.boolean().optional() }),
    ...criterionExtras,
  }),
  z.strictObject({ orderReason: z.strictObject({ valueSet: id }), ...criterionExtras }),
]);
export type Criterion = z.infer<typeof criterionSchema>;
export type LabCriterion = Extract<Criterion, { lab: unknown }>['lab'];

/** The kinds of criterion, by the key that holds each one's settings. */
const CRITERION_KINDS = ['condition', 'lab', 'medication', 'dailyDose', 'singleDoseWeightBand', 'duration', 'product', 'orderReason'] as const;
type CriterionKind = (typeof CRITERION_KINDS)[number];
/** The criterion of one kind (of each kind, for a union of kinds). */
export type CriterionOf<K extends CriterionKind> = K extends CriterionKind ? Extract<Criterion, Record<K, unknown>> : never;

export function criterionKind(criterion: Criterion): CriterionKind {
  const kind = CRITERION_KINDS.find((k) => k in criterion);
  // Unreachable for a criterion the schema accepted (onCriterion compiles only while each has a kind).
  if (kind === undefined) throw new TypeError(`a criterion of no known kind: ${Object.keys(criterion).join(', ')}`);
  return kind;
}

/**
 * One handler per criterion kind. Every place that treats kinds differently is such a table, so a
 * new kind fails to compile until each of them handles it.
 */
export type CriterionHandlers<Args extends unknown[], Result> = { [K in CriterionKind]: (criterion: CriterionOf<K>, ...args: Args) => Result };

export function onCriterion<Args extends unknown[], Result>(criterion: Criterion, handlers: CriterionHandlers<Args, Result>, ...args: Args): Result {
  // The handler of the criterion's own kind: TypeScript cannot correlate the two, so the one cast is here.
  // Passing a Criterion where CriterionOf<CriterionKind> is expected compiles only while every member
  // of criterionSchema has one of CRITERION_KINDS.
  const handler = handlers[criterionKind(criterion)] as (criterion: CriterionOf<CriterionKind>, ...args: Args) => Result;
  return handler(criterion, ...args);
}

const OWN_VALUE_SETS: CriterionHandlers<[], string[]> = {
  condition: (c) => [c.condition.valueSet],
  lab: () => [],
  medication: (c) => [c.medication.valueSet],
  dailyDose: () => [],
  singleDoseWeightBand: (c) => [c.singleDoseWeightBand.condition.valueSet],
  duration: () => [],
  product: (c) => [c.product.valueSet],
  orderReason: (c) => [c.orderReason.valueSet],
};

const ANALYTE_FIELDS: CriterionHandlers<[], { id: string; field: string } | undefined> = {
  condition: () => undefined,
  lab: (c) => ({ id: c.lab.analyte, field: 'lab.analyte' }),
  medication: () => undefined,
  dailyDose: () => undefined,
  singleDoseWeightBand: (c) => ({ id: c.singleDoseWeightBand.weightAnalyte, field: 'singleDoseWeightBand.weightAnalyte' }),
  duration: () => undefined,
  product: () => undefined,
  orderReason: () => undefined,
};

/** The analyte a criterion reads, and the field that names it; undefined for criteria that read no lab. */
export function criterionAnalyte(criterion: Criterion): { id: string; field: string } | undefined {
  return onCriterion(criterion, ANALYTE_FIELDS);
}

/** The value sets a criterion names directly (its own and its exemptions'). */
export function criterionValueSets(criterion: Criterion): string[] {
  const exemptions = (criterion.unless ?? []).map((e) => ('condition' in e ? e.condition.valueSet : e.product.valueSet));
  return [...onCriterion(criterion, OWN_VALUE_SETS), ...exemptions];
}

/** Card text for a tier when the patient has a condition named so (lactulose with hepatic encephalopathy on file). */
const textIfConditionNamedSchema = z.strictObject({ names: z.array(text).min(1), reason: text, advice: text });

const tierSchema = z.strictObject({
  indicator: indicatorSchema,
  textIfConditionNamed: textIfConditionNamedSchema.optional(),
  /** For the data-unavailable tier: the words for each kind of cause, which its summary names (revision 2, item 18). */
  causes: z.record(z.enum(GAP_CAUSES), text).optional(),
  /** Overrides the rule's removeOrder for this tier (an information tier need not suggest removal). */
  removeOrder: z.boolean().optional(),
  /**
   * The criteria, or one of the service's own situations: `data-unavailable` (data the rules need
   * could not be had) and `order-unreadable` (a draft's product could not be read, so it may be
   * glutamine: revision 2, item 29).
   */
  when: z.union([z.array(criterionSchema).min(1), z.enum(['data-unavailable', 'order-unreadable'])]),
  summary,
  reason: text,
  advice: text,
});

export const ruleFileSchema = z.strictObject({
  id,
  title: text,
  description: text,
  source: id,
  removeOrder: z.boolean(),
  overrideReasons: z.array(id),
  tiers: z.array(tierSchema).min(1),
});
export type RuleDefinition = z.infer<typeof ruleFileSchema>;
export type Tier = RuleDefinition['tiers'][number];

/** ICD-10-CM `is-a` filters: the only intensional definition the service evaluates (by code prefix). */
const isAFilterSchema = z.object({ property: z.literal('concept'), op: z.literal('is-a'), value: z.string().min(1) });

/** cards/value-set-names.json: names that count as members of a value set where codes fall short. */
export const valueSetNamesFileSchema = z.strictObject({
  description: text,
  names: z.record(id, z.array(text).min(1)),
  /** Names that count only for a Condition with no coding at all, text only (clinical-spec revision 2, item 6). */
  textOnlyNames: z.record(id, z.array(text).min(1)),
});

export const valueSetFileSchema = z
  .object({
    resourceType: z.literal('ValueSet'),
    id,
    url: z.string().min(1),
    title: text,
    description: text.optional(),
    compose: z
      .object({
        include: z.array(
          z.object({
            system: z.string().optional(),
            filter: z.array(isAFilterSchema).optional(),
          }),
        ),
      })
      .optional(),
    expansion: z.object({
      contains: z.array(z.object({ system: z.string().min(1), code: z.string().min(1), display: z.string().optional() })),
    }),
  })
  .superRefine((vs, ctx) => {
    for (const [i, include] of (vs.compose?.include ?? []).entries()) {
      if (include.filter && include.system !== 'http://hl7.org/fhir/sid/icd-10-cm') {
        ctx.addIssue({ code: 'custom', path: ['compose', 'include', i, 'filter'], message: 'is-a filters are only evaluated for ICD-10-CM' });
      }
    }
  });
