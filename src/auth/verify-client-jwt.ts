import { KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { JwtPayload } from 'jsonwebtoken';
import { wording } from '../errors.js';
import { bearerToken } from './bearer-token.js';
import { JwksCache } from './jwks-cache.js';
import { ReplayCache } from './replay-cache.js';
import type { ReplayGuard } from '../store/replay-guard.js';
import type { TrustedClient } from './trusted-clients.js';

/**
 * CDS Hooks 2.0 §Trusting CDS Clients, verified in the order of the CDS Hooks security best practices' checklist. Every failure has a
 * reason for the log; the caller only ever learns "401".
 */

/** Clock skew allowed on exp and iat. */
const SKEW_SECONDS = 60;
const MAX_JTI_LENGTH = 256;
/** CDS Hooks best practice: tokens live "no more than an hour". */
const MAX_LIFETIME_SECONDS = 3600;

/** Why a client JWT was refused: a fixed set, which is also the label set of the rejection metric. */
export const JWT_REJECTIONS = [
  'missing_token',
  'malformed',
  'unknown_iss',
  'algorithm',
  'kid',
  'crit',
  'jku',
  'expired',
  'signature_or_claims',
  'exp',
  'iat',
  'lifetime',
  'aud',
  'jti',
  'tenant',
  'replay',
  'replay_unchecked',
] as const;
export type JwtRejection = (typeof JWT_REJECTIONS)[number];

/** `code` says why (a metrics label); `reason` is the sentence for the log. */
export type Verification = { ok: true; iss: string; jti: string; tenant?: string } | { ok: false; code: JwtRejection; reason: string };

interface VerifierDeps {
  clients: readonly TrustedClient[];
  jwks: JwksCache;
  replay: ReplayGuard;
  /** Epoch seconds. */
  nowSeconds: () => number;
}

function fail(code: JwtRejection, reason: string = code.replace(/_/g, ' ')): Extract<Verification, { ok: false }> {
  return { ok: false, code, reason: wording(reason) };
}

async function findKey(client: TrustedClient, kid: string, alg: string, jku: string | undefined, deps: VerifierDeps): Promise<KeyObject | Verification> {
  // Never fetch a key URL the token names unless that client's entry lists it (SSRF, attacker keys).
  if (jku !== undefined && !client.jwksUrls.includes(jku)) return fail('jku', "jku is not on the client's jwksUrls");
  // A key pinned inline is used for its kid even when the token also names a listed jku: the
  // Sandbox always sends one, and an offline deployment pins the Sandbox's key.
  const inline = client.keys.get(kid);
  if (inline) return inline;
  if (jku !== undefined) return (await deps.jwks.key(jku, kid, alg)) ?? fail('kid', 'no key with that kid at the jku');
  for (const url of client.jwksUrls) {
    const key = await deps.jwks.key(url, kid, alg);
    if (key) return key;
  }
  return fail('kid', 'no key with that kid');
}

function audienceMatches(aud: unknown, expected: string): boolean {
  if (typeof aud === 'string') return aud === expected;
  return Array.isArray(aud) && aud.length === 1 && aud[0] === expected;
}

/** Verifies `Authorization: Bearer <jwt>` for a call to `expectedAudience` (the exact public URL invoked). */
async function verifyClientJwt(authorization: string | undefined, expectedAudience: string, deps: VerifierDeps): Promise<Verification> {
  const token = bearerToken(authorization);
  if (!token) return fail('missing_token', 'no bearer token');
  const decoded = jwt.decode(token, { complete: true });
  if (!decoded || typeof decoded.payload === 'string') return fail('malformed', 'malformed token');
  const { header, payload } = decoded;
  if (typeof payload.iss !== 'string') return fail('unknown_iss', 'no iss');
  const client = deps.clients.find((c) => c.iss === payload.iss);
  if (!client) return fail('unknown_iss', 'unknown iss');
  // The algorithm comes from the client's entry, never from the token (no none, no HS*).
  if (!(client.algorithms as readonly string[]).includes(header.alg)) return fail('algorithm', `algorithm ${header.alg} is not accepted for this client`);
  if (typeof header.kid !== 'string' || header.kid === '') return fail('kid', 'no kid');
  // RFC 7515 §4.1.11: extensions listed in crit must be understood, and this service understands none.
  if ((header as { crit?: unknown }).crit !== undefined) return fail('crit', 'crit header parameter not understood');
  const jku = (header as { jku?: unknown }).jku;
  if (jku !== undefined && typeof jku !== 'string') return fail('jku', 'malformed jku');
  const key = await findKey(client, header.kid, header.alg, jku, deps);
  if (!(key instanceof KeyObject)) return key;

  let verified: JwtPayload;
  try {
    const result = jwt.verify(token, key, {
      algorithms: client.algorithms,
      issuer: client.iss,
      clockTolerance: SKEW_SECONDS,
      clockTimestamp: deps.nowSeconds(),
    });
    if (typeof result === 'string') return fail('malformed', 'payload is not a JSON object');
    verified = result;
  } catch (error) {
    return fail(
      (error as Error).name === 'TokenExpiredError' ? 'expired' : 'signature_or_claims',
      `signature or claims rejected (${(error as Error).name}: ${(error as Error).message})`,
    );
  }
  const now = deps.nowSeconds();
  if (typeof verified.exp !== 'number') return fail('exp', 'no exp');
  if (typeof verified.iat !== 'number') return fail('iat', 'no iat');
  if (verified.iat > now + SKEW_SECONDS) return fail('iat', 'iat is in the future');
  if (verified.exp - verified.iat > MAX_LIFETIME_SECONDS) return fail('lifetime', 'lifetime longer than an hour');
  if (!audienceMatches(verified.aud, expectedAudience)) return fail('aud', 'aud is not the URL called');
  // A jti is an id (a UUID): a long one would only fill the replay store.
  if (typeof verified.jti !== 'string' || verified.jti === '' || verified.jti.length > MAX_JTI_LENGTH) return fail('jti', 'no jti, or one longer than an id');
  const claimed = (verified as { tenant?: unknown }).tenant;
  if (client.tenants && (typeof claimed !== 'string' || !client.tenants.includes(claimed))) return fail('tenant', 'tenant not allowed');
  // A client without a tenants list cannot vouch for a tenant: its claim is ignored, not stored or logged.
  const tenant = client.tenants ? (claimed as string) : undefined;
  let firstUse: boolean;
  try {
    firstUse = await deps.replay.firstUse(client.iss, verified.jti, verified.exp + SKEW_SECONDS, now);
  } catch {
    // Fail closed: a token whose jti cannot be checked is not accepted.
    return fail('replay_unchecked', 'replay store unreachable: the jti could not be checked, so the token is refused');
  }
  if (!firstUse) return fail('replay', 'jti replayed');
  return { ok: true, iss: client.iss, jti: verified.jti, ...(tenant !== undefined ? { tenant } : {}) };
}

/**
 * A verifier for these clients with its own key cache (per process) and a replay guard: the store's,
 * which survives restarts, or an in-memory one.
 */
export function clientVerifier(
  clients: readonly TrustedClient[],
  options: { jwksTimeoutMs?: number; minRefetchMs?: number; jwksMaxAgeMs?: number; replay?: ReplayGuard } = {},
): (authorization: string | undefined, expectedAudience: string) => Promise<Verification> {
  const jwks = new JwksCache({
    timeoutMs: options.jwksTimeoutMs ?? 2000,
    minRefetchMs: options.minRefetchMs ?? 60_000,
    maxAgeMs: options.jwksMaxAgeMs ?? 10 * 60_000,
  });
  const replay = options.replay ?? new ReplayCache();
  const nowSeconds = (): number => Math.floor(Date.now() / 1000);
  return (authorization, audience) => verifyClientJwt(authorization, audience, { clients, jwks, replay, nowSeconds });
}
