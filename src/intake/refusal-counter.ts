// Refusals that come in floods (429 over the strategy ceiling) are journalled once per strategy and minute, then counted.
import { MinuteCounter } from './limits.ts';

/** The reasons counted rather than journalled one by one: a refusal the sender can repeat hundreds of times a second. */
export const COUNTED_REASONS: ReadonlySet<string> = new Set(['rate_limited']);

/** A minute's refusals beyond the journalled ones, for one summary row. */
export interface RefusalSummary {
  strategy: string;
  reason: string;
  /** Refused in that minute, the journalled ones included. */
  refused: number;
  /** Refused and not journalled one by one. */
  counted: number;
  minuteStart: Date;
}

/**
 * Per strategy, reason and minute: the first `journalledPerMinute` refusals are journalled as they come, the rest only
 * counted; when the minute is over (seen at the next request), one summary per strategy and reason says how many. A
 * flood of 429s then writes a few rows a minute, not one per request. Strategy names past 1,000 share one count.
 */
export class RefusalCounter {
  private readonly counter = new MinuteCounter(1_000);
  private minuteStart: Date | undefined;

  constructor(private readonly journalledPerMinute = 1) {}

  /** Whether this refusal is journalled (true) or only counted (false). Reasons outside COUNTED_REASONS always are. */
  take(strategy: string, reason: string, now: Date): boolean {
    if (!COUNTED_REASONS.has(reason)) return true;
    return this.counter.add(`${reason}\u0000${strategy}`, now) <= this.journalledPerMinute;
  }

  /** The summaries of a minute that has ended by `now` (each once); call before `take` on every request. */
  finished(now: Date): RefusalSummary[] {
    const ended = this.counter.roll(now);
    const start = this.minuteStart;
    this.minuteStart = new Date(Math.floor(now.getTime() / 60_000) * 60_000);
    if (start === undefined) return [];
    return [...ended].filter(([, refused]) => refused > this.journalledPerMinute).map(([key, refused]) => {
      const [reason = '', strategy = MinuteCounter.OVERFLOW] = key === MinuteCounter.OVERFLOW ? ['rate_limited'] : key.split('\u0000');
      return { strategy, reason, refused, counted: refused - this.journalledPerMinute, minuteStart: start };
    });
  }
}
