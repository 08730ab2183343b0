import { randomUUID, createPrivateKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import jwt from 'jsonwebtoken';
import type { Algorithm } from 'jsonwebtoken';

/**
 * `check --sign-with KEY --iss ISS`: the CDS client JWT an EHR would send (CDS Hooks 2.0 §Trusting
 * CDS Clients) — `iss`, `sub`, `aud` the exact URL called, five minutes of `exp`, a fresh `jti`, and
 * the key's `kid` in the header — so `check --url` can call a service that verifies tokens.
 */

/** The bearer token for a call to `audience` (the exact URL). */
export type TokenFor = (audience: string) => string;

/** A key file that cannot be used, named with why. */
export class KeyFileError extends Error {}

const LIFETIME_SECONDS = 300;

function algorithmFor(key: KeyObject): Algorithm {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa') return 'RS384';
  if (key.asymmetricKeyType === 'ec') {
    const byCurve: Record<string, Algorithm> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };
    const alg = byCurve[details?.namedCurve ?? ''];
    if (alg) return alg;
  }
  throw new KeyFileError(
    `a ${key.asymmetricKeyType ?? 'symmetric'} key${details?.namedCurve ? ` on ${details.namedCurve}` : ''} cannot sign a CDS client JWT (use RSA or EC P-256/P-384/P-521)`,
  );
}

/** Reads a private key — a JWK (JSON, its `kid` used) or PEM (`kid` given) — and signs tokens with it. */
export function clientTokenSigner(keyFile: string, iss: string, kid?: string): TokenFor {
  let text: string;
  try {
    text = readFileSync(keyFile, 'utf8');
  } catch (error) {
    throw new KeyFileError(`cannot read the key file ${keyFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let key: KeyObject;
  let keyId = kid;
  try {
    if (text.trimStart().startsWith('{')) {
      const jwk = JSON.parse(text) as { kid?: unknown; d?: unknown };
      if (jwk.d === undefined) throw new KeyFileError(`${keyFile} is a public JWK: signing needs the private key`);
      keyId ??= typeof jwk.kid === 'string' ? jwk.kid : undefined;
      key = createPrivateKey({ key: jwk as Record<string, string>, format: 'jwk' });
    } else {
      key = createPrivateKey(text);
    }
  } catch (error) {
    if (error instanceof KeyFileError) throw error;
    throw new KeyFileError(`${keyFile} is not a private key (a JWK or PEM): ${(error as Error).message}`);
  }
  if (keyId === undefined) throw new KeyFileError(`${keyFile} names no kid: give one with --kid (the service finds the key by it)`);
  const algorithm = algorithmFor(key);
  const keyid = keyId;
  return (audience) => jwt.sign({ jti: randomUUID() }, key, { algorithm, keyid, issuer: iss, subject: iss, audience, expiresIn: LIFETIME_SECONDS });
}
