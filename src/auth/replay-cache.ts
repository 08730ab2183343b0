import type { ReplayGuard } from '../store/replay-guard.js';

/** In memory: tokens live at most an hour, so it stays small (expired ids are purged). */
export class ReplayCache implements ReplayGuard {
  private readonly seen = new Map<string, number>();

  // eslint-disable-next-line @typescript-eslint/require-await -- the interface is asynchronous for server stores
  async firstUse(iss: string, jti: string, expiresAt: number, now: number): Promise<boolean> {
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
