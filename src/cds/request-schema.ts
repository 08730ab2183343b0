import { z } from 'zod';
import { ServiceError } from '../errors.js';
import type { Problem } from '../errors.js';

/**
 * The CDS Hooks 2.0 request envelope, validated strictly enough to name what is missing and
 * leniently everywhere else: unknown fields and `extension` are kept and ignored (spec §Extensions),
 * FHIR content inside `draftOrders` and `prefetch` is read by tolerant readers, never rejected here.
 */

function required(kind: string) {
  return { error: (issue: { input?: unknown }) => (issue.input === undefined ? 'is required' : `must be ${kind}`) };
}

const nonEmpty = (kind = 'a non-empty string') => z.string(required(kind)).trim().min(1, `must be ${kind}`);

const contextSchema = z.looseObject(
  {
    patientId: nonEmpty()
      // The spec wants a bare Patient.id; some clients send `Patient/123`. Accept both.
      .transform((id) => id.replace(/^Patient\//, '')),
    userId: z.string().optional(),
    encounterId: z.string().optional(),
    // order-select only. A single string is read as a one-item list, like other object-for-array slips.
    selections: z
      .union([z.array(z.string()), z.string()], { error: 'must be an array of strings such as "MedicationRequest/123"' })
      .transform((s) => (typeof s === 'string' ? [s] : s))
      .optional(),
    // order-select and order-sign (hook-call.ts requires it for them); medication-verify sends the
    // one signed order as `medication` (or, in the draft's own examples, `order.resource`).
    draftOrders: z.record(z.string(), z.unknown(), required('a FHIR Bundle object')).optional(),
  },
  required('an object'),
);

export const hookRequestSchema = z.looseObject(
  {
    hook: nonEmpty(),
    // CDS Hooks 2.0: a UUID; a longer one would only fill the audit (a 2 MB hookInstance added 162 MB).
    hookInstance: nonEmpty().max(128, 'must be at most 128 characters (a UUID)'),
    fhirServer: z.string().optional(),
    fhirAuthorization: z.record(z.string(), z.unknown()).optional(),
    context: contextSchema,
    prefetch: z.record(z.string(), z.unknown(), { error: 'must be an object of prefetch keys' }).nullish(),
  },
  required('a JSON object'),
);

export type HookRequest = z.infer<typeof hookRequestSchema>;

export function zodProblems(error: z.ZodError): Problem[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    return path ? { path, message: `${path} ${issue.message}` } : { message: `request body ${issue.message}` };
  });
}

export function parseHookRequest(body: unknown): HookRequest {
  const result = hookRequestSchema.safeParse(body);
  if (!result.success) {
    const problems = zodProblems(result.error);
    throw new ServiceError('ERR_BAD_REQUEST', problems.map((p) => p.message).join('; '), problems);
  }
  return result.data;
}
