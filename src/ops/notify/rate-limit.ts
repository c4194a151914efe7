// Sliding-window send limits per channel (Telegram 1/s per chat and 20/min per group, Discord 5 per 2 s, Slack 1/s).
export interface Window {
  count: number;
  ms: number;
}

export class SlidingLimit {
  /** Send times, oldest first, kept only as long as the longest window. */
  private readonly sent: number[] = [];
  private readonly longest: number;

  constructor(private readonly windows: readonly Window[]) {
    this.longest = Math.max(0, ...windows.map((w) => w.ms));
  }

  /** The earliest time a send is within every window (now, if it already is). */
  nextAllowedAt(now: number): number {
    this.prune(now);
    let at = now;
    for (const w of this.windows) {
      // The send that would be one too many in this window: the window must have moved past it.
      const blocking = this.sent.length >= w.count ? this.sent[this.sent.length - w.count] : undefined;
      if (blocking !== undefined) at = Math.max(at, blocking + w.ms);
    }
    return at;
  }

  record(now: number): void {
    this.sent.push(now);
    this.prune(now);
  }

  private prune(now: number): void {
    while (this.sent.length > 0 && (this.sent[0] as number) <= now - this.longest) this.sent.shift();
  }
}
