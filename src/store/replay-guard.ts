/**
 * Replay protection (CDS Hooks security best practices, step 6: "jti must not have been seen
 * before"): each (iss, jti) may be used once until its token expires. The audit store implements it
 * persistently, so a restart forgets nothing; auth/replay-cache.ts keeps one in memory where there is
 * no store.
 */
export interface ReplayGuard {
  /** Claims the id; false when it was already claimed and its token has not expired yet. Epoch seconds. */
  firstUse(iss: string, jti: string, expiresAt: number, now: number): Promise<boolean>;
}
