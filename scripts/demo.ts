// `npm run demo`: a throwaway tradewire replays a bundled session through the real webhook and prints the trade report.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { assertRedisReachable, deletePrefixedKeys } from '../src/queue/redis.ts';
import { z } from 'zod';
import { runPositions, runStats, runTrades } from '../src/cli/read-commands.ts';
import type { Output } from '../src/cli/output.ts';
import { startDaemon, StartupError, type Daemon } from '../src/main.ts';
import { createLogger } from '../src/ops/logger.ts';
import { loadTrades, type TradeRecord } from '../src/reports/journal.ts';
import { cents } from '../src/reports/format.ts';
import { Decimal } from '../src/domain/money.ts';

export const DEMO_SESSION = new URL('./demo-session/', import.meta.url).pathname;

/** One price row of prices.csv. The price stays text: it goes to the daemon as it is written. */
export interface PriceRow { time: string; symbol: string; price: string }

const alertLine = z.strictObject({
  time: z.string(),
  symbol: z.string().min(1),
  alert: z.record(z.string(), z.unknown()),
});
export type SessionAlert = z.infer<typeof alertLine>;

export interface DemoOptions {
  /** The session folder: prices.csv, alerts.jsonl, tradewire.yaml. */
  sessionDir?: string | undefined;
  redisUrl?: string | undefined;
  /** Where the narration and the report go. */
  io: Output;
}

export interface DemoResult {
  trades: TradeRecord[];
  /** Signals that did not end executed, with their state: the session's refusals are part of the story. */
  refused: Array<{ time: string; symbol: string; status: string; reason: string | null }>;
  /** Where the throwaway journal was and the Redis prefix it used: both gone when runDemo returns. */
  dir: string;
  prefix: string;
}

/** Reads prices.csv (`time,symbol,price`); a malformed row stops the demo with its line number. */
export function readPrices(file: string): PriceRow[] {
  const lines = readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '');
  if (lines[0] !== 'time,symbol,price') throw new Error(`${file}: the first line must be the header time,symbol,price`);
  return lines.slice(1).map((line, i) => {
    const [time, symbol, price, extra] = line.split(',');
    if (!time || !symbol || !price || extra !== undefined || !/^\d+(\.\d+)?$/.test(price) || Number.isNaN(Date.parse(time))) {
      throw new Error(`${file}:${i + 2}: expected time,symbol,price (an ISO time and a positive price), got '${line}'`);
    }
    return { time, symbol, price };
  });
}

