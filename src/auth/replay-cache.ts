/**
 * JWT ids seen, kept until their token expires (CDS Hooks security best practices, step 6: "jti must not have been seen before";
 * tokens live at most an hour, so the cache stays small).
 */
export class ReplayCache {
  private readonly seen = new Map<string, number>();

  /** Records the id; false when it was already seen and its token has not expired yet. */
  firstUse(id: string, expiresAt: number, now: number): boolean {
    if (this.seen.size > 1000) this.purge(now);
    const until = this.seen.get(id);
    if (until !== undefined && until > now) return false;
    this.seen.set(id, expiresAt);
    return true;
  }

  private purge(now: number): void {
    for (const [id, until] of this.seen) if (until <= now) this.seen.delete(id);
  }
}
