import { z } from 'zod';

/**
 * The shape of every file in cards/. Checked at start-up: a file that does not match stops the
 * service with the file and the field named (see load-catalogue.ts).
 */

const id = z.string().regex(/^[a-z][a-z0-9-]*$/, 'must be a lower-case kebab-case id');
const text = z.string().trim().min(1, 'must not be empty');
/** CDS Hooks 2.0 §Card: "one-sentence, <140-character summary". */
const summary = text.max(139, 'must be under 140 characters (CDS Hooks 2.0 card summary)');

export const indicatorSchema = z.enum(['critical', 'warning', 'info']);
export type Indicator = z.infer<typeof indicatorSchema>;

export const catalogueFileSchema = z.strictObject({
  ruleCodeSystem: z.string().min(1),
  overrideReasonSystem: z.string().min(1),
  rules: z.array(id).min(1),
  sources: z.record(id, z.strictObject({ label: text, url: z.url().optional() })),
  overrideReasons: z.record(id, text),
  glutamineOrder: z.strictObject({ valueSet: id, names: z.array(text).min(1) }),
  removeOrderSuggestion: z.strictObject({ label: text, actionDescription: text }),
});

export const servicesFileSchema = z.strictObject({
  services: z
    .array(
      z.strictObject({
        id,
        hook: z.enum(['order-select', 'order-sign']),
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

export const analyteSchema = z.strictObject({
  label: text,
  valueSet: id,
  lookbackDays: z.number().int().positive(),
  unit: text,
  conversions: z.array(conversionSchema).min(1),
  defaultUpperLimit: z.number().positive().optional(),
  textValuesInCanonicalUnit: z.boolean().optional(),
});
export const analytesFileSchema = z.record(z.string(), analyteSchema);
export type Analyte = z.infer<typeof analyteSchema> & { id: string };

const thresholdSchema = z.union([z.number(), z.strictObject({ upperLimitTimes: z.number().positive() })]);

export const criterionSchema = z.union([
  z.strictObject({ condition: z.strictObject({ valueSet: id }) }),
  z.strictObject({
    lab: z.strictObject({
      analyte: z.string(),
      compare: z.enum(['above', 'at-least', 'below']),
      threshold: thresholdSchema,
      interpretationsWhenNoValue: z.array(text).optional(),
    }),
  }),
  z.strictObject({ medication: z.strictObject({ valueSet: id, names: z.array(text).min(1) }) }),
]);
export type Criterion = z.infer<typeof criterionSchema>;
export type LabCriterion = Extract<Criterion, { lab: unknown }>['lab'];

const tierSchema = z.strictObject({
  indicator: indicatorSchema,
  when: z.union([z.array(criterionSchema).min(1), z.literal('data-unavailable')]),
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

export const valueSetFileSchema = z.object({
  resourceType: z.literal('ValueSet'),
  id,
  url: z.string().min(1),
  title: text,
  description: text.optional(),
  expansion: z.object({
    contains: z
      .array(z.object({ system: z.string().min(1), code: z.string().min(1), display: z.string().optional() }))
      .min(1),
  }),
});
