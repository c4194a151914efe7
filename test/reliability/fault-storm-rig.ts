// The broker fault storm (issue 14): signals through the real executor, adapters and position loop while the Alpaca and Binance fakes storm, then the invariants checked.
//
// Shared by the bounded test (test/reliability/fault-storm.test.ts) and the full run (scripts/fault-storm.ts). One
// virtual clock drives tradewire, both adapters and both fakes: a wait of the retry policy (and a Retry-After) moves it
// forward at once, so a 1 s Retry-After or a 120 s ban costs no real time, yet the venue and the adapters' rate gates
// see it pass as they would.
import { join } from 'node:path';
import { setTimeout as realSleep } from 'node:timers/promises';
import type { SetupServer } from 'msw/node';
import { ulid } from 'ulid';
import { AlpacaBroker } from '../../src/brokers/alpaca/alpaca-broker.ts';
import { BinanceUsdmBroker } from '../../src/brokers/binance/binance-broker.ts';
import type { Broker } from '../../src/brokers/broker.ts';
import type { BrokerRegistry } from '../../src/brokers/registry.ts';
import { parseConfigText } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { RateLimitError } from '../../src/domain/errors.ts';
import { Decimal } from '../../src/domain/money.ts';
import type { ExecutionContext } from '../../src/execution/context.ts';
import { Executor, type ExecutionOutcome } from '../../src/execution/executor.ts';
import { OrderTracker } from '../../src/execution/order-tracker.ts';
import { backoffDelay, type RetryPolicy } from '../../src/execution/retry.ts';
import { alertToJson } from '../../src/intake/alert-json.ts';
import { contentHash, stableStringify } from '../../src/intake/content-hash.ts';
import { parseAlert } from '../../src/intake/parse.ts';
import { resolveSymbol } from '../../src/intake/symbols.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { PositionManager } from '../../src/portfolio/manager.ts';
import { reconcileAll, type ReconcileReport } from '../../src/portfolio/reconcile.ts';
import type { ExecutionJobData } from '../../src/queue/signal-queue.ts';
import { AccountStateRepo } from '../../src/store/account-state-repo.ts';
import { openDatabase } from '../../src/store/db.ts';
import { ExecutionsRepo } from '../../src/store/executions-repo.ts';
import { OrdersRepo } from '../../src/store/orders-repo.ts';
import { PositionsRepo } from '../../src/store/positions-repo.ts';
import { SignalsRepo } from '../../src/store/signals-repo.ts';
import { AlpacaFake } from '../fakes/alpaca.ts';
import { BinanceFake, FAKE_API_KEY, FAKE_API_SECRET, FAKE_BASE_URL } from '../fakes/binance.ts';
import { seededRandom, type StormOptions, type StormStats } from '../fakes/storm.ts';
import { tempDir } from '../helpers/env.ts';

export interface FaultStormOptions {
  seed: number;
  /** Signals sent in all, spread over the symbols. */
  signals: number;
  /** The retry policy, written into the config's `retries` (default: 6 attempts, 5 ms doubling to 40 ms). */
  retries?: RetryPolicy | undefined;
  /** The adapters' request timeout (default 200 ms); the storm's hung requests answer after twice that. */
  timeoutMs?: number | undefined;
  /** Overrides of the storm's rates (the seed is the run's). */
  storm?: Partial<StormOptions> | undefined;
  /**
   * Concurrent: one lane per symbol at once (as the queue runs them) and the position loop on its timer. Otherwise one
   * signal at a time with a loop tick after each: the same seed then gives the same run (default).
   */
  concurrent?: boolean | undefined;
  /** Receives, after the run, what each signal, order and position came to, line by line (for finding a defect's story). */
  trace?: ((line: string) => void) | undefined;
  /** How much faster than the wall clock the shared clock runs (default 10): a Retry-After hold passes in a tenth of the time. */
  clockSpeed?: number | undefined;
}

export interface FaultStormReport {
  seed: number;
  signals: number;
  /** How the signals ended, by status. */
  outcomes: Record<string, number>;
  /** Every broken invariant, in words; empty when the storm proved nothing wrong. */
  violations: string[];
  /** Waits the order tracker's retries asked for, and how many were Retry-After waits. */
  retrySleeps: number;
  retryAfterSleeps: number;
  storm: { alpaca: StormStats; binance: StormStats };
  ordersAtVenues: number;
  openPositions: number;
  rssGrowthMb: number;
  durationMs: number;
  reconcile: ReconcileReport[];
}

