import type { OperationOutcome, OperationOutcomeIssue } from 'fhir/r4';
import type { ErrorCode, Problem } from '../errors.js';

/** FHIR IssueType for each error code (https://hl7.org/fhir/R4/valueset-issue-type.html). */
const ISSUE_TYPE: Record<ErrorCode, OperationOutcomeIssue['code']> = {
  ERR_BAD_REQUEST: 'invalid',
  ERR_MALFORMED_JSON: 'structure',
  ERR_HOOK_MISMATCH: 'invalid',
  ERR_UNAUTHORIZED: 'login',
  ERR_NOT_FOUND: 'not-found',
  ERR_UNKNOWN_SERVICE: 'not-found',
  ERR_METHOD_NOT_ALLOWED: 'not-supported',
  ERR_PREFETCH_UNAVAILABLE: 'incomplete',
  ERR_PAYLOAD_TOO_LARGE: 'too-long',
  ERR_UNSUPPORTED_MEDIA_TYPE: 'not-supported',
  ERR_INTERNAL: 'exception',
  ERR_BUSY: 'transient',
  ERR_RATE_LIMITED: 'throttled',
  ERR_STORE_UNAVAILABLE: 'transient',
};

/** The code system of the service's error codes, as they appear in `issue.details.coding`. */
const ERROR_CODE_SYSTEM = 'urn:glutamine-cds:error';

/**
 * Error bodies are FHIR OperationOutcomes (CDS Hooks 3.0 ballot §Returning OperationOutcome): one
 * issue per problem, `expression` naming the field, and the stable error code in `details`, as a
 * coding (the FHIR convention, as Medplum's outcomes do) and as its text.
 */
export function operationOutcome(code: ErrorCode, message: string, problems: readonly Problem[] = []): OperationOutcome {
  const issues = problems.length > 0 ? problems : [{ message }];
  return {
    resourceType: 'OperationOutcome',
    issue: issues.map((p) => ({
      severity: 'error',
      code: ISSUE_TYPE[code],
      details: { coding: [{ system: ERROR_CODE_SYSTEM, code }], text: code },
      diagnostics: p.message,
      ...(p.path ? { expression: [p.path] } : {}),
    })),
  };
}
