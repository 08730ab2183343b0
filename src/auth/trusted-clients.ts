import { createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../errors.js';

/**
 * The EHRs allowed to call the service (CDS Hooks 2.0 §Trusting CDS Clients: "CDS Services SHOULD
 * limit the CDS Clients they trust by maintaining an allowlist of iss and jku urls").
 */

/** Asymmetric JWS algorithms only: never `none`, never HMAC (CDS Hooks 2.0 SHALL NOT). */
const ASYMMETRIC_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const;
type Algorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];
const DEFAULT_ALGORITHMS: Algorithm[] = ['ES384', 'RS384'];

/** https, or http on a loopback host (local tests and JWKS endpoints only). */
function isAllowedKeyUrl(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

const jwkSchema = z.looseObject({ kty: z.string().min(1), kid: z.string().min(1, 'every key needs a kid') });

const clientSchema = z
  .strictObject({
    iss: z.string().min(1),
    jwks: z.strictObject({ keys: z.array(jwkSchema).min(1) }).optional(),
    jwksUrls: z.array(z.string().refine(isAllowedKeyUrl, 'must be an https URL (http only on a loopback host)')).min(1).optional(),
    tenants: z.array(z.string().min(1)).min(1).optional(),
    algorithms: z
      .array(z.enum(ASYMMETRIC_ALGORITHMS, { error: `must be one of ${ASYMMETRIC_ALGORITHMS.join(', ')} (never none or HS*)` }))
      .min(1)
      .optional(),
  })
  .refine((c) => c.jwks !== undefined || c.jwksUrls !== undefined, { error: 'needs jwks, jwksUrls or both' });

const fileSchema = z.strictObject({ clients: z.array(clientSchema).min(1) });

export interface TrustedClient {
  iss: string;
  /** Inline public keys by kid. */
  keys: Map<string, KeyObject>;
  jwksUrls: string[];
  tenants?: string[];
  algorithms: Algorithm[];
}

/** A JWK as a public KeyObject; refuses private key material and keys Node cannot read. */
function publicKeyFromJwk(jwk: Record<string, unknown>): KeyObject {
  if ('d' in jwk) throw new Error('is a private key; only public keys belong here');
  return createPublicKey({ key: jwk, format: 'jwk' });
}

export function parseTrustedClients(value: unknown, source: string): TrustedClient[] {
  const result = fileSchema.safeParse(value);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => `${source}: ${i.path.join('.') || '(root)'}: ${i.message}`));
  }
  const seen = new Set<string>();
  return result.data.clients.map((client, index) => {
    if (seen.has(client.iss)) throw new ConfigError([`${source}: clients.${index}.iss: '${client.iss}' is listed twice`]);
    seen.add(client.iss);
    const keys = new Map<string, KeyObject>();
    (client.jwks?.keys ?? []).forEach((jwk, k) => {
      try {
        keys.set(jwk.kid, publicKeyFromJwk(jwk));
      } catch (error) {
        throw new ConfigError([`${source}: clients.${index}.jwks.keys.${k}: ${(error as Error).message}`]);
      }
    });
    return {
      iss: client.iss,
      keys,
      jwksUrls: client.jwksUrls ?? [],
      ...(client.tenants ? { tenants: client.tenants } : {}),
      algorithms: client.algorithms ?? DEFAULT_ALGORITHMS,
    };
  });
}

/** Reads and validates the CDS_TRUSTED_CLIENTS file; ConfigError names the file and field. */
export function loadTrustedClients(path: string): TrustedClient[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new ConfigError([`CDS_TRUSTED_CLIENTS: cannot read ${path}`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ConfigError([`CDS_TRUSTED_CLIENTS: ${path} is not valid JSON`]);
  }
  return parseTrustedClients(json, path);
}
