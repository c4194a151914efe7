// Logs failed authentications without letting a flood fill the disk: the first few per source and minute, then one count.
import type { Logger } from '../ops/logger.ts';
import { MinuteCounter } from './limits.ts';

/** Failures logged one by one per source and minute; the rest are counted into a summary line. */
export const LOGGED_FAILURES_PER_MINUTE = 5;

/**
 * One per receiver (webhook, admin API). Each failure is counted; the first few of a source in a minute are logged as
 * they come, the next one says that the rest are counted, and the first failure of a later minute (or `flush`) logs
 * one summary line per source with how many went unlogged.
 */
export class AuthFailureLog {
  private readonly counter = new MinuteCounter();
  private finishedMinuteStart: Date | undefined;

  constructor(private readonly logger: Logger, private readonly event: string, private readonly message: string,
    private readonly perMinute = LOGGED_FAILURES_PER_MINUTE) {}

  /** Records one failure of `source`; `fields` go on its line when it is logged. */
  record(source: string, now: Date, fields: Record<string, unknown> = {}): void {
    this.summarize(this.counter.roll(now));
    this.finishedMinuteStart = new Date(Math.floor(now.getTime() / 60_000) * 60_000);
    const count = this.counter.add(source, now);
    if (count <= this.perMinute) {
      this.logger.warn({ event: this.event, source, ...fields }, this.message);
    } else if (count === this.perMinute + 1) {
      this.logger.warn({ event: `${this.event}_throttled`, source, logged: this.perMinute },
        `${this.message}: more than ${this.perMinute} from ${source} this minute, the rest are counted in one line`);
    }
  }

  /** Logs the summaries of the minute in progress (at shutdown, or from a test). */
  flush(): void {
    this.summarize(this.counter.roll(new Date(8.64e15)));
  }

  private summarize(finished: ReadonlyMap<string, number>): void {
    for (const [source, count] of finished) {
      if (count <= this.perMinute) continue;
      this.logger.warn({ event: `${this.event}_summary`, source, failures: count, unlogged: count - this.perMinute,
        minute: this.finishedMinuteStart?.toISOString() }, `${this.message}: ${count} from ${source} in the minute from ${this.finishedMinuteStart?.toISOString().slice(11, 16) ?? '?'} UTC`);
    }
  }
}
