// A clock the test moves by hand: timers fire in order as it advances, and each send they start is awaited before the next.
import type { NotifyClock } from '../../../src/ops/notify/clock.ts';

export class ManualClock implements NotifyClock {
  private t = Date.parse('2026-12-05T09:00:00.000Z');
  private seq = 0;
  private timers: Array<{ id: number; at: number; fn: () => void }> = [];

  /** Awaited after each timer fires (the notifier's settled()). */
  idle: () => Promise<void> = async () => undefined;

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.push({ id, at: this.t + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  pending(): number {
    return this.timers.length;
  }

  async advance(ms: number): Promise<void> {
    const target = this.t + ms;
    for (;;) {
      const next = this.timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!next) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.t = Math.max(this.t, next.at);
      next.fn();
      await this.idle();
    }
    this.t = target;
  }
}