const ALPACA_KEYS = { keyId: 'PKSTORM00000000000001', secretKey: 'storm-alpaca-secret-0123456789' };
const STOCKS = ['AAPL', 'MSFT', 'SPY'] as const;
const COINS = ['BTCUSDT', 'ETHUSDT'] as const;
const START_PRICE: Record<string, string> = { AAPL: '100', MSFT: '400', SPY: '500', BTCUSDT: '60000', ETHUSDT: '3000' };
/** Signal states nothing more happens to. */
const TERMINAL_SIGNAL = new Set(['executed', 'partial', 'rejected', 'failed', 'duplicate', 'stale', 'halted']);

function configText(retries: RetryPolicy): string {
  return `
accounts:
  alpaca:
    broker: alpaca
    environment: paper
    keyId: ${ALPACA_KEYS.keyId}
    secretKey: ${ALPACA_KEYS.secretKey}
    baseUrl: https://paper-api.alpaca.markets
    streams: false
  binance:
    broker: binance-usdm
    environment: testnet
    apiKey: ${FAKE_API_KEY}
    apiSecret: ${FAKE_API_SECRET}
    baseUrl: ${FAKE_BASE_URL}
strategies:
  stocks:
    account: alpaca
    allowShorts: true
    sizing: { mode: fixed_quantity, value: 10 }
  crypto:
    account: binance
    allowShorts: true
    sizing: { mode: fixed_quantity, value: 0.01 }
retries: { attempts: ${retries.attempts}, baseDelayMs: ${retries.baseDelayMs}, maxDelayMs: ${retries.maxDelayMs} }
`;
}

/** A clock every party shares: it runs `speed` times faster than the wall clock, and waits move it forward at once. */
class VirtualClock {
  private offset = 0;
  private readonly base = Date.now();
  constructor(private readonly speed: number) {}
  ms = (): number => this.base + (Date.now() - this.base) * this.speed + this.offset;
  now = (): Date => new Date(this.ms());
  advance(ms: number): void { this.offset += Math.max(0, ms); }
}

interface RetryRecord { attempt: number; delayMs: number; random: number; error?: unknown; reason?: string; retryAfterMs?: number | undefined }

