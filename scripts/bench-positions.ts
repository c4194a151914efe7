// bench:positions — the position manager's real tick over 10,000 open positions on 500 symbols: p50/p99 ms per tick and RSS.
// The journal is a real SQLite file in a temp dir; the broker is a minimal in-process one that answers the batched quote
// call from a price table (a venue's answer already parsed), so the figures are the manager's own work, not a network's.
// A journal holds one live position per account and symbol, so 10,000 positions on 500 symbols are 20 accounts of 500.
import { mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ulid } from 'ulid';
import type { Broker, Capabilities } from '../src/brokers/broker.ts';
import type { BrokerRegistry } from '../src/brokers/registry.ts';
import { parseConfigText } from '../src/config/load.ts';
import { NotSupportedError } from '../src/domain/errors.ts';
import { Decimal } from '../src/domain/money.ts';
import type { Quote } from '../src/domain/order.ts';
import type { ExecutionContext } from '../src/execution/context.ts';
import { OrderTracker } from '../src/execution/order-tracker.ts';
import { createLogger } from '../src/ops/logger.ts';
import { KillSwitch } from '../src/portfolio/kill-switch.ts';
import { PositionManager } from '../src/portfolio/manager.ts';
import { AccountStateRepo } from '../src/store/account-state-repo.ts';
import { openDatabase } from '../src/store/db.ts';
import { ExecutionsRepo } from '../src/store/executions-repo.ts';
import { OrdersRepo } from '../src/store/orders-repo.ts';
import { PositionsRepo } from '../src/store/positions-repo.ts';
import { SignalsRepo } from '../src/store/signals-repo.ts';

const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 20);
const SYMBOLS = Number(process.env.BENCH_SYMBOLS ?? 500);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 30);
const TICKS = Number(process.env.BENCH_TICKS ?? 300);

const CAPABILITIES: Capabilities = {
  protectionFor: () => 'emulated', orderTypes: ['market', 'limit', 'stop'], shorting: true, fractional: true, timeInForce: ['gtc'],
  extendedHours: false, clientIdMaxLength: 48, clientIdAlphabet: 'A-Za-z0-9_-', marginPreview: false, amend: false,
};

/** Answers quotes from a table the bench moves between ticks; anything else is not part of a quiet tick. */
function quoteBroker(name: string, prices: Map<string, Decimal>, at: () => Date): Broker {
  const no = async (): Promise<never> => { throw new NotSupportedError('the bench broker only quotes', { broker: name }); };
  return {
    name, capabilities: CAPABILITIES,
    connect: async () => undefined, disconnect: async () => undefined, health: async () => ({ ok: true }),
    account: async () => ({ currency: 'USD', equity: new Decimal('10000000'), cash: new Decimal('10000000'), buyingPower: new Decimal('10000000') }),
    balances: async () => [],
    quotes: async (symbols) => {
      const time = at();
      const answer = new Map<string, Quote>();
      for (const symbol of symbols) {
        const last = prices.get(symbol);
        if (last) answer.set(symbol, { symbol, last, time });
      }
      return answer;
    },
    instrument: no, placeOrder: no, placeBracket: no, modifyOrder: no, cancelOrder: no, getOrder: no,
    openOrders: async () => [], fills: async () => [], positions: async () => [], closePosition: no,
  };
}

// A deterministic walk, so two runs see the same prices.
let seed = 42;
const random = (): number => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
  return seed / 2_147_483_648;
};
const cents = (value: number): Decimal => new Decimal(value.toFixed(2));

