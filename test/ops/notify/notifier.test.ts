// Notifications against each service's real wire format (msw): batching, rate limits, retries, switches, and that a dead
// channel never slows the caller.
import { http, HttpResponse, delay } from 'msw';
import { afterEach, describe, expect, it } from 'vitest';
import { notificationsSchema } from '../../../src/config/schema.ts';
import { toDecimal as d } from '../../../src/domain/money.ts';
import { createLogger } from '../../../src/ops/logger.ts';
import type { NotifyEvent } from '../../../src/ops/notify/events.ts';
import { createNotifier, msUntilUtc, type Notifier } from '../../../src/ops/notify/notifier.ts';
import { useMswServer } from '../../helpers/msw.ts';
import { ManualClock } from './manual-clock.ts';

const DISCORD = 'https://discord.com/api/webhooks/1234567890/discord-webhook-secret-xyz';
const SLACK = 'https://hooks.slack.com/services/T0001/B0001/slack-webhook-secret-xyz';
const BOT_TOKEN = '123456:telegram-bot-secret-xyz';
const TELEGRAM_SEND = `https://api.telegram.org/bot${BOT_TOKEN}/sendMessage`;
const SECRETS = ['discord-webhook-secret-xyz', 'slack-webhook-secret-xyz', 'telegram-bot-secret-xyz'];

const server = useMswServer();

interface Sent { at: number; body: Record<string, unknown> }

