// One channel's outbox: a bounded in-memory queue, drained asynchronously in batches within the service's rate limits,
// retried with backoff on failure. add() is synchronous and O(1): trading never waits for a notification.
import type { Logger } from '../logger.ts';
import type { NotifyClock } from './clock.ts';
import type { Window } from './rate-limit.ts';
import { SlidingLimit } from './rate-limit.ts';
import type { Sender } from './sender.ts';

export interface OutboxOptions {
  name: string;
  sender: Sender;
  limits: readonly Window[];
  clock: NotifyClock;
  logger: Logger;
  /** Lines arriving within this long of the first are sent as one message. */
  batchWindowMs: number;
  /** A batch shows this many lines, then a count of the rest. */
  maxLines: number;
  /** Lines held at most; past it the oldest are dropped (and counted in the next message and the log). */
  maxQueued: number;
  /** Attempts of one message before it is given up (logged). */
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

export interface OutboxStats {
  queued: number;
  sent: number;
  dropped: number;
  failed: number;
}

interface Line { text: string; urgent: boolean }

export class Outbox {
  // A ring buffer: push and drop-oldest are O(1) whatever the burst.
  private ring: Array<Line | undefined>;
  private head = 0;
  private size = 0;
  private firstAt: number | undefined;
  private droppedSinceSent = 0;
  private inFlight: { text: string; attempts: number } | undefined;
  private retryAt = 0;
  private timer: unknown;
  private sending = false;
  private stopped = false;
  private readonly limit: SlidingLimit;
  readonly stats: OutboxStats = { queued: 0, sent: 0, dropped: 0, failed: 0 };
  /** Resolves when the current send ends (tests and stop() wait on it). */
  private current: Promise<void> = Promise.resolve();

  constructor(private readonly options: OutboxOptions) {
    this.ring = new Array<Line | undefined>(options.maxQueued);
    this.limit = new SlidingLimit(options.limits);
  }

  add(text: string, urgent = false): void {
    if (this.stopped) return;
    if (this.size === this.options.maxQueued) {
      this.ring[this.head] = undefined;
      this.head = (this.head + 1) % this.options.maxQueued;
      this.size -= 1;
      this.stats.dropped += 1;
      this.droppedSinceSent += 1;
      // One warning per power of two: a flood is visible in the log without flooding it.
      if ((this.stats.dropped & (this.stats.dropped - 1)) === 0) {
        this.options.logger.warn({ event: 'notify.dropped', channel: this.options.name, dropped: this.stats.dropped }, `notification queue of ${this.options.name} full: oldest dropped`);
      }
    }
    this.ring[(this.head + this.size) % this.options.maxQueued] = { text, urgent };
    this.size += 1;
    this.stats.queued = this.size;
    this.firstAt ??= this.options.clock.now();
    this.schedule();
  }

  /** Waits for a send in progress (not for the queue to empty). */
  settled(): Promise<void> {
    return this.current;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.options.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.stopped || this.sending || this.timer !== undefined) return;
    if (this.inFlight === undefined && this.size === 0) return;
    const now = this.options.clock.now();
    const urgent = this.inFlight === undefined && this.peekUrgent();
    const batchDue = this.inFlight !== undefined || urgent ? now : (this.firstAt ?? now) + this.options.batchWindowMs;
    const due = Math.max(batchDue, this.limit.nextAllowedAt(now), this.retryAt);
    this.timer = this.options.clock.setTimeout(() => {
      this.timer = undefined;
      this.current = this.flush();
    }, Math.max(0, due - now));
  }

  private peekUrgent(): boolean {
    return this.size > 0 && this.ring[this.head]?.urgent === true;
  }

  private take(): Line[] {
    const lines: Line[] = [];
    // An urgent line (kill switch, daily summary) goes on its own; otherwise every queued line up to the next urgent one.
    while (this.size > 0) {
      const line = this.ring[this.head] as Line;
      if (lines.length > 0 && (line.urgent || lines[0]?.urgent === true)) break;
      lines.push(line);
      this.ring[this.head] = undefined;
      this.head = (this.head + 1) % this.options.maxQueued;
      this.size -= 1;
    }
    this.stats.queued = this.size;
    this.firstAt = this.size > 0 ? this.options.clock.now() : undefined;
    return lines;
  }

  private compose(lines: Line[]): string {
    const { maxLength } = this.options.sender;
    const dropped = this.droppedSinceSent;
    this.droppedSinceSent = 0;
    const shown = lines.slice(0, this.options.maxLines).map((l) => l.text);
    const rest = lines.length - shown.length;
    const parts = lines.length > 1 ? [`${lines.length} events:`, ...shown] : shown;
    if (rest > 0) parts.push(`… and ${rest} more`);
    if (dropped > 0) parts.push(`(${dropped} older notification(s) dropped: the queue was full)`);
    const text = parts.join('\n');
    return text.length <= maxLength ? text : `${text.slice(0, maxLength - 1)}…`;
  }

  private async flush(): Promise<void> {
    if (this.stopped) return;
    this.sending = true;
    try {
      this.inFlight ??= { text: this.compose(this.take()), attempts: 0 };
      const message = this.inFlight;
      message.attempts += 1;
      this.limit.record(this.options.clock.now());
      const result = await this.options.sender.send(message.text);
      if (result.ok) {
        this.stats.sent += 1;
        this.inFlight = undefined;
        this.retryAt = 0;
        return;
      }
      const { name } = this.options;
      if (this.stopped) return; // a send cut short by stop(): nothing to retry or report
      if (!result.retryable || message.attempts >= this.options.maxAttempts) {
        this.stats.failed += 1;
        this.inFlight = undefined;
        this.retryAt = 0;
        this.options.logger.error({ event: 'notify.failed', channel: name, service: this.options.sender.service, attempts: message.attempts, error: result.error },
          `notification to ${name} given up: ${result.error}`);
        return;
      }
      const backoff = Math.min(this.options.retryMaxMs, this.options.retryBaseMs * 2 ** (message.attempts - 1));
      const wait = Math.max(backoff, result.retryAfterMs ?? 0);
      this.retryAt = this.options.clock.now() + wait;
      this.options.logger.warn({ event: 'notify.retry', channel: name, service: this.options.sender.service, attempt: message.attempts, retryInMs: wait, error: result.error },
        `notification to ${name} failed, retrying in ${wait} ms: ${result.error}`);
    } catch (error) {
      this.inFlight = undefined;
      this.options.logger.error({ event: 'notify.failed', channel: this.options.name, error: error instanceof Error ? error.message : String(error) }, 'notification failed');
    } finally {
      this.sending = false;
      this.schedule();
    }
  }
}
