// Telegram commands over getUpdates long polling (a stateful fake of the Bot API), acting through the real admin API:
// only the configured chat is obeyed, the offset acknowledges what was read, and /flatten needs a confirmation.
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { http, HttpResponse, delay } from 'msw';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAdminRouter } from '../../../src/http/admin.ts';
import { createApp } from '../../../src/http/app.ts';
import { createLogger } from '../../../src/ops/logger.ts';
import { createNotifier } from '../../../src/ops/notify/notifier.ts';
import { TelegramBot } from '../../../src/ops/notify/telegram-bot.ts';
import { notificationsSchema } from '../../../src/config/schema.ts';
import { adminApiCommands } from '../../../src/ops/notify/trading-commands.ts';
import { until } from '../../helpers/env.ts';
import { createHarness, type Harness } from '../../helpers/executor-harness.ts';
import { useMswServer } from '../../helpers/msw.ts';

const TOKEN = 'admin-token-for-telegram-7e1';
const BOT_TOKEN = '987654:telegram-bot-secret-abc';
const API = `https://api.telegram.org/bot${BOT_TOKEN}`;
const OUR_CHAT = 424242;
const STRANGER = 666;

const server = useMswServer();

/** The Bot API's side: updates wait until a getUpdates offset past them acknowledges them; replies are kept. */
class FakeTelegram {
  private nextId = 1000;
  private updates: Array<Record<string, unknown> & { update_id: number }> = [];
  offsets: Array<number | undefined> = [];
  replies: Array<{ chat_id: unknown; text: string; reply_markup?: unknown }> = [];
  callbacksAnswered: string[] = [];

  message(chat: number, text: string, date = Math.floor(Date.now() / 1000)): void {
    this.updates.push({ update_id: this.nextId++, message: { message_id: this.nextId, date, chat: { id: chat, type: 'private' }, from: { id: chat, is_bot: false, first_name: 'T' }, text } });
  }

  button(chat: number, data: string): void {
    this.updates.push({ update_id: this.nextId++, callback_query: { id: `cb${this.nextId}`, data, from: { id: chat }, message: { message_id: 1, date: 0, chat: { id: chat } } } });
  }

  handlers() {
    return [
      http.post(`${API}/getUpdates`, async ({ request }) => {
        const body = await request.json() as { offset?: number; timeout?: number };
        this.offsets.push(body.offset);
        if (body.offset !== undefined) this.updates = this.updates.filter((u) => u.update_id >= (body.offset as number));
        if (this.updates.length === 0) await delay(20); // a long poll with nothing new (shortened)
        return HttpResponse.json({ ok: true, result: this.updates });
      }),
      http.post(`${API}/sendMessage`, async ({ request }) => {
        const body = await request.json() as { chat_id: unknown; text: string; reply_markup?: unknown };
        this.replies.push(body);
        return HttpResponse.json({ ok: true, result: { message_id: 1, chat: { id: Number(body.chat_id) }, date: 0, text: body.text } });
      }),
      http.post(`${API}/answerCallbackQuery`, async ({ request }) => {
        this.callbacksAnswered.push((await request.json() as { callback_query_id: string }).callback_query_id);
        return HttpResponse.json({ ok: true, result: true });
      }),
    ];
  }
}

