// End to end: the daemon (execution inline) with a paper account priced by Binance's mark price stream (a fake on 127.0.0.1).
// An alert opens a position at the feed's price, not the alert's; the stream moves through the stop; the position closes on it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as SqliteDatabase } from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/main.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { BinanceMarketStreamServer } from '../fakes/price-feeds.ts';
import { dropRedisPrefix, REDIS_URL, tempDir, uniquePrefix, until } from '../helpers/env.ts';

const SECRET = 'feed-e2e-Secret-51c2aa';
const stream = new BinanceMarketStreamServer('usdm-mark');
/** A second account's stream, whose prices go stale after a second. */
const quiet = new BinanceMarketStreamServer('usdm-mark');
const dir = tempDir('tw-feed-e2e');
const prefix = uniquePrefix('feed-e2e');
let daemon: Daemon | undefined;
let journal: SqliteDatabase | undefined;

beforeAll(async () => {
  await stream.listen();
  await quiet.listen();
  writeFileSync(join(dir.path, 'tradewire.yaml'), `
webhook:
  passphrase: \${WEBHOOK_PASSPHRASE}
positions:
  loopIntervalMs: 100
accounts:
  paper:
    broker: paper
    slippagePercent: "0"
    priceFeed:
      source: binance-usdm-mark
      staleAfterSeconds: 30
      streamUrl: "${stream.url}"
  quiet:
    broker: paper
    slippagePercent: "0"
    priceFeed:
      source: binance-usdm-mark
      staleAfterSeconds: 1
      streamUrl: "${quiet.url}"
strategies:
  default:
    account: paper
    sizing: { mode: fixed_quantity, value: 0.2 }
    stopLoss: { percent: 2 }
    takeProfit: { percent: 4 }
  slow:
    account: quiet
    sizing: { mode: fixed_quantity, value: 1 }
`);
  daemon = await startDaemon({
    CONFIG_FILE: join(dir.path, 'tradewire.yaml'), TRADEWIRE_EXECUTION: 'inline', PORT: '0', HOST: '127.0.0.1', REDIS_URL, REDIS_PREFIX: prefix,
    DATABASE_PATH: join(dir.path, 'trading.db'), WEBHOOK_PASSPHRASE: SECRET,
  }, createLogger({ level: process.env.E2E_LOG ?? 'silent', pretty: false }));
  journal = new Database(join(dir.path, 'trading.db'), { readonly: true });
});

afterAll(async () => {
  await daemon?.stop();
  journal?.close();
  await stream.close();
  await quiet.close();
  await dropRedisPrefix(prefix);
  dir.cleanup();
});

async function send(path: string, alert: Record<string, unknown>): Promise<{ status: string; reason: string | null }> {
  const response = await fetch(`${daemon?.url}${path}`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ passphrase: SECRET, ...alert }) });
  expect(response.status).toBe(202);
  const { signalId } = await response.json() as { signalId: string };
  return until('the signal to finish', () => {
    const row = journal?.prepare('SELECT status, reason FROM signals WHERE signal_id = ?').get(signalId) as { status: string; reason: string | null } | undefined;
    return row && row.status !== 'queued' && row.status !== 'received' ? row : undefined;
  });
}

describe('a paper account priced by the Binance mark price stream, end to end', () => {
  it('an alert opens at the feed price with a stop; the stream moves through the stop and the position closes with exit_reason stop_loss', async () => {
    stream.price('BTCUSDT', '60100');
    const done = await send('/webhook', { ticker: 'BINANCE:BTCUSDT.P', action: 'buy', sentiment: 'long', price: '60000', id: 'feed-e2e-1' });
    expect(done, JSON.stringify(done)).toMatchObject({ status: 'executed' });
    expect(stream.subscriptions()).toEqual([['btcusdt@markPrice@1s']]);

    // The entry filled at the market's price (the feed's 60100), not the alert's 60000; the 2 % stop is priced from that fill.
    const position = journal?.prepare(`SELECT average_entry_price, quantity, status FROM positions WHERE symbol = 'BTCUSDT'`).get() as { average_entry_price: string; quantity: string; status: string };
    expect(position).toEqual({ average_entry_price: '60100', quantity: '0.2', status: 'open' });
    const stop = journal?.prepare(`SELECT stop_price, status FROM executed_orders WHERE leg = 'stop'`).get() as { stop_price: string; status: string };
    expect(stop).toEqual({ stop_price: '58898', status: 'accepted' });

    stream.price('BTCUSDT', '59500');
    stream.price('BTCUSDT', '58850.5');
    const closed = await until('the position to close', () => journal?.prepare(
      `SELECT c.exit_reason, c.exit_price, c.realized_pnl FROM closed_positions c JOIN positions p ON p.id = c.position_id WHERE p.symbol = 'BTCUSDT'`,
    ).get() as { exit_reason: string; exit_price: string; realized_pnl: string } | undefined);
    // The mark gapped through 58898: filled at 58850.5, (58850.5 − 60100) × 0.2 = −249.9.
    expect(closed).toEqual({ exit_reason: 'stop_loss', exit_price: '58850.5', realized_pnl: '-249.9' });

    // Flat: the stream is let go once nothing is in play and the entry's hold has passed (60 s), so it is still watched here.
    expect(stream.subscriptions()).toEqual([['btcusdt@markPrice@1s']]);
  });

  it('once its feed has gone quiet past staleAfterSeconds, an entry is refused stale_quote and nothing is placed', async () => {
    quiet.price('ETHUSDT', '3000');
    expect(await send('/webhook/slow', { ticker: 'BINANCE:ETHUSDT.P', action: 'buy', sentiment: 'long', price: '3000', id: 'quiet-1' })).toMatchObject({ status: 'executed' });
    expect(await send('/webhook/slow', { ticker: 'BINANCE:ETHUSDT.P', action: 'sell', sentiment: 'flat', price: '3000', id: 'quiet-2' })).toMatchObject({ status: 'executed' });
    const placed = (): number => (journal?.prepare(`SELECT count(*) AS n FROM executed_orders WHERE symbol = 'ETHUSDT'`).get() as { n: number }).n;
    const before = placed();

    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const refused = await send('/webhook/slow', { ticker: 'BINANCE:ETHUSDT.P', action: 'buy', sentiment: 'long', price: '3000', id: 'quiet-3' });
    // The venue's refusal of the entry order: the signal fails with its reason (the executor's own stale_quote, from a quote's age, is a rejection).
    expect(refused.status).toBe('failed');
    expect(refused.reason).toMatch(/stale_quote: the binance-usdm-mark price for ETHUSDT is \d+ s old \(staleAfterSeconds 1\)/);
    expect(journal?.prepare(`SELECT count(*) AS n FROM positions WHERE symbol = 'ETHUSDT' AND status = 'open'`).get()).toEqual({ n: 0 });
    // The entry's intent is journalled before the venue hears of it; the venue refused it.
    expect(journal?.prepare(`SELECT status FROM executed_orders WHERE symbol = 'ETHUSDT' ORDER BY rowid DESC LIMIT 1`).get()).toEqual({ status: 'rejected' });
    expect(placed()).toBe(before + 1);
  });
});