/** Runs one storm on the given msw server (listening; its handlers are replaced) and reports what held and what broke. */
export async function runFaultStorm(server: SetupServer, options: FaultStormOptions): Promise<FaultStormReport> {
  const started = Date.now();
  const rssBefore = process.memoryUsage().rss;
  const retries = options.retries ?? { attempts: 6, baseDelayMs: 5, maxDelayMs: 40 };
  const timeoutMs = options.timeoutMs ?? 200;
  const clock = new VirtualClock(options.clockSpeed ?? 10);
  const dir = tempDir('tw-storm');
  const { config } = parseConfigText(configText(retries), 'storm.yaml', {});
  const db = openDatabase(join(dir.path, 'trading.db'));

  const alpacaFake = new AlpacaFake({ ...ALPACA_KEYS, now: clock.now });
  const binanceFake = new BinanceFake({ now: clock.ms });
  server.resetHandlers(...alpacaFake.handlers, ...binanceFake.handlers);
  for (const symbol of STOCKS) alpacaFake.setPrice(symbol, START_PRICE[symbol] ?? '100');
  for (const symbol of COINS) binanceFake.setPrice(symbol, START_PRICE[symbol] ?? '100');

  // The tracker's retry notices (placements log them; every other call reports through onRetry), each with the
  // random draw its delay was computed from: the delay can then be checked exactly against the policy.
  const retryRecords: RetryRecord[] = [];
  let lastRandom = 0;
  const retryRandom = seededRandom(options.seed ^ 0x5eed);
  const sleeps: number[] = [];
  const errorLines: string[] = [];
  const logger = createLogger({
    level: 'warn',
    destination: {
      write: (line: string) => {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry.event === 'order.retry') {
          retryRecords.push({ attempt: Number(entry.attempt), delayMs: Number(entry.delayMs), random: lastRandom, reason: String(entry.err),
            retryAfterMs: typeof entry.retryAfterMs === 'number' ? entry.retryAfterMs : undefined });
        } else if (Number(entry.level) >= 50 && errorLines.length < 200) {
          errorLines.push(String(entry.msg));
        }
      },
    },
  });
  const silent = createLogger({ level: 'silent' });
  const alpaca = new AlpacaBroker({ name: 'alpaca', environment: 'paper', ...ALPACA_KEYS, baseUrl: alpacaFake.baseUrl, dataUrl: alpacaFake.dataUrl, timeoutMs, logger: silent, clock: clock.now });
  const binance = new BinanceUsdmBroker({
    name: 'binance', environment: 'testnet', baseUrl: FAKE_BASE_URL, apiKey: FAKE_API_KEY, apiSecret: FAKE_API_SECRET, timeoutMs, logger: silent, clock: clock.now,
  });
  await alpaca.connect();
  await binance.connect();
  const brokers: Record<string, Broker> = { alpaca, binance };
  const registry: BrokerRegistry = {
    get: (account) => { const b = brokers[account]; if (!b) throw new Error(`no account ${account}`); return b; },
    accounts: () => Object.keys(brokers), disconnectAll: async () => { await alpaca.disconnect(); await binance.disconnect(); },
  };
  const orders = new OrdersRepo(db, { now: clock.now });
  const tracker = new OrderTracker({
    orders, logger, retry: config.retries,
    retryDeps: {
      random: () => { lastRandom = retryRandom(); return lastRandom; },
      sleep: async (ms) => { sleeps.push(ms); clock.advance(ms); await realSleep(Math.min(ms, 2)); },
      onRetry: (info) => { retryRecords.push({ attempt: info.attempt, delayMs: info.delayMs, random: lastRandom, error: info.error }); },
    },
  });
  const ctx: ExecutionContext = {
    config: () => config, brokers: registry, signals: new SignalsRepo(db, { now: clock.now }), executions: new ExecutionsRepo(db, { now: clock.now }), orders,
    positions: new PositionsRepo(db, { now: clock.now }), accountState: new AccountStateRepo(db, { now: clock.now }), tracker, logger, now: clock.now,
    sleep: async (ms) => { clock.advance(ms); await realSleep(Math.min(ms, 2)); },
    owner: `storm-${ulid()}`,
  };
  const executor = new Executor(ctx);
  const manager = new PositionManager(ctx, { intervalMs: 50, db, fillTimeoutMs: 300 });

  const stormOptions = (seed: number, banAt?: number): StormOptions => ({ seed, hangMs: timeoutMs * 2, ...options.storm, ...(banAt === undefined ? {} : { banAtRequest: banAt }) });
  const plan = planSignals(options.seed, options.signals);
  // The ban comes about a third into Binance's share of the traffic (a signal makes five or six signed requests in a storm).
  const binanceSignals = plan.filter((s) => s.account === 'binance').length;
  const alpacaStorm = alpacaFake.storm(stormOptions(options.seed));
  const binanceStorm = binanceFake.storm(stormOptions(options.seed + 1, Math.max(5, Math.floor(binanceSignals * 2))));

  const sent: Array<{ job: ExecutionJobData; outcome: ExecutionOutcome | undefined; error?: unknown }> = [];
  const priceWalk = seededRandom(options.seed + 2);
  const fakeOf = (account: string) => (account === 'alpaca' ? alpacaFake : binanceFake);
  if (options.concurrent === true) manager.start();
  try {
    const lanes = new Map<string, PlannedSignal[]>();
    for (const s of plan) lanes.set(s.symbol, [...(lanes.get(s.symbol) ?? []), s]);
    const runLane = async (signals: PlannedSignal[]): Promise<void> => {
      for (const s of signals) {
        // The market moves a little between signals (up to ±1.5 %): enough to set off a stop or a target now and then.
        const last = new Decimal(s.price.value);
        const next = last.mul(new Decimal(1).plus(new Decimal(priceWalk() * 0.03 - 0.015))).toDecimalPlaces(2);
        s.price.value = next.toFixed();
        fakeOf(s.account).setPrice(s.symbol, next.toFixed());
        const job = jobFor(config, clock.now(), s, next.toFixed());
        try {
          sent.push({ job, outcome: await executor.execute(job) });
        } catch (error) {
          sent.push({ job, outcome: undefined, error });
        }
        if (options.concurrent !== true) await manager.tick();
      }
    };
    if (options.concurrent === true) await Promise.all([...lanes.values()].map(runLane));
    else await runLane(plan);
  } finally {
    // The storm passes; the ban runs out on the venue's clock; the loop and reconciliation settle what was left.
    alpacaFake.calm();
    binanceFake.calm();
  }
  // Past the ban, and past any close claim the storm left (a claim lapses, then the loop takes the close up again).
  clock.advance(Math.max(0, binanceFake.stormBanEnds - clock.ms()) + 10 * 60_000);
  await realSleep(timeoutMs * 3); // requests hung by the storm answer (late) and are dropped
  await manager.stop();
  const reconcile: ReconcileReport[] = [];
  for (let round = 0; round < 3; round++) {
    await manager.tick();
    reconcile.push(...await reconcileAll(ctx, { pendingAgeMs: 0, settleMs: 0 }));
  }
  await manager.tick();

  const violations: string[] = [];
  // ---- every signal ends, and every one that did not execute says why ----
  const outcomes: Record<string, number> = {};
  for (const { job, error } of sent) {
    const row = ctx.signals.findById(job.signalId);
    const status = row?.status ?? 'missing';
    outcomes[status] = (outcomes[status] ?? 0) + 1;
    if (error !== undefined) violations.push(`signal ${job.signalId} (${job.symbol}): execute() threw ${String(error)}`);
    if (!TERMINAL_SIGNAL.has(status)) violations.push(`signal ${job.signalId} (${job.symbol}) ended '${status}', not a terminal state`);
    else if (status !== 'executed' && (row?.reason ?? '').trim() === '') violations.push(`signal ${job.signalId} (${job.symbol}) ended '${status}' with no reason`);
  }

  // ---- nothing placed twice: each client id at most once at the venue, one entry per signal at most ----
  const journal = db.prepare('SELECT client_order_id AS id, signal_id AS signalId, leg, account FROM executed_orders').all() as Array<{ id: string; signalId: string | null; leg: string; account: string }>;
  const journalIds = new Map(journal.map((o) => [o.id, o]));
  const venueIds: Array<{ venue: string; id: string }> = [
    ...alpacaFake.allOrders().filter((o) => o.parent === null).map((o) => ({ venue: 'alpaca', id: o.client_order_id })),
    // A triggered algo order's market order is the venue's own (autoalgo_<algoId>): its algo is counted instead.
    ...binanceFake.placedOrders().filter((o) => !o.clientOrderId.startsWith('autoalgo_')).map((o) => ({ venue: 'binance', id: o.clientOrderId })),
    ...binanceFake.placedAlgoOrders().map((a) => ({ venue: 'binance', id: a.clientAlgoId })),
  ];
  const seen = new Map<string, number>();
  for (const v of venueIds) seen.set(`${v.venue}:${v.id}`, (seen.get(`${v.venue}:${v.id}`) ?? 0) + 1);
  for (const [key, count] of seen) if (count > 1) violations.push(`client id ${key} was placed ${count} times at the venue`);
  const entriesPerSignal = new Map<string, number>();
  for (const v of venueIds) {
    const mine = journalIds.get(v.id);
    if (!mine) { violations.push(`${v.venue} holds order ${v.id}, which the journal does not know`); continue; }
    if (mine.leg === 'entry' && mine.signalId) entriesPerSignal.set(mine.signalId, (entriesPerSignal.get(mine.signalId) ?? 0) + 1);
  }
  for (const [signalId, count] of entriesPerSignal) if (count > 1) violations.push(`signal ${signalId} has ${count} entries at the venue`);

  // ---- no position without protection, and the journal agrees with the venues ----
  const venuePositions = new Map<string, Decimal>();
  for (const [symbol, qty] of alpacaFake.heldPositions()) venuePositions.set(`alpaca:${symbol}`, qty);
  for (const symbol of COINS) {
    const amount = binanceFake.positionAmount(symbol);
    if (!amount.isZero()) venuePositions.set(`binance:${symbol}`, amount);
  }
  for (const [key, qty] of venuePositions) {
    const [venue, symbol] = key.split(':') as [string, string];
    const covered = venue === 'alpaca' ? alpacaStopCover(alpacaFake, symbol, qty) : binanceStopCover(binanceFake, symbol, qty);
    if (covered.lt(qty.abs())) violations.push(`${key}: ${qty.toFixed()} held, only ${covered.toFixed()} covered by a resting stop`);
  }
  const journalPositions = new Map<string, Decimal>();
  for (const p of ctx.positions.listOpen()) {
    const key = `${p.account}:${p.symbol}`;
    journalPositions.set(key, (journalPositions.get(key) ?? new Decimal(0)).plus(p.side === 'long' ? p.quantity : p.quantity.neg()));
    if (p.status !== 'open') violations.push(`journal position ${p.id} (${key}) is still '${p.status}' after settling`);
  }
  for (const key of new Set([...venuePositions.keys(), ...journalPositions.keys()])) {
    const venue = venuePositions.get(key) ?? new Decimal(0);
    const mine = journalPositions.get(key) ?? new Decimal(0);
    if (!venue.eq(mine)) violations.push(`${key}: the venue holds ${venue.toFixed()}, the journal ${mine.toFixed()}`);
  }

  // ---- retries back off as configured: each wait is the policy's, from the draw it was made with ----
  for (const r of retryRecords) {
    if (r.attempt < 1 || r.attempt >= retries.attempts) violations.push(`a retry after attempt ${r.attempt}, with ${retries.attempts} attempts allowed`);
    const jittered = backoffDelay(retries, r.attempt, undefined, () => r.random);
    if (r.error !== undefined) {
      const expected = backoffDelay(retries, r.attempt, r.error, () => r.random);
      if (r.delayMs !== expected) violations.push(`retry after attempt ${r.attempt} waited ${r.delayMs} ms, the policy says ${expected} ms`);
      if (r.error instanceof RateLimitError && r.delayMs < (r.error.retryAfterMs ?? 0)) violations.push(`a Retry-After of ${r.error.retryAfterMs} ms was cut to ${r.delayMs} ms`);
    } else if (r.reason?.startsWith('rate_limited')) {
      // The placement's notice carries its Retry-After: the venue's (the storm's 1 s), or what is left of it where the
      // adapter refuses calls locally until then (Binance: "not calling Binance for another 1 s"). Never under either.
      const floor = Math.max(jittered, r.retryAfterMs ?? 1_000);
      if (r.delayMs < floor && !(r.retryAfterMs === undefined && r.delayMs === jittered)) violations.push(`a rate-limited placement waited ${r.delayMs} ms, under its Retry-After of ${r.retryAfterMs ?? 'at least 1000'} ms (${r.reason})`);
    } else if (r.delayMs !== jittered) {
      violations.push(`placement retry after attempt ${r.attempt} (${r.reason}) waited ${r.delayMs} ms, the policy says ${jittered} ms`);
    }
  }
  if (sleeps.length !== retryRecords.length) violations.push(`${sleeps.length} retry waits but ${retryRecords.length} retry notices`);

  if (options.trace) {
    const trace = options.trace;
    for (const { job } of sent) { const r = ctx.signals.findById(job.signalId); trace(`signal ${job.symbol} ${job.alert.action} ${r?.status ?? 'missing'} ${r?.reason ?? ''}`); }
    for (const o of db.prepare('SELECT client_order_id, symbol, leg, type, side, status, quantity, reason, signal_id FROM executed_orders ORDER BY id').all()) trace(`journal ${JSON.stringify(o)}`);
    for (const o of alpacaFake.allOrders()) trace(`alpaca ${o.client_order_id} ${o.symbol} ${o.type} ${o.side} ${o.status} ${o.qty.toFixed()} parent ${o.parent ?? '-'}`);
    for (const o of binanceFake.placedAlgoOrders()) trace(`binance algo ${o.clientAlgoId} ${o.symbol} ${o.orderType} ${o.side} ${o.algoStatus} ${o.quantity.toFixed()}`);
    for (const [key, qty] of venuePositions) trace(`held ${key} ${qty.toFixed()}`);
    for (const line of errorLines) trace(`error ${line}`);
  }
  const report: FaultStormReport = {
    seed: options.seed, signals: sent.length, outcomes, violations,
    retrySleeps: sleeps.length, retryAfterSleeps: sleeps.filter((ms) => ms >= 1_000).length,
    storm: { alpaca: { ...alpacaStorm.stats }, binance: { ...binanceStorm.stats } },
    ordersAtVenues: venueIds.length, openPositions: venuePositions.size,
    rssGrowthMb: 0, durationMs: 0, reconcile,
  };
  await registry.disconnectAll();
  db.close();
  dir.cleanup();
  report.rssGrowthMb = Math.round((process.memoryUsage().rss - rssBefore) / 1_048_576);
  report.durationMs = Date.now() - started;
  return report;
}

