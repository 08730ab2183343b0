import type { KeyObject } from 'node:crypto';
import { isRecord } from '../fhir/tolerant.js';
import { publicKeyFromJwk } from './trusted-clients.js';

interface Entry {
  keys: Map<string, KeyObject>;
  fetchedAt: number;
}

export interface JwksCacheOptions {
  timeoutMs: number;
  /** An unknown kid refetches a JWKS at most this often (key rotation without letting tokens hammer the EHR). */
  minRefetchMs: number;
  maxBytes: number;
  now: () => number;
}

/**
 * Public keys fetched from allow-listed JWKS URLs (CDS Hooks security best practices: "maintain their own rotating cache of public
 * keys"). Only URLs the trusted-clients file lists ever reach this cache.
 */
export class JwksCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<Entry | undefined>>();

  constructor(private readonly options: JwksCacheOptions) {}

  async key(url: string, kid: string): Promise<KeyObject | undefined> {
    const entry = this.entries.get(url);
    const known = entry?.keys.get(kid);
    if (known) return known;
    if (entry && this.options.now() - entry.fetchedAt < this.options.minRefetchMs) return undefined;
    const fresh = await this.refresh(url);
    return fresh?.keys.get(kid);
  }

  private refresh(url: string): Promise<Entry | undefined> {
    let pending = this.inFlight.get(url);
    if (!pending) {
      pending = this.fetchKeys(url).finally(() => this.inFlight.delete(url));
      this.inFlight.set(url, pending);
    }
    return pending;
  }

  private async fetchKeys(url: string): Promise<Entry | undefined> {
    const fetchedAt = this.options.now();
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(this.options.timeoutMs), redirect: 'error', headers: { Accept: 'application/json' } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const text = await response.text();
      if (text.length > this.options.maxBytes) throw new Error('too large');
      const body = JSON.parse(text) as unknown;
      const keys = new Map<string, KeyObject>();
      const list = isRecord(body) && Array.isArray(body.keys) ? (body.keys as unknown[]) : [];
      for (const jwk of list) {
        if (!isRecord(jwk) || typeof jwk.kid !== 'string') continue;
        try {
          keys.set(jwk.kid, publicKeyFromJwk(jwk));
        } catch {
          // A key Node cannot read (or a private one) is skipped, not trusted.
        }
      }
      const entry = { keys, fetchedAt };
      this.entries.set(url, entry);
      return entry;
    } catch {
      // Remember the failed attempt so a flood of tokens cannot make us hammer the URL.
      const previous = this.entries.get(url);
      this.entries.set(url, { keys: previous?.keys ?? new Map<string, KeyObject>(), fetchedAt });
      return previous;
    }
  }
}
