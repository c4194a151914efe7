// An executor wired to real SQLite and a real paper broker, with no queue: tests call execute() on jobs directly.
import { join } from 'node:path';
import { ulid } from 'ulid';
import type { Broker } from '../../src/brokers/broker.ts';
import type { BrokerRegistry } from '../../src/brokers/registry.ts';
import { PaperBroker } from '../../src/brokers/paper/paper-broker.ts';
import { parseConfigText } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { Executor } from '../../src/execution/executor.ts';
import type { ExecutionContext } from '../../src/execution/context.ts';
import { OrderTracker } from '../../src/execution/order-tracker.ts';
import { alertToJson } from '../../src/intake/alert-json.ts';
import { contentHash, stableStringify } from '../../src/intake/content-hash.ts';
import { parseAlert } from '../../src/intake/parse.ts';
import { resolveSymbol } from '../../src/intake/symbols.ts';
import { createLogger } from '../../src/ops/logger.ts';
import type { ExecutionJobData } from '../../src/queue/signal-queue.ts';
import { AccountStateRepo } from '../../src/store/account-state-repo.ts';
import { openDatabase, type SqliteDatabase } from '../../src/store/db.ts';
import { ExecutionsRepo } from '../../src/store/executions-repo.ts';
import { OrdersRepo } from '../../src/store/orders-repo.ts';
import { PositionsRepo } from '../../src/store/positions-repo.ts';
import { SignalsRepo } from '../../src/store/signals-repo.ts';
import { tempDir } from './env.ts';

export const BASE_CONFIG = `
accounts:
  paper:
    broker: paper
    slippagePercent: 0
strategies:
  default:
    account: paper
    sizing: { mode: fixed_quantity, value: 10 }
`;

export interface Harness {
  config: Config;
  db: SqliteDatabase;
  paper: PaperBroker;
  ctx: ExecutionContext;
  executor: Executor;
  job(body: Record<string, unknown>, options?: { receivedAt?: Date }): ExecutionJobData;
  close(): Promise<void>;
}

/** Builds the harness; `wrap` may put a misbehaving broker in front of the paper broker. */
export async function createHarness(options: { configText?: string; wrap?: (paper: PaperBroker) => Broker } = {}): Promise<Harness> {
  const dir = tempDir('tw-exec');
  const { config } = parseConfigText(options.configText ?? BASE_CONFIG, 'test.yaml', {});
  const db = openDatabase(join(dir.path, 'trading.db'));
  const paper = new PaperBroker({ name: 'paper', ledgerPath: join(dir.path, 'paper.db'), startingCash: '100000', slippagePercent: '0' });
  await paper.connect();
  const broker = options.wrap ? options.wrap(paper) : paper;
  const brokers: BrokerRegistry = { get: () => broker, accounts: () => ['paper'], disconnectAll: async () => { await paper.disconnect(); } };
  const now = () => new Date();
  const logger = createLogger({ level: 'silent', destination: { write: () => undefined } });
  const orders = new OrdersRepo(db, { now });
  const retry = { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 };
  const retryDeps = { sleep: async () => undefined, random: () => 0.5 };
  const ctx: ExecutionContext = {
    config: () => config, brokers, signals: new SignalsRepo(db, { now }), executions: new ExecutionsRepo(db, { now }), orders,
    positions: new PositionsRepo(db, { now }), accountState: new AccountStateRepo(db, { now }),
    tracker: new OrderTracker({ orders, logger, retry, retryDeps }), logger, now, sleep: async (ms) => { await new Promise((r) => setTimeout(r, Math.min(ms, 5))); },
    owner: `test-${ulid()}`,
  };
  return {
    config, db, paper, ctx, executor: new Executor(ctx),
    job(body, jobOptions = {}) {
      const result = parseAlert(body, { now: new Date(), maxSignalAgeSeconds: 60, resolveSymbol: (s, t) => resolveSymbol(config.strategies[s]?.symbols ?? {}, t) });
      if (!result.ok) throw new Error(`bad test alert: ${JSON.stringify(result)}`);
      const strategy = result.alert.strategy;
      return {
        signalId: ulid(), account: 'paper', accounts: ['paper'], strategy, symbol: result.alert.symbol, alert: alertToJson(result.alert),
        rawPayload: stableStringify(result.rawPayload), ignored: result.ignored, contentHash: contentHash(result.rawPayload),
        receivedAt: (jobOptions.receivedAt ?? new Date()).toISOString(),
      };
    },
    async close() {
      await paper.disconnect();
      db.close();
      dir.cleanup();
    },
  };
}

/** A broker that delegates to another, with chosen methods replaced. */
export function overriding(inner: Broker, overrides: Partial<Broker>): Broker {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop in overrides) return (overrides as Record<PropertyKey, unknown>)[prop];
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
