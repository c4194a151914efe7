// The notifier: turns trading events into messages on each configured channel (Discord, Slack, Telegram), batched and
// rate limited per channel, and runs the Telegram commands. notify() never throws and never waits: trading goes on.
import type { NotificationsConfig, NotifyChannelConfig } from '../../config/schema.ts';
import type { Logger } from '../logger.ts';
import { realClock, type NotifyClock } from './clock.ts';
import { discordSender } from './discord.ts';
import { renderEvent, type NotifyEvent } from './events.ts';
import { Outbox, type OutboxStats } from './outbox.ts';
import type { Window } from './rate-limit.ts';
import type { FetchLike, Sender } from './sender.ts';
import { slackSender } from './slack.ts';
import { telegramSender } from './telegram-api.ts';
import { TelegramBot } from './telegram-bot.ts';
import type { TradingCommands } from './trading-commands.ts';

export interface NotifierDeps {
  logger: Logger;
  /** What Telegram commands do (adminApiCommands: the admin API, as the CLI); absent: commands are off. */
  commands?: TradingCommands | undefined;
  /** The daily summary's text (dailySummaryText over the journal); absent: no summary. */
  dailySummary?: (() => string | Promise<string>) | undefined;
  fetch?: FetchLike;
  clock?: NotifyClock;
  /** Telegram polling settings (tests shorten them). */
  telegramPoll?: { timeoutSeconds?: number; intervalMs?: number };
}

export interface Notifier {
  /** Queues the event for every channel that wants it; synchronous, O(1) per channel, never throws. */
  notify(event: NotifyEvent): void;
  start(): void;
  stop(): Promise<void>;
  stats(): Record<string, OutboxStats>;
  /** Resolves when the sends in progress have ended (not when every queue is empty). */
  settled(): Promise<void>;
}

/** Each service's documented limits: Telegram 1 a second per chat (20 a minute in a group), Discord 5 per 2 s per webhook, Slack 1 a second. */
export function limitsFor(channel: NotifyChannelConfig): Window[] {
  switch (channel.type) {
    case 'discord': return [{ count: 5, ms: 2000 }];
    case 'slack': return [{ count: 1, ms: 1000 }];
    case 'telegram': return channel.chatId.startsWith('-') ? [{ count: 1, ms: 1000 }, { count: 20, ms: 60_000 }] : [{ count: 1, ms: 1000 }];
  }
}

function senderFor(channel: NotifyChannelConfig, fetchImpl: FetchLike | undefined, signal: AbortSignal): Sender {
  const common = { signal, ...(fetchImpl ? { fetch: fetchImpl } : {}) };
  switch (channel.type) {
    case 'discord': return discordSender({ webhookUrl: channel.webhookUrl, username: channel.username, ...common });
    case 'slack': return slackSender({ webhookUrl: channel.webhookUrl, ...common });
    case 'telegram': return telegramSender({ botToken: channel.botToken, chatId: channel.chatId, apiUrl: channel.apiUrl, ...common });
  }
}

const ERROR_REPEAT_MS = 10 * 60_000;

/** Milliseconds from `now` to the next HH:MM in UTC. */
export function msUntilUtc(at: string, now: number): number {
  const [h, m] = at.split(':').map(Number) as [number, number];
  const day = new Date(now);
  let next = Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate(), h, m);
  if (next <= now) next += 86_400_000;
  return next - now;
}

export function createNotifier(config: NotificationsConfig, deps: NotifierDeps): Notifier {
  const clock = deps.clock ?? realClock;
  const abort = new AbortController();
  const logger = deps.logger;
  const channels = Object.entries(config.channels).filter(([, c]) => c.enabled).map(([name, channel]) => ({
    name, channel,
    outbox: new Outbox({
      name, sender: senderFor(channel, deps.fetch, abort.signal), limits: limitsFor(channel), clock, logger,
      batchWindowMs: channel.batchWindowMs, maxLines: channel.maxLines, maxQueued: config.maxQueued,
      maxAttempts: 6, retryBaseMs: 1000, retryMaxMs: 60_000,
    }),
  }));
  const bots = deps.commands === undefined ? [] : channels.flatMap(({ channel }) => (channel.type === 'telegram' && channel.commands ? [new TelegramBot({
    api: { botToken: channel.botToken, chatId: channel.chatId, apiUrl: channel.apiUrl, ...(deps.fetch ? { fetch: deps.fetch } : {}) },
    commands: deps.commands as TradingCommands, logger, now: () => clock.now(),
    pollTimeoutSeconds: deps.telegramPoll?.timeoutSeconds, pollIntervalMs: deps.telegramPoll?.intervalMs,
  })] : []));
  let summaryTimer: unknown;
  let started = false;

  // The same error line again within 10 minutes is not sent again (a failure that repeats on every retry).
  const recentErrors = new Map<string, number>();
  const repeated = (line: string): boolean => {
    const now = clock.now();
    const last = recentErrors.get(line);
    if (last !== undefined && now - last < ERROR_REPEAT_MS) return true;
    if (recentErrors.size >= 1000) recentErrors.clear();
    recentErrors.set(line, now);
    return false;
  };

  const notify = (event: NotifyEvent): void => {
    try {
      const rendered = renderEvent(event);
      if (!rendered || (rendered.switch === 'errors' && repeated(rendered.line))) return;
      for (const { channel, outbox } of channels) if (channel.events[rendered.switch]) outbox.add(rendered.line, rendered.urgent === true);
    } catch (error) {
      logger.error({ event: 'notify.render_failed', type: event.type, error: error instanceof Error ? error.message : String(error) }, 'notification could not be prepared');
    }
  };

  const scheduleSummary = (): void => {
    if (config.dailySummaryAt === 'off' || deps.dailySummary === undefined || !started) return;
    const at = config.dailySummaryAt;
    summaryTimer = clock.setTimeout(() => {
      void (async () => {
        try {
          notify({ type: 'daily_summary', text: await (deps.dailySummary as () => string | Promise<string>)() });
        } catch (error) {
          logger.error({ event: 'notify.summary_failed', error: error instanceof Error ? error.message : String(error) }, 'daily summary could not be built');
        }
        scheduleSummary();
      })();
    }, msUntilUtc(at, clock.now()));
  };

  return {
    notify,
    start() {
      if (started) return;
      started = true;
      for (const bot of bots) bot.start();
      scheduleSummary();
      if (channels.length > 0) {
        logger.info({ event: 'notify.started', channels: channels.map((c) => `${c.name} (${c.channel.type})`), commands: bots.length > 0 },
          `notifications to ${channels.map((c) => c.name).join(', ')}`);
      }
    },
    async stop() {
      started = false;
      if (summaryTimer !== undefined) clock.clearTimeout(summaryTimer);
      for (const { outbox } of channels) outbox.stop();
      abort.abort();
      await Promise.all([...bots.map((b) => b.stop()), ...channels.map((c) => c.outbox.settled())]);
    },
    settled: async () => { await Promise.all(channels.map((c) => c.outbox.settled())); },
    stats: () => Object.fromEntries(channels.map((c) => [c.name, { ...c.outbox.stats }])),
  };
}