/** What resting stops on the other side cover of a position at the Alpaca fake. */
function alpacaStopCover(fake: AlpacaFake, symbol: string, qty: Decimal): Decimal {
  const closing = qty.isNegative() ? 'buy' : 'sell';
  return fake.allOrders()
    .filter((o) => o.symbol === symbol && o.side === closing && ['stop', 'stop_limit', 'trailing_stop'].includes(o.type) && ['new', 'accepted', 'partially_filled'].includes(o.status))
    .reduce((sum, o) => sum.plus(o.qty.minus(o.filled_qty)), new Decimal(0));
}

/** What resting algo stops on the other side cover of a position at the Binance fake (closePosition covers it all). */
function binanceStopCover(fake: BinanceFake, symbol: string, qty: Decimal): Decimal {
  const closing = qty.isNegative() ? 'BUY' : 'SELL';
  let cover = new Decimal(0);
  for (const a of fake.openAlgoOrders()) {
    if (a.symbol !== symbol || a.side !== closing || !['STOP_MARKET', 'STOP', 'TRAILING_STOP_MARKET'].includes(a.orderType)) continue;
    if (a.closePosition) return qty.abs();
    cover = cover.plus(a.quantity);
  }
  return cover;
}

interface PlannedSignal {
  index: number;
  account: 'alpaca' | 'binance';
  strategy: 'stocks' | 'crypto';
  symbol: string;
  body: Record<string, unknown>;
  /** The lane's running price, shared by the signals of one symbol. */
  price: { value: string };
}

