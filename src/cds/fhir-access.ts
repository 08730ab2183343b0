import { FhirClient } from '../fhir/fhir-client.js';
import type { FhirClientOptions } from '../fhir/fhir-client.js';
import { UNRESTRICTED, parseSmartScopes } from '../fhir/smart-scopes.js';
import type { ScopeGrant } from '../fhir/smart-scopes.js';
import { isRecord } from '../fhir/tolerant.js';
import { withoutTrailingSlashes } from '../fhir/strings.js';

/** How the service may call an EHR's FHIR server (from configuration). */
export interface FhirAccessPolicy {
  /** Per-request timeout. */
  timeoutMs: number;
  /** Budget for all the fetching of one hook call. */
  budgetMs: number;
  /** `http:` servers are refused unless this is set (CDS Hooks 2.0: fhirServer MUST be https in production). */
  allowHttp: boolean;
  /** When set, only these FHIR base URLs are called. */
  allowlist?: readonly string[];
  maxPages: number;
  maxResponseBytes: number;
  /** Most FHIR requests per hook call (CDS_FHIR_MAX_REQUESTS; default 50). */
  maxRequests?: number;
}

/** A client for the EHR's FHIR server, the reason it may not be called, or no server at all. */
export type FhirAccess = { kind: 'client'; client: FhirClient; scopes: ScopeGrant } | { kind: 'refused'; reason: string } | { kind: 'none' };

/**
 * The comparable form of a FHIR base: scheme and host are case-insensitive (URL lower-cases them),
 * the path is not — `/FHIR` and `/fhir` are different servers to an allow-list.
 */
function normalizeBase(url: URL): string {
  return `${url.origin}${withoutTrailingSlashes(url.pathname)}`;
}

/**
 * A client for the request's `fhirServer`, with its `fhirAuthorization` token, or the reason the
 * server may not be called. The token is held by the client and never leaves it but in the
 * Authorization header of requests to that server.
 */
export function fhirAccess(
  fhirServer: string | undefined,
  fhirAuthorization: Record<string, unknown> | undefined,
  policy: FhirAccessPolicy,
  now: () => number,
  watchers: Pick<FhirClientOptions, 'observe' | 'trace'> = {},
): FhirAccess {
  if (!fhirServer) return { kind: 'none' };
  let url: URL;
  try {
    url = new URL(fhirServer);
  } catch {
    return { kind: 'refused', reason: "the EHR's FHIR server address could not be read" };
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowHttp)) {
    // Card text is read by clinicians: the setting names (CDS_ALLOW_HTTP_FHIR …) are in the README.
    return { kind: 'refused', reason: "the EHR's FHIR server address is not secure (http), and this service calls only https servers" };
  }
  if (url.username || url.password) return { kind: 'refused', reason: "the EHR's FHIR server address carries credentials" };
  if (policy.allowlist && !policy.allowlist.some((allowed) => normalizeBase(new URL(allowed)) === normalizeBase(url))) {
    return { kind: 'refused', reason: "the EHR's FHIR server is not one this service is set up to call" };
  }
  const token =
    isRecord(fhirAuthorization) && typeof fhirAuthorization.access_token === 'string' && fhirAuthorization.access_token !== ''
      ? fhirAuthorization.access_token
      : undefined;
  const scope = isRecord(fhirAuthorization) && typeof fhirAuthorization.scope === 'string' ? fhirAuthorization.scope : undefined;
  return {
    kind: 'client',
    // What the token allows is not asked for beyond it: the rest is reported as not checked.
    scopes: token ? parseSmartScopes(scope) : UNRESTRICTED,
    client: new FhirClient({
      baseUrl: url.toString(),
      ...(token ? { accessToken: token } : {}),
      timeoutMs: policy.timeoutMs,
      budgetMs: policy.budgetMs,
      deadline: now() + policy.budgetMs,
      maxPages: policy.maxPages,
      maxResponseBytes: policy.maxResponseBytes,
      ...(policy.maxRequests !== undefined ? { maxRequests: policy.maxRequests } : {}),
      now,
      ...(watchers.observe ? { observe: watchers.observe } : {}),
      ...(watchers.trace ? { trace: watchers.trace } : {}),
    }),
  };
}
