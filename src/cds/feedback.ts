import { z } from 'zod';
import { ServiceError } from '../errors.js';
import { DEFAULT_INPUT_LIMITS, checkAndCleanShape } from './input-limits.js';
import type { AuditStore, FeedbackRecord, StoredFeedback } from '../store/audit-store.js';
import { zodProblems } from './request-schema.js';

/**
 * CDS Hooks 2.0 §Feedback: `{"feedback": [Feedback, …]}`. `outcomeTimestamp` is RFC 3339 in UTC;
 * `acceptedSuggestions` is required for an accepted outcome (cds-fb-2); the Sandbox sends override
 * reasons with code and system only, so `display` is optional here.
 */
const UTC_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]00:00)$/;

/**
 * Lengths of what is stored (bounded storage): ids are UUIDs, codes and systems are short; a
 * display or comment is a sentence. Anything longer is a 400 naming the field.
 */
const MAX = { id: 128, code: 256, system: 1024, display: 1024, comment: 4096, suggestions: 50 } as const;

const feedbackItemSchema = z
  .looseObject({
    card: z
      .string({ error: (i) => (i.input === undefined ? 'is required' : 'must be the card uuid') })
      .min(1, 'must be the card uuid')
      .max(MAX.id, `must be the card uuid (at most ${MAX.id} characters)`),
    outcome: z.enum(['accepted', 'overridden'], { error: (i) => (i.input === undefined ? 'is required' : "must be 'accepted' or 'overridden'") }),
    acceptedSuggestions: z
      .array(z.looseObject({ id: z.string().min(1, 'must be a suggestion uuid').max(MAX.id, `must be a suggestion uuid (at most ${MAX.id} characters)`) }), {
        error: 'must be an array of {"id": …}',
      })
      .max(MAX.suggestions, `must list at most ${MAX.suggestions} suggestions`)
      .optional(),
    overrideReason: z
      .looseObject({
        reason: z
          .looseObject({
            system: z.string().max(MAX.system, `must be at most ${MAX.system} characters`).optional(),
            code: z.string().min(1, 'is required').max(MAX.code, `must be at most ${MAX.code} characters`),
            display: z.string().max(MAX.display, `must be at most ${MAX.display} characters`).optional(),
          })
          .optional(),
        userComment: z.string().max(MAX.comment, `must be at most ${MAX.comment} characters`).optional(),
      })
      .optional(),
    outcomeTimestamp: z
      .string({ error: (i) => (i.input === undefined ? 'is required' : 'must be a string') })
      .refine((t) => UTC_TIMESTAMP.test(t) && !Number.isNaN(Date.parse(t)), 'must be an RFC 3339 date-time in UTC, e.g. 2026-11-26T10:05:31Z'),
  })
  .superRefine((item, ctx) => {
    if (item.outcome === 'accepted' && (item.acceptedSuggestions === undefined || item.acceptedSuggestions.length === 0)) {
      ctx.addIssue({ code: 'custom', path: ['acceptedSuggestions'], message: 'is required when the outcome is accepted' });
    }
  });

export const feedbackBodySchema = z.looseObject(
  { feedback: z.array(feedbackItemSchema, { error: (i) => (i.input === undefined ? 'is required' : 'must be an array') }).min(1, 'must not be empty') },
  { error: (i) => (i.input === undefined ? 'is required' : 'must be a JSON object') },
);

export interface FeedbackDeps {
  store: AuditStore;
  storeComments: boolean;
  now: () => Date;
}

/** What a feedback call stored, and the outcomes of its (validated) items, for metrics. */
export interface AcceptedFeedback {
  stored: StoredFeedback;
  outcomes: Array<'accepted' | 'overridden'>;
}

/** Validates and stores a feedback call; stored (durably) before the caller answers 200. */
/** How far ahead of this service's clock an outcomeTimestamp may be (the JWT checks allow the same). */
const CLOCK_SKEW_MS = 60_000;

export async function acceptFeedback(
  serviceId: string,
  body: unknown,
  client: { iss: string; tenant?: string } | undefined,
  deps: FeedbackDeps,
): Promise<AcceptedFeedback> {
  checkAndCleanShape(body, DEFAULT_INPUT_LIMITS);
  const parsed = feedbackBodySchema.safeParse(body);
  if (!parsed.success) {
    const problems = zodProblems(parsed.error);
    throw new ServiceError('ERR_BAD_REQUEST', problems.map((p) => p.message).join('; '), problems);
  }
  const now = deps.now();
  const receivedAt = now.toISOString();
  const future = parsed.data.feedback.findIndex((item) => Date.parse(item.outcomeTimestamp) > now.getTime() + CLOCK_SKEW_MS);
  if (future >= 0) {
    const problem = { path: `feedback.${future}.outcomeTimestamp`, message: `feedback.${future}.outcomeTimestamp must not be in the future` };
    throw new ServiceError('ERR_BAD_REQUEST', problem.message, [problem]);
  }
  const records = parsed.data.feedback.map((item): FeedbackRecord => {
    const reason = item.overrideReason?.reason;
    const comment = item.overrideReason?.userComment;
    return {
      card: item.card,
      serviceId,
      outcome: item.outcome,
      acceptedSuggestions: (item.acceptedSuggestions ?? []).map((s) => s.id),
      ...(reason
        ? { overrideReason: { code: reason.code, ...(reason.system ? { system: reason.system } : {}), ...(reason.display ? { display: reason.display } : {}) } }
        : {}),
      // Free text can name the patient: kept only when the operator opts in.
      ...(deps.storeComments && comment ? { userComment: comment } : {}),
      outcomeTimestamp: new Date(item.outcomeTimestamp).toISOString(),
      receivedAt,
      ...(client ? { clientIss: client.iss, ...(client.tenant ? { clientTenant: client.tenant } : {}) } : {}),
    };
  });
  let stored: StoredFeedback;
  try {
    stored = await deps.store.recordFeedback(records);
  } catch (error) {
    // Never a false 200: feedback that was not committed is refused, and the EHR may send it again.
    throw new ServiceError('ERR_STORE_UNAVAILABLE', 'The feedback could not be stored just now; send it again later', [], { cause: error });
  }
  return { stored, outcomes: records.map((r) => r.outcome) };
}
