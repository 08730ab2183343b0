/**
 * Replay protection (CDS Hooks security best practices, step 6: "jti must not have been seen
 * before"): each (iss, jti) may be used once until its token expires. The audit store implements it
 * persistently, so a restart forgets nothing; this in-memory one serves where there is no store.
 */
export interface ReplayGuard {
  /** Claims the id; false when it was already claimed and its token has not expired yet. Epoch seconds. */
  firstUse(iss: string, jti: string, expiresAt: number, now: number): boolean;
}

/** In memory: tokens live at most an hour, so it stays small (expired ids are purged). */
export class ReplayCache implements ReplayGuard {
  private readonly seen = new Map<string, number>();

  firstUse(iss: string, jti: string, expiresAt: number, now: number): boolean {
    if (this.seen.size > 1000) this.purge(now);
    const id = `${iss}|${jti}`;
    const until = this.seen.get(id);
    if (until !== undefined && until > now) return false;
    this.seen.set(id, expiresAt);
    return true;
  }

  private purge(now: number): void {
    for (const [id, until] of this.seen) if (until <= now) this.seen.delete(id);
  }
}
