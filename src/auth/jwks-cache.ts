import { KeyObject } from 'node:crypto';
import { createRemoteJWKSet } from 'jose';
import type { RemoteJWKSet } from 'jose';

export interface JwksCacheOptions {
  timeoutMs: number;
  /** An unknown kid refetches a JWKS at most this often (key rotation without letting tokens hammer the EHR). */
  minRefetchMs: number;
  /** Longest time fetched keys are trusted without a refetch: a key removed from the JWKS stops working. */
  maxAgeMs: number;
}

/**
 * Public keys fetched from allow-listed JWKS URLs (CDS Hooks security best practices: "maintain
 * their own rotating cache of public keys"), by jose's remote key set: maximum cache age, a cooldown
 * between refetches for an unknown kid, one fetch in flight per URL, and key selection by kid and
 * alg for RSA and EC (ES384) keys. jose only fetches and selects here; tokens are verified by
 * jsonwebtoken, as the design names it. Only URLs the trusted-clients file lists ever reach this cache.
 */
export class JwksCache {
  private readonly sets = new Map<string, RemoteJWKSet>();

  constructor(private readonly options: JwksCacheOptions) {}

  async key(url: string, kid: string, alg: string): Promise<KeyObject | undefined> {
    let set = this.sets.get(url);
    if (!set) {
      set = createRemoteJWKSet(new URL(url), {
        timeoutDuration: this.options.timeoutMs,
        cooldownDuration: this.options.minRefetchMs,
        cacheMaxAge: this.options.maxAgeMs,
      });
      this.sets.set(url, set);
    }
    try {
      return KeyObject.from(await set({ alg, kid }));
    } catch {
      // No matching key, an unreachable URL or a set that is not JWKS: no key, and the token fails.
      return undefined;
    }
  }
}