/** Reads alerts.jsonl: one `{"time", "symbol", "alert"}` a line. */
export function readAlerts(file: string): SessionAlert[] {
  return readFileSync(file, 'utf8').split('\n').flatMap((line, i) => {
    if (line.trim() === '') return [];
    const parsed = alertLine.safeParse(JSON.parse(line));
    if (!parsed.success) throw new Error(`${file}:${i + 1}: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
    return [parsed.data];
  });
}

const clock = (iso: string) => iso.slice(11, 16);

async function post(url: string, body: unknown, token?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Waits until the worker has finished with a signal: its final state and reason. */
async function settled(journal: Database.Database, signalId: string): Promise<{ status: string; reason: string | null }> {
  const read = journal.prepare<[string], { status: string; reason: string | null }>('SELECT status, reason FROM signals WHERE signal_id = ?');
  const deadline = Date.now() + 15_000;
  for (;;) {
    const row = read.get(signalId);
    if (row && row.status !== 'received' && row.status !== 'queued') return row;
    if (Date.now() > deadline) throw new Error(`signal ${signalId} was not executed within 15 s: is the worker running?`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
/** What the daemon itself tries when no Redis is set (tests move it to a closed port: see src/runtime/startup.ts). */
const defaultRedis = () => process.env.TRADEWIRE_TEST_DEFAULT_REDIS_URL || DEFAULT_REDIS_URL;

async function defaultRedisAnswers(): Promise<boolean> {
  try {
    await assertRedisReachable(defaultRedis(), 1000);
    return true;
  } catch {
    return false;
  }
}

async function dropKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined); // a Redis that is not there was already reported by the start-up
  try {
    await redis.connect();
    await deletePrefixedKeys(redis, prefix);
  } finally {
    redis.disconnect();
  }
}

/**
 * What the journal gained since the last look, as narration: each close (a whole position, or one level of a
 * scale-out) and each stop tradewire moved, with the reason it recorded.
 */
function journalNews(journal: Database.Database): { read(): string[] } {
  let lastClose = 0;
  let lastEvent = 0;
  const closes = journal.prepare<[number], { id: number; quantity: string; exit_price: string; realized_pnl: string; exit_reason: string; level: number | null }>(
    `SELECT c.id, c.quantity, c.exit_price, c.realized_pnl, c.exit_reason,
            (SELECT MAX(o.level) FROM executed_orders o WHERE o.position_id = c.position_id AND o.level IS NOT NULL AND o.status = 'filled') AS level
     FROM closed_positions c WHERE c.id > ? ORDER BY c.id`);
  const moves = journal.prepare<[number], { id: number; reason: string }>(
    `SELECT id, json_extract(detail, '$.reason') AS reason FROM order_events
     WHERE id > ? AND json_extract(detail, '$.reason') IS NOT NULL AND (json_extract(detail, '$.amended') = 1 OR from_status IS NULL) ORDER BY id`);
  const maxEvent = journal.prepare<[], { id: number | null }>('SELECT MAX(id) AS id FROM order_events');
  return {
    read() {
      const lines: string[] = [];
      for (const c of closes.all(lastClose)) {
        lastClose = c.id;
        const level = c.exit_reason === 'take_profit' && c.level !== null ? ` (level ${c.level})` : '';
        lines.push(`${c.exit_reason}${level}: ${c.quantity} closed at ${c.exit_price}, P&L ${cents(new Decimal(c.realized_pnl))}`);
      }
      for (const m of moves.all(lastEvent)) lines.push(`stop moved: ${m.reason}`);
      lastEvent = maxEvent.get()?.id ?? lastEvent;
      return lines;
    },
  };
}

/**
 * Starts a daemon on a spare loopback port with a database in a temporary folder and its own Redis prefix, replays
 * the session, prints the report (the same as `tradewire trades` and `tradewire stats`), and removes everything.
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const { io } = options;
  const session = options.sessionDir ?? DEMO_SESSION;
  const prices = readPrices(join(session, 'prices.csv'));
  const alerts = readAlerts(join(session, 'alerts.jsonl'));
  // No Redis set and none on the default address: the daemon runs a private one in the throwaway folder (gone with it).
  const redisUrl = options.redisUrl ?? (process.env.REDIS_URL || (await defaultRedisAnswers() ? defaultRedis() : undefined));
  const dir = mkdtempSync(join(tmpdir(), 'tradewire-demo-'));
  const prefix = `tradewire-demo-${randomBytes(6).toString('hex')}`;
  const passphrase = randomBytes(18).toString('base64url');
  const token = randomBytes(18).toString('base64url');
  const databasePath = join(dir, 'trading.db');
  // The daemon's own log stays quiet: the demo narrates. Errors still reach stderr.
  const logger = createLogger({ level: 'error', destination: { write: (line: string) => { process.stderr.write(line); } } });

  let daemon: Daemon | undefined;
  let journal: Database.Database | undefined;
  try {
    daemon = await startDaemon({
      ...process.env, CONFIG_FILE: join(session, 'tradewire.yaml'), PORT: '0', HOST: '127.0.0.1', ...(redisUrl ? { REDIS_URL: redisUrl } : {}), REDIS_PREFIX: prefix,
      DATABASE_PATH: databasePath, WEBHOOK_PASSPHRASE: passphrase, ADMIN_TOKEN: token,
    }, logger, 'all');
    io.out(`tradewire is running at ${daemon.url} on a paper account, with a throwaway journal in ${dir}.`);
    io.out(`Replaying ${prices.length} prices and ${alerts.length} alerts from ${session}`);
    io.out('');
    journal = new Database(databasePath, { readonly: true, fileMustExist: true });
    const news = journalNews(journal);

    const refused: DemoResult['refused'] = [];
    const pending = [...alerts];
    let n = 0;
    for (const row of prices) {
      const due = pending.filter((a) => a.time === row.time && a.symbol === row.symbol);
      if (due.length === 0) {
        // An ordinary price: the paper market moves, and the position loop sees it (stops, targets, trailing stops).
        const moved = await post(`${daemon.url}/api/prices`, { prices: { [row.symbol]: row.price } }, token);
        if (moved.status !== 200) throw new Error(`the admin API refused a price: ${JSON.stringify(moved.body)}`);
        for (const line of news.read()) io.out(`${clock(row.time)}  ${row.symbol.padEnd(7)} ${row.price.padStart(9)}  ${line}`);
        continue;
      }
      for (const alert of due) {
        pending.splice(pending.indexOf(alert), 1);
        n += 1;
        // The alert as TradingView would send it, with the bar's price ({{close}}) and a unique id.
        const body = { price: row.price, id: `demo-${n}`, ...alert.alert, passphrase };
        const answer = await post(`${daemon.url}/webhook`, body);
        const what = `${String(alert.alert.action)}${alert.alert.sentiment ? ` (${String(alert.alert.sentiment)})` : ''}`;
        if (answer.status !== 202) {
          io.out(`${clock(row.time)}  ${row.symbol.padEnd(7)} ${row.price.padStart(9)}  alert ${what}: refused at the webhook (${answer.status} ${String(answer.body.error)})`);
          refused.push({ time: row.time, symbol: row.symbol, status: `http_${answer.status}`, reason: String(answer.body.error) });
          continue;
        }
        const outcome = await settled(journal, String(answer.body.signalId));
        io.out(`${clock(row.time)}  ${row.symbol.padEnd(7)} ${row.price.padStart(9)}  alert ${what}: ${outcome.status}${outcome.reason ? ` (${outcome.reason})` : ''}`);
        news.read(); // what the alert itself closed is in its answer above
        if (outcome.status !== 'executed') refused.push({ time: row.time, symbol: row.symbol, ...outcome });
      }
    }
    for (const alert of pending) io.out(`(alert at ${alert.time} for ${alert.symbol} matched no price row: not sent)`);

    const trades = loadTrades(journal);
    journal.close();
    journal = undefined;
    await daemon.stop();
    daemon = undefined;

    // The report, exactly as `tradewire trades`, `tradewire stats` and `tradewire positions` print it.
    io.out('');
    io.out('$ tradewire trades');
    runTrades({ databasePath }, io);
    io.out('');
    io.out('$ tradewire stats');
    runStats({ databasePath }, io);
    io.out('');
    io.out('$ tradewire positions');
    runPositions({ databasePath }, io);
    return { trades, refused, dir, prefix };
  } finally {
    journal?.close();
    await daemon?.stop();
    if (redisUrl) await dropKeys(redisUrl, prefix).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const started = Date.now();
  try {
    await runDemo({ io: { out: (line) => console.log(line), err: (line) => console.error(line) } });
    console.log('');
    console.log(`Done in ${((Date.now() - started) / 1000).toFixed(1)} s; the demo's database and Redis keys are removed. Edit scripts/demo-session/ to replay your own session.`);
  } catch (error) {
    console.error(error instanceof StartupError ? error.message : `demo failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