describe('Telegram commands', () => {
  let h: Harness;
  let admin: { url: string; close(): Promise<void> };
  let telegram: FakeTelegram;
  let bot: TelegramBot;
  let now: number;
  const logged: string[] = [];
  let n = 0;

  beforeAll(async () => {
    h = await createHarness();
    const router = createAdminRouter({ ctx: h.ctx, db: h.db, adminToken: TOKEN, reconcile: async () => ({ ran: true as const, reports: [] }), backup: async () => ({ file: 'x' }) });
    const app = createApp({ version: 'test', startedAt: new Date(), now: () => new Date(), readiness: [], routers: [{ path: '/api', router }] });
    const s: Server = await new Promise((resolve) => { const srv = createServer(app); srv.listen(0, '127.0.0.1', () => resolve(srv)); });
    admin = { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, close: () => new Promise((r) => { s.close(() => r()); }) };
  });
  afterAll(async () => { await admin.close(); await h.close(); });

  beforeEach(() => {
    h.ctx.accountState.resume('paper');
    telegram = new FakeTelegram();
    server.use(...telegram.handlers());
    now = Date.now();
    logged.length = 0;
    bot = new TelegramBot({
      api: { botToken: BOT_TOKEN, chatId: String(OUR_CHAT) },
      commands: adminApiCommands({ url: admin.url, token: TOKEN }),
      logger: createLogger({ level: 'debug', destination: { write: (line: string) => { logged.push(line); } } }),
      now: () => now, pollTimeoutSeconds: 0, pollIntervalMs: 10,
    });
    bot.start();
  });
  afterEach(async () => { await bot.stop(); });

  const open = async (ticker: string, price: string) => {
    expect(await h.executor.execute(h.job({ ticker, action: 'buy', sentiment: 'long', price, id: `tg-${++n}` }))).toEqual({ status: 'executed' });
  };
  const replyTo = async (count: number) => until(`${count} replies`, () => (telegram.replies.length >= count ? telegram.replies : undefined), 5000);

  it('/status lists the open positions and /profit the closed trades, as the admin API has them', async () => {
    await open('AAPL', '100');
    telegram.message(OUR_CHAT, '/status');
    const [status] = await replyTo(1);
    expect(status?.chat_id).toBe(String(OUR_CHAT));
    expect(status?.text).toContain('1 open position(s):');
    expect(status?.text).toContain('AAPL long 10 @ 100 (paper)');
    telegram.message(OUR_CHAT, '/profit');
    const replies = await replyTo(2);
    expect(replies[1]?.text).toMatch(/No closed trades yet\.|Closed trades: \d+/);
  });

  it('obeys only the configured chat: /halt from another chat does nothing and is logged once', async () => {
    telegram.message(STRANGER, '/halt');
    telegram.message(STRANGER, '/flatten');
    telegram.message(OUR_CHAT, '/status');
    await replyTo(1);
    await until('the foreign chat is acknowledged', () => (telegram.offsets.some((o) => o !== undefined && o > 1002) ? true : undefined));
    expect(telegram.replies.map((r) => r.chat_id)).toEqual([String(OUR_CHAT)]);
    expect(h.ctx.accountState.isHalted('paper', '2099-01-01')).toBe(false);
    const foreign = logged.map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.event === 'notify.telegram.foreign_chat');
    expect(foreign).toEqual([expect.objectContaining({ chat: String(STRANGER) })]);
    expect(logged.join('\n')).not.toContain('telegram-bot-secret-abc');
  });

  it('/halt halts entries through the admin API and /resume lifts it', async () => {
    telegram.message(OUR_CHAT, '/halt news at 14:00');
    await replyTo(1);
    expect(telegram.replies[0]?.text).toContain('Entries halted at paper (halted from Telegram: news at 14:00)');
    expect(h.ctx.accountState.get('paper')).toMatchObject({ halted: true, haltedReason: 'halted from Telegram: news at 14:00' });
    telegram.message(OUR_CHAT, '/resume');
    await replyTo(2);
    expect(telegram.replies[1]?.text).toBe('Entries resumed at paper.');
    expect(h.ctx.accountState.isHalted('paper', '2099-01-01')).toBe(false);
  });

  it('acknowledges each update with the next offset, so none is handled twice', async () => {
    telegram.message(OUR_CHAT, '/resume');
    await replyTo(1);
    await until('the next poll', () => (telegram.offsets.length >= 3 ? true : undefined));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(telegram.replies).toHaveLength(1);
    expect(telegram.offsets[0]).toBeUndefined();
    expect(telegram.offsets.slice(1).every((o) => o === 1001)).toBe(true);
  });

  it('/flatten asks first; nothing closes until /flatten confirm within 60 s', async () => {
    await open('MSFT', '300');
    telegram.message(OUR_CHAT, '/flatten');
    await replyTo(1);
    expect(telegram.replies[0]?.text).toContain('Send /flatten confirm within 60 s');
    expect(telegram.replies[0]?.reply_markup).toEqual({ inline_keyboard: [[{ text: 'Yes, flatten everything', callback_data: 'flatten:confirm' }]] });
    expect(h.ctx.positions.listOpen().map((p) => p.symbol)).toContain('MSFT');
    now += 30_000;
    telegram.message(OUR_CHAT, '/flatten confirm');
    await replyTo(2);
    expect(telegram.replies[1]?.text).toContain('Flatten: done');
    expect(telegram.replies[1]?.text).toMatch(/MSFT \(paper\): closed @ 300/);
    expect(h.ctx.positions.listOpen()).toEqual([]);
  });

  it('a confirmation after 60 s, or without /flatten first, closes nothing', async () => {
    await open('NFLX', '500');
    telegram.message(OUR_CHAT, '/flatten confirm');
    await replyTo(1);
    expect(telegram.replies[0]?.text).toContain('No flatten is waiting for confirmation');
    telegram.message(OUR_CHAT, '/flatten');
    await replyTo(2);
    now += 61_000;
    telegram.message(OUR_CHAT, '/flatten confirm');
    await replyTo(3);
    expect(telegram.replies[2]?.text).toContain('No flatten is waiting for confirmation');
    expect(h.ctx.positions.listOpen().map((p) => p.symbol)).toEqual(['NFLX']);
    // The inline button confirms as the text does.
    telegram.message(OUR_CHAT, '/flatten');
    await replyTo(4);
    telegram.button(OUR_CHAT, 'flatten:confirm');
    await replyTo(5);
    expect(telegram.callbacksAnswered).toHaveLength(1);
    expect(telegram.replies[4]?.text).toContain('Flatten: done');
    expect(h.ctx.positions.listOpen()).toEqual([]);
  });

  it('createNotifier runs the commands for a Telegram channel with commands on, and polls nothing when they are off', async () => {
    await bot.stop();
    const polls = () => telegram.offsets.length;
    const logger = createLogger({ level: 'silent', destination: { write: () => undefined } });
    const commands = adminApiCommands({ url: () => admin.url, token: TOKEN });
    const off = createNotifier(notificationsSchema.parse({ dailySummaryAt: 'off', channels: { tg: { type: 'telegram', botToken: BOT_TOKEN, chatId: OUR_CHAT, commands: false } } }),
      { logger, commands, telegramPoll: { timeoutSeconds: 0, intervalMs: 10 } });
    off.start();
    const before = polls();
    await new Promise((resolve) => setTimeout(resolve, 150));
    await off.stop();
    expect(polls()).toBe(before);
    const on = createNotifier(notificationsSchema.parse({ dailySummaryAt: 'off', channels: { tg: { type: 'telegram', botToken: BOT_TOKEN, chatId: OUR_CHAT } } }),
      { logger, commands, telegramPoll: { timeoutSeconds: 0, intervalMs: 10 } });
    on.start();
    try {
      telegram.message(OUR_CHAT, '/halt');
      await replyTo(1);
      expect(h.ctx.accountState.get('paper')).toMatchObject({ halted: true, haltedReason: 'halted from Telegram' });
    } finally {
      await on.stop();
    }
  });

  it('a command sent long before the bot started is not acted on', async () => {
    telegram.message(OUR_CHAT, '/halt', Math.floor((now - 10 * 60_000) / 1000));
    telegram.message(OUR_CHAT, '/status');
    await replyTo(1);
    expect(telegram.replies).toHaveLength(1);
    expect(h.ctx.accountState.isHalted('paper', '2099-01-01')).toBe(false);
  });
});