/** A seeded stream of entries, exits and reversals: long, short (a reversal when the other side is held) or exit, per symbol. */
function planSignals(seed: number, count: number): PlannedSignal[] {
  const random = seededRandom(seed + 3);
  const symbols = [...STOCKS.map((s) => ({ symbol: s as string, account: 'alpaca' as const })), ...COINS.map((s) => ({ symbol: s as string, account: 'binance' as const }))];
  const prices = new Map(symbols.map((s) => [s.symbol, { value: START_PRICE[s.symbol] ?? '100' }]));
  const plan: PlannedSignal[] = [];
  for (let index = 0; index < count; index++) {
    const pick = symbols[Math.floor(random() * symbols.length)] ?? symbols[0];
    if (!pick) break;
    const roll = random();
    const body: Record<string, unknown> = roll < 0.4 ? { action: 'buy', sentiment: 'long' } : roll < 0.7 ? { action: 'sell', sentiment: 'short' } : { action: 'exit' };
    if (body.action !== 'exit') Object.assign(body, { stopLoss: { percent: '2' }, takeProfit: { percent: '4' } });
    plan.push({
      index, account: pick.account, strategy: pick.account === 'alpaca' ? 'stocks' : 'crypto', symbol: pick.symbol,
      body: { ...body, ticker: pick.symbol, strategy: pick.account === 'alpaca' ? 'stocks' : 'crypto', id: `storm-${seed}-${index}` },
      price: prices.get(pick.symbol) ?? { value: '100' },
    });
  }
  return plan;
}

/** The job the intake would queue for this signal, stamped with the (virtual) time it arrives. */
function jobFor(config: Config, now: Date, s: PlannedSignal, price: string): ExecutionJobData {
  const body = { ...s.body, price, time: now.toISOString() };
  const result = parseAlert(body, { now, maxSignalAgeSeconds: 60, resolveSymbol: (strategy, ticker) => resolveSymbol(config.strategies[strategy]?.symbols ?? {}, ticker) });
  if (!result.ok) throw new Error(`bad storm alert: ${JSON.stringify(result)}`);
  return {
    signalId: ulid(now.getTime()), account: s.account, accounts: [s.account], strategy: result.alert.strategy, symbol: result.alert.symbol,
    alert: alertToJson(result.alert), rawPayload: stableStringify(result.rawPayload), ignored: result.ignored, contentHash: contentHash(result.rawPayload),
    receivedAt: now.toISOString(),
  };
}
