import { z } from 'zod';

/**
 * CDS Hooks 2.0 §CDS Service Response, as this service emits it. The types of the response come
 * from here, and the tests validate every response against it (no nulls, no empty strings/arrays).
 */
const text = z.string().min(1);

const codingSchema = z.strictObject({ system: text, code: text, display: text.optional() });

const actionSchema = z.strictObject({
  type: z.enum(['create', 'update', 'delete']),
  description: text,
  resourceId: text.optional(),
  resource: z.record(z.string(), z.unknown()).optional(),
});

const suggestionSchema = z.strictObject({
  label: text,
  uuid: z.uuid().optional(),
  isRecommended: z.boolean().optional(),
  actions: z.array(actionSchema).min(1).optional(),
});

const linkSchema = z.strictObject({
  label: text,
  url: z.url(),
  type: z.enum(['absolute', 'smart']),
  appContext: text.optional(),
});

const cardSchema = z
  .strictObject({
    uuid: z.uuid(),
    summary: text.max(139),
    detail: text.optional(),
    indicator: z.enum(['info', 'warning', 'critical']),
    source: z.strictObject({
      label: text,
      url: z.url().optional(),
      icon: z.url().optional(),
      topic: codingSchema.optional(),
    }),
    suggestions: z.array(suggestionSchema).min(1).optional(),
    selectionBehavior: z.enum(['at-most-one', 'any']).optional(),
    // Override reasons MUST carry a display (CDS Hooks 2.0 §Card attributes).
    overrideReasons: z
      .array(codingSchema.extend({ display: text }))
      .min(1)
      .optional(),
    links: z.array(linkSchema).min(1).optional(),
    /** CDS Hooks 2.0 §Extensions: here, what findings the card carries and for which order. */
    extension: z.record(z.string(), z.unknown()).optional(),
  })
  .refine((card) => card.suggestions === undefined || card.selectionBehavior !== undefined, {
    error: 'selectionBehavior is required when suggestions are present',
  });

export const hookResponseSchema = z.strictObject({ cards: z.array(cardSchema), extension: z.record(z.string(), z.unknown()).optional() });

export type Card = z.infer<typeof cardSchema>;
export type HookResponse = z.infer<typeof hookResponseSchema>;