const dir = mkdtempSync(join(tmpdir(), 'tw-bench-positions-'));
try {
  const accounts = Array.from({ length: ACCOUNTS }, (_, i) => `acct${i}`);
  const symbols = Array.from({ length: SYMBOLS }, (_, i) => `SYM${i}`);
  const configText = `accounts:\n${accounts.map((a) => `  ${a}: { broker: paper }`).join('\n')}\nstrategies:\n  default:\n    account: ${accounts[0]}\n`;
  const { config } = parseConfigText(configText, 'bench.yaml', {});
  const db = openDatabase(join(dir, 'trading.db'));
  const now = (): Date => new Date();
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
  // Quiet: the first tick (loading 10,000 rows) is slower than the interval and would say so.
  const logger = createLogger({ level: 'error' });
  const orders = new OrdersRepo(db, { now });
  const base = new Map(symbols.map((s) => [s, 20 + random() * 480]));
  const prices = new Map([...base].map(([s, p]) => [s, cents(p)]));
  const brokers = new Map(accounts.map((a) => [a, quoteBroker(a, prices, now)]));
  const registry: BrokerRegistry = {
    get: (account) => { const b = brokers.get(account); if (!b) throw new Error(`no account ${account}`); return b; },
    accounts: () => accounts, disconnectAll: async () => undefined,
  };
  const ctx: ExecutionContext = {
    config: () => config, brokers: registry, signals: new SignalsRepo(db, { now }), executions: new ExecutionsRepo(db, { now }), orders,
    positions: new PositionsRepo(db, { now }), accountState: new AccountStateRepo(db, { now }),
    tracker: new OrderTracker({ orders, logger, retry: { attempts: 3, baseDelayMs: 250, maxDelayMs: 5000 }, retryDeps: { sleep, random: Math.random } }),
    logger, now, sleep, owner: `bench-${ulid()}`,
  };

  // Longs and shorts, fixed stops and targets 8–12 % away, one position in ten with a 6 % trailing stop instead.
  const day = now().toISOString().slice(0, 10);
  db.transaction(() => {
    for (const account of accounts) {
      for (const symbol of symbols) {
        const entry = base.get(symbol) ?? 100;
        const long = random() < 0.6;
        const away = 0.08 + random() * 0.04;
        const trailing = random() < 0.1;
        const dir1 = long ? 1 : -1;
        ctx.positions.open({
          account, strategy: 'default', symbol, side: long ? 'long' : 'short', quantity: new Decimal((1 + Math.floor(random() * 400)).toString()),
          averageEntryPrice: cents(entry), entryFees: cents(random() * 2), stopPrice: cents(entry * (1 - dir1 * away)),
          targetPrice: cents(entry * (1 + dir1 * away)), trailPercent: trailing ? new Decimal('6') : undefined,
          highWater: long ? cents(entry) : undefined, lowWater: long ? undefined : cents(entry),
          protection: 'emulated', status: 'open', tradingDay: day,
        });
      }
    }
  })();

  const manager = new PositionManager(ctx, { intervalMs: 1000, db, killSwitch: new KillSwitch(ctx) });
  // Each tick every price moves up to ±0.2 % around its start (never near a stop or target): the quiet tick a loop runs all day.
  const move = (): void => {
    for (const [symbol, start] of base) prices.set(symbol, cents(start * (1 + (random() - 0.5) * 0.004)));
  };
  const times: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < WARMUP + TICKS; i += 1) {
    move();
    const started = performance.now();
    const cpuStart = process.cpuUsage();
    await manager.tick();
    if (i < WARMUP) continue;
    times.push(performance.now() - started);
    const used = process.cpuUsage(cpuStart);
    cpu.push((used.user + used.system) / 1000);
  }
  const quantile = (list: number[], q: number): number => [...list].sort((a, b) => a - b)[Math.min(list.length - 1, Math.floor(q * list.length))] ?? Number.NaN;
  const at = (q: number): number => quantile(times, q);
  const snapshot = manager.snapshot();
  const held = snapshot.accounts.reduce((n, a) => n + a.positions.length, 0);
  const total = snapshot.accounts.reduce((sum, a) => sum.plus(a.unrealizedPnl), new Decimal(0));
  const closed = ctx.positions.listClosed().length;
  const rssMb = process.memoryUsage().rss / 1024 / 1024;
  console.log(`bench:positions — ${held} open positions, ${SYMBOLS} symbols, ${ACCOUNTS} accounts (one quote call each per tick), ${TICKS} ticks after ${WARMUP} warm-up`);
  console.log(`tick p50 ${at(0.5).toFixed(2)} ms · p99 ${at(0.99).toFixed(2)} ms · max ${quantile(times, 1).toFixed(2)} ms · RSS ${rssMb.toFixed(0)} MB`);
  // CPU time spent by this process during the tick: what the tick costs when other processes compete for the cores.
  console.log(`tick CPU p50 ${quantile(cpu, 0.5).toFixed(2)} ms · p99 ${quantile(cpu, 0.99).toFixed(2)} ms · load average ${os.loadavg()[0]?.toFixed(2)} on ${os.cpus().length} cores`);
  console.log(`exact unrealized P&L over the book: ${total.toFixed(2)} (snapshot, Decimal) · closes during the run: ${closed}`);
  await manager.stop();
  db.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