function capture() {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', destination: { write: (line: string) => { lines.push(line); } } });
  return { lines, logger, events: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const fill = (n: number): NotifyEvent => ({ type: 'fill', position: { account: 'paper', strategy: 'trend', symbol: `SYM${n}`, side: 'long', quantity: d('10'), averageEntryPrice: d('101.25') } });
const kill = (n: number): NotifyEvent => ({ type: 'kill_switch', account: `acct${n}`, reason: 'kill_switch: day loss 5.2%', flatten: true });

let notifier: Notifier | undefined;
afterEach(async () => { await notifier?.stop(); notifier = undefined; });

function setup(channels: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const clock = new ManualClock();
  const log = capture();
  const config = notificationsSchema.parse({ channels, dailySummaryAt: 'off', ...extra });
  notifier = createNotifier(config, { logger: log.logger, clock });
  const n = notifier;
  clock.idle = () => n.settled();
  n.start();
  return { clock, log, notifier: n };
}

describe('Discord', () => {
  it('a burst of 500 fills becomes one message with a count and the first lines', async () => {
    const sent: Sent[] = [];
    const { clock, notifier: n } = setup({ ops: { type: 'discord', webhookUrl: DISCORD } });
    server.use(http.post(DISCORD, async ({ request }) => { sent.push({ at: clock.now(), body: await request.json() as Record<string, unknown> }); return new HttpResponse(null, { status: 204 }); }));
    for (let i = 0; i < 500; i++) n.notify(fill(i));
    await clock.advance(1999);
    expect(sent).toHaveLength(0); // still inside the batch window
    await clock.advance(60_000);
    expect(sent).toHaveLength(1);
    const content = String(sent[0]?.body.content);
    expect(content.split('\n')[0]).toBe('500 events:');
    expect(content).toContain('opened long 10 SYM0 @ 101.25 (paper, trend)');
    expect(content).toContain('SYM9 ');
    expect(content).not.toContain('SYM10 ');
    expect(content).toContain('… and 490 more');
    expect(content.length).toBeLessThanOrEqual(2000);
    expect(sent[0]?.body.allowed_mentions).toEqual({ parse: [] });
    expect(n.stats().ops).toMatchObject({ sent: 1, queued: 0, dropped: 0 });
  });

  it('never sends more than 5 messages in 2 s to one webhook', async () => {
    const sent: Sent[] = [];
    const { clock, notifier: n } = setup({ ops: { type: 'discord', webhookUrl: DISCORD } });
    server.use(http.post(DISCORD, async ({ request }) => { sent.push({ at: clock.now(), body: await request.json() as Record<string, unknown> }); return new HttpResponse(null, { status: 204 }); }));
    // Kill-switch messages are urgent: each goes on its own, so 12 of them need 12 sends.
    for (let i = 0; i < 12; i++) n.notify(kill(i));
    await clock.advance(20_000);
    expect(sent).toHaveLength(12);
    for (let i = 5; i < sent.length; i++) expect((sent[i] as Sent).at - (sent[i - 5] as Sent).at).toBeGreaterThanOrEqual(2000);
    expect(sent.map((s) => String(s.body.content))).toEqual(Array.from({ length: 12 }, (_, i) => expect.stringContaining(`acct${i}:`) as unknown));
  });

  it('a 429 is retried after its retry_after (seconds in the JSON body), with the same message', async () => {
    const sent: Sent[] = [];
    const { clock, log, notifier: n } = setup({ ops: { type: 'discord', webhookUrl: DISCORD } });
    server.use(http.post(DISCORD, async ({ request }) => {
      sent.push({ at: clock.now(), body: await request.json() as Record<string, unknown> });
      if (sent.length === 1) return HttpResponse.json({ message: 'You are being rate limited.', retry_after: 7.5, global: false }, { status: 429 });
      return new HttpResponse(null, { status: 204 });
    }));
    n.notify(kill(1));
    await clock.advance(7000);
    expect(sent).toHaveLength(1);
    await clock.advance(600);
    expect(sent).toHaveLength(2);
    expect((sent[1] as Sent).at - (sent[0] as Sent).at).toBe(7500);
    expect(sent[1]?.body.content).toBe(sent[0]?.body.content);
    expect(log.events().find((e) => e.event === 'notify.retry')).toMatchObject({ channel: 'ops', retryInMs: 7500 });
    expect(log.lines.join('\n')).not.toMatch(new RegExp(SECRETS.join('|')));
  });
});

describe('Slack', () => {
  const answers: Array<[number, string, string]> = [
    // status, body, what it means
    [404, 'no_service', 'given up'], [403, 'invalid_token', 'given up'], [400, 'invalid_payload', 'given up'],
    [500, 'rollup_error', 'retried'], [200, '{"ok":false,"error":"ratelimited"}', 'retried'], [200, '{"ok":false,"error":"channel_not_found"}', 'given up'],
  ];
  it.each(answers)('an answer %i %s is %s', async (status, body, meaning) => {
    const sent: Sent[] = [];
    const { clock, log, notifier: n } = setup({ desk: { type: 'slack', webhookUrl: SLACK } });
    server.use(http.post(SLACK, async ({ request }) => {
      sent.push({ at: clock.now(), body: await request.json() as Record<string, unknown> });
      return sent.length === 1 ? new HttpResponse(body, { status }) : new HttpResponse('ok', { status: 200 });
    }));
    n.notify(kill(1));
    await clock.advance(120_000);
    expect(sent[0]?.body).toEqual({ text: expect.stringContaining('KILL SWITCH at acct1') as unknown });
    if (meaning === 'retried') {
      expect(sent).toHaveLength(2);
      expect(n.stats().desk).toMatchObject({ sent: 1, failed: 0 });
    } else {
      expect(sent).toHaveLength(1);
      expect(n.stats().desk).toMatchObject({ sent: 0, failed: 1 });
      expect(log.events().find((e) => e.event === 'notify.failed')?.error).toContain(body.includes('{') ? JSON.parse(body).error : body);
    }
    expect(log.lines.join('\n')).not.toMatch(new RegExp(SECRETS.join('|')));
  });

  it('escapes Slack\'s control characters, so a reason never becomes a link or an @channel', async () => {
    const sent: string[] = [];
    const { clock, notifier: n } = setup({ desk: { type: 'slack', webhookUrl: SLACK } });
    server.use(http.post(SLACK, async ({ request }) => { sent.push((await request.json() as { text: string }).text); return new HttpResponse('ok'); }));
    n.notify({ type: 'error', message: 'broker said <!channel> & <http://x.test|click>' });
    await clock.advance(5000);
    expect(sent).toEqual(['❌ broker said &lt;!channel&gt; &amp; &lt;http://x.test|click&gt;']);
  });

  it('sends at most one message a second', async () => {
    const sent: Sent[] = [];
    const { clock, notifier: n } = setup({ desk: { type: 'slack', webhookUrl: SLACK } });
    server.use(http.post(SLACK, () => { sent.push({ at: clock.now(), body: {} }); return new HttpResponse('ok'); }));
    for (let i = 0; i < 4; i++) n.notify(kill(i));
    await clock.advance(10_000);
    expect(sent.map((s) => s.at - (sent[0] as Sent).at)).toEqual([0, 1000, 2000, 3000]);
  });
});

describe('Telegram', () => {
  it('sendMessage carries chat_id, text and parse_mode HTML (escaped), and honours parameters.retry_after on 429', async () => {
    const sent: Sent[] = [];
    const { clock, notifier: n } = setup({ tg: { type: 'telegram', botToken: BOT_TOKEN, chatId: '424242' } });
    server.use(http.post(TELEGRAM_SEND, async ({ request }) => {
      sent.push({ at: clock.now(), body: await request.json() as Record<string, unknown> });
      if (sent.length === 1) return HttpResponse.json({ ok: false, error_code: 429, description: 'Too Many Requests: retry after 12', parameters: { retry_after: 12 } }, { status: 429 });
      return HttpResponse.json({ ok: true, result: { message_id: 7, chat: { id: 424242 }, date: 0, text: 'x' } });
    }));
    n.notify({ type: 'error', message: 'order <tw-en-1> & its stop failed' });
    await clock.advance(2000);
    expect(sent[0]?.body).toEqual({ chat_id: '424242', text: '❌ order &lt;tw-en-1&gt; &amp; its stop failed', parse_mode: 'HTML', disable_web_page_preview: true });
    await clock.advance(11_000); // 11 s after the 429
    expect(sent).toHaveLength(1);
    await clock.advance(1000);
    expect(sent).toHaveLength(2);
    expect((sent[1] as Sent).at - (sent[0] as Sent).at).toBe(12_000);
    expect(n.stats().tg).toMatchObject({ sent: 1, failed: 0 });
  });

  it('a group chat gets at most 20 messages a minute, and 1 a second', async () => {
    const sent: number[] = [];
    const { clock, notifier: n } = setup({ tg: { type: 'telegram', botToken: BOT_TOKEN, chatId: '-100987' } });
    server.use(http.post(TELEGRAM_SEND, () => { sent.push(clock.now()); return HttpResponse.json({ ok: true, result: {} }); }));
    for (let i = 0; i < 45; i++) n.notify(kill(i));
    await clock.advance(180_000);
    expect(sent).toHaveLength(45);
    for (let i = 1; i < sent.length; i++) expect((sent[i] as number) - (sent[i - 1] as number)).toBeGreaterThanOrEqual(1000);
    for (let i = 20; i < sent.length; i++) expect((sent[i] as number) - (sent[i - 20] as number)).toBeGreaterThanOrEqual(60_000);
  });
});

describe('the notifier', () => {
  it('sends each channel only the events switched on for it', async () => {
    const discord: string[] = [];
    const slack: string[] = [];
    const { clock, notifier: n } = setup({
      ops: { type: 'discord', webhookUrl: DISCORD, events: { fills: false } },
      desk: { type: 'slack', webhookUrl: SLACK, events: { killSwitch: false } },
    });
    server.use(
      http.post(DISCORD, async ({ request }) => { discord.push(String((await request.json() as { content: string }).content)); return new HttpResponse(null, { status: 204 }); }),
      http.post(SLACK, async ({ request }) => { slack.push(String((await request.json() as { text: string }).text)); return new HttpResponse('ok'); }),
    );
    n.notify(fill(1));
    n.notify(kill(1));
    n.notify({ type: 'close', closed: { account: 'paper', symbol: 'AAPL', side: 'long', quantity: d('10'), exitPrice: d('99.5'), realizedPnl: d('-17.5'), exitReason: 'stop_loss' } });
    n.notify({ type: 'execution', signalId: 's1', account: 'paper', symbol: 'AAPL', status: 'rejected', reason: 'no_op: nothing to close' });
    n.notify({ type: 'execution', signalId: 's2', account: 'paper', symbol: 'AAPL', status: 'failed', reason: 'protection_failed: the stop was rejected; the position was closed' });
    await clock.advance(30_000);
    const d1 = discord.join('\n');
    const s1 = slack.join('\n');
    expect(d1).not.toContain('opened');
    expect(d1).toContain('KILL SWITCH at acct1');
    expect(d1).toContain('🔻 closed long 10 AAPL @ 99.5 (stop_loss, paper): P&L -17.50');
    expect(d1).toContain('⚠️ failed: AAPL at paper, signal s2: protection_failed');
    expect(s1).toContain('opened long 10 SYM1');
    expect(s1).not.toContain('KILL SWITCH');
    // A routine refusal (no_op) is in the journal, not worth a message.
    expect(d1 + s1).not.toContain('no_op');
  });

  it('the same error line again within 10 minutes is not sent twice', async () => {
    const sent: string[] = [];
    const { clock, notifier: n } = setup({ ops: { type: 'discord', webhookUrl: DISCORD } });
    server.use(http.post(DISCORD, async ({ request }) => { sent.push(String((await request.json() as { content: string }).content)); return new HttpResponse(null, { status: 204 }); }));
    for (let i = 0; i < 3; i++) n.notify({ type: 'error', account: 'binance', message: 'the position loop is failing: -1003' });
    n.notify({ type: 'error', account: 'alpaca', message: 'the position loop is failing: 503' });
    await clock.advance(9 * 60_000);
    n.notify({ type: 'error', account: 'binance', message: 'the position loop is failing: -1003' });
    await clock.advance(2 * 60_000);
    n.notify({ type: 'error', account: 'binance', message: 'the position loop is failing: -1003' });
    await clock.advance(60_000);
    expect(sent).toEqual([
      '2 events:\n❌ binance: the position loop is failing: -1003\n❌ alpaca: the position loop is failing: 503',
      '❌ binance: the position loop is failing: -1003',
    ]);
  });

  it('a full queue drops the oldest and says how many in the next message and the log', async () => {
    const sent: string[] = [];
    const { clock, log, notifier: n } = setup({ ops: { type: 'discord', webhookUrl: DISCORD, maxLines: 3 } }, { maxQueued: 10 });
    server.use(http.post(DISCORD, async ({ request }) => { sent.push(String((await request.json() as { content: string }).content)); return new HttpResponse(null, { status: 204 }); }));
    for (let i = 0; i < 25; i++) n.notify(fill(i));
    expect(n.stats().ops).toMatchObject({ queued: 10, dropped: 15 });
    expect(log.events().filter((e) => e.event === 'notify.dropped').length).toBeLessThanOrEqual(5);
    await clock.advance(5000);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatch(/^10 events:\n.*SYM15 /);
    expect(sent[0]).toContain('(15 older notification(s) dropped: the queue was full)');
  });

  it('a service that never answers does not slow notify(): 500 events are queued in milliseconds, and stop() ends the wait', async () => {
    const log = capture();
    let arrived = 0;
    server.use(http.post(DISCORD, async () => { arrived += 1; await delay('infinite'); return new HttpResponse(null, { status: 204 }); }));
    const n = createNotifier(notificationsSchema.parse({ channels: { ops: { type: 'discord', webhookUrl: DISCORD, batchWindowMs: 0 } }, dailySummaryAt: 'off' }), { logger: log.logger });
    n.start();
    n.notify(kill(0));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(arrived).toBe(1); // the send is hanging now
    const began = performance.now();
    for (let i = 0; i < 500; i++) n.notify(fill(i));
    const took = performance.now() - began;
    expect(took).toBeLessThan(50);
    expect(n.stats().ops?.queued).toBe(500);
    const stopping = performance.now();
    await n.stop();
    expect(performance.now() - stopping).toBeLessThan(1000);
    expect(log.lines.join('\n')).not.toMatch(new RegExp(SECRETS.join('|')));
  });

  it('schedules the daily summary at its UTC time', async () => {
    const sent: string[] = [];
    const clock = new ManualClock();
    const log = capture();
    const n = createNotifier(notificationsSchema.parse({ channels: { ops: { type: 'discord', webhookUrl: DISCORD } }, dailySummaryAt: '21:00' }),
      { logger: log.logger, clock, dailySummary: () => `summary at ${new Date(clock.now()).toISOString()}` });
    notifier = n;
    clock.idle = () => n.settled();
    server.use(http.post(DISCORD, async ({ request }) => { sent.push(String((await request.json() as { content: string }).content)); return new HttpResponse(null, { status: 204 }); }));
    n.start();
    expect(msUntilUtc('21:00', clock.now())).toBe(12 * 3_600_000); // the clock starts at 09:00 UTC
    await clock.advance(12 * 3_600_000 - 1000);
    expect(sent).toEqual([]);
    await clock.advance(5000);
    expect(sent).toEqual(['summary at 2026-12-05T21:00:00.000Z']);
    await clock.advance(24 * 3_600_000);
    expect(sent).toEqual(['summary at 2026-12-05T21:00:00.000Z', 'summary at 2026-12-06T21:00:00.000Z']);
  });
});
