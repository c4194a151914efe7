// Test helpers for the execution path: a config file of the test's own, the executor wired as main.ts wires it
// (with a broker registry and an orders repo the test may swap), execution jobs built from alert bodies, a slow paper broker.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monotonicFactory } from 'ulid';
import type { Broker } from '../../src/brokers/broker.ts';
import { PaperBroker } from '../../src/brokers/paper/paper-broker.ts';
import type { BrokerRegistry } from '../../src/brokers/registry.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import type { Order, OrderRef, OrderRequest } from '../../src/domain/order.ts';
import { Executor } from '../../src/execution/executor.ts';
import { OrderTracker } from '../../src/execution/order-tracker.ts';
import { defaultSleep } from '../../src/execution/retry.ts';
import { startExecutionRole } from '../../src/execution/worker.ts';
import { alertToJson } from '../../src/intake/alert-json.ts';
import { contentHash, stableStringify } from '../../src/intake/content-hash.ts';
import { parseAlert } from '../../src/intake/parse.ts';
import { resolveSymbol } from '../../src/intake/symbols.ts';
import type { Logger } from '../../src/ops/logger.ts';
import { createWorkerRedis } from '../../src/queue/redis.ts';
import type { ExecutionJobData } from '../../src/queue/signal-queue.ts';
import { AccountStateRepo } from '../../src/store/account-state-repo.ts';
import type { SqliteDatabase } from '../../src/store/db.ts';
import { ExecutionsRepo } from '../../src/store/executions-repo.ts';
import { OrdersRepo } from '../../src/store/orders-repo.ts';
import { PositionsRepo } from '../../src/store/positions-repo.ts';
import { SignalsRepo } from '../../src/store/signals-repo.ts';

/**
 * The config the execution tests run on: one paper account without slippage or fees, the default strategy
 * (long only, no pyramiding, stop 2 %, target 4 %), alert quantities honoured. `extra` is appended as YAML.
 */
export function executionConfigYaml(options: { lanes: number; lockDurationSeconds: number; extra?: string }): string {
  return `
logging:
  level: silent
queue:
  lanes: ${options.lanes}
  lockDurationSeconds: ${options.lockDurationSeconds}
accounts:
  paper:
    broker: paper
    startingCash: 100000
    feeRate: 0
    slippagePercent: 0
strategies:
  default:
    subscriptions:
      - account: paper
        quantityFromAlert: true
    allowShorts: false
    allowReversal: true
    pyramiding: { enabled: false, maxEntries: 1 }
    stopLoss: { percent: 2 }
    takeProfit: { percent: 4 }
${options.extra ?? ''}`;
}

export interface ExecutionEnv {
  /** The environment a daemon (or a fixture process) of this test reads: config file, journal, Redis, prefix. */
  env: NodeJS.ProcessEnv;
  databasePath: string;
  /** The paper account's ledger (paper-<account>.db next to the journal). */
  ledgerPath: string;
}

/** Writes the config into `dir` and returns the environment that points a daemon at it. */
export function writeExecutionEnv(dir: string, options: { redisUrl: string; prefix: string; lanes: number; lockDurationSeconds: number; extra?: string }): ExecutionEnv {
  const file = join(dir, 'tradewire.yaml');
  writeFileSync(file, executionConfigYaml(options));
  const databasePath = join(dir, 'data', 'trading.db');
  return {
    env: {
      CONFIG_FILE: file, REDIS_URL: options.redisUrl, REDIS_PREFIX: options.prefix, DATABASE_PATH: databasePath,
      WEBHOOK_PASSPHRASE: 'execution-tests-passphrase', PORT: '0', HOST: '127.0.0.1',
    },
    databasePath,
    ledgerPath: join(dir, 'data', 'paper-paper.db'),
  };
}

export async function loadTestConfig(env: NodeJS.ProcessEnv): Promise<Config> {
  return loadConfig({ env });
}

/** A paper account whose order calls take a random 5–40 ms, as a venue over the network would. */
export class SlowPaperBroker extends PaperBroker {
  constructor(options: ConstructorParameters<typeof PaperBroker>[0], private readonly delay: (request?: OrderRequest) => number = () => 5 + Math.floor(Math.random() * 36)) {
    super(options);
  }

  override async placeOrder(request: OrderRequest): Promise<Order> {
    await defaultSleep(this.delay(request));
    return super.placeOrder(request);
  }

  override async cancelOrder(ref: OrderRef): Promise<void> {
    await defaultSleep(this.delay());
    return super.cancelOrder(ref);
  }
}

/** The paper broker of an account as the registry builds it (same options), by a factory the test chooses. */
export function paperOptionsFor(config: Config, account: string, now: () => Date = () => new Date()): ConstructorParameters<typeof PaperBroker>[0] {
  const settings = config.accounts[account];
  if (!settings || settings.broker !== 'paper') throw new Error(`account '${account}' is not a paper account`);
  return {
    name: account, ledgerPath: settings.ledgerPath, currency: settings.currency, startingCash: settings.startingCash,
    feeRate: settings.feeRate, feePerOrder: settings.feePerOrder, slippagePercent: settings.slippagePercent, clock: now,
  };
}

/** A registry over brokers the test built; connects them. */
export async function registryOf(brokers: Record<string, Broker>): Promise<BrokerRegistry> {
  for (const broker of Object.values(brokers)) await broker.connect();
  return {
    get(account) {
      const broker = brokers[account];
      if (!broker) throw new Error(`unknown account '${account}'`);
      return broker;
    },
    accounts: () => Object.keys(brokers),
    async disconnectAll() {
      await Promise.allSettled(Object.values(brokers).map((b) => b.disconnect()));
    },
  };
}

export interface ExecutionStack {
  executor: Executor;
  signals: SignalsRepo;
  executions: ExecutionsRepo;
  orders: OrdersRepo;
  positions: PositionsRepo;
  owner: string;
}

/** The executor exactly as main.ts builds it, over the given journal and brokers; `orders` may be a test's subclass. */
export function buildExecutor(options: {
  config: Config; db: SqliteDatabase; brokers: BrokerRegistry; logger: Logger; owner: string; orders?: OrdersRepo;
}): ExecutionStack {
  const { config, db, brokers, logger, owner } = options;
  const now = () => new Date();
  const signals = new SignalsRepo(db, { now });
  const orders = options.orders ?? new OrdersRepo(db, { now });
  const executions = new ExecutionsRepo(db, { now });
  const positions = new PositionsRepo(db, { now });
  const tracker = new OrderTracker({ orders, logger, retry: config.retries, retryDeps: { sleep: defaultSleep, random: Math.random } });
  const executor = new Executor({
    config: () => config, brokers, signals, executions, orders, positions, accountState: new AccountStateRepo(db, { now }), tracker, logger,
    now, sleep: defaultSleep, owner,
  });
  return { executor, signals, executions, orders, positions, owner };
}

/**
 * The body of a worker fixture (a child process a test kills at a chosen point): the executor over `db`, `brokers` and
 * `orders` (a test's subclass that dies where it is told), taking jobs from the configured lanes; prints `ready` once it
 * takes them and stops cleanly on SIGTERM.
 */
export async function serveExecutionWorker(options: { config: Config; db: SqliteDatabase; brokers: BrokerRegistry; orders: OrdersRepo; logger: Logger }): Promise<void> {
  const { config, db, brokers, logger } = options;
  const stack = buildExecutor({ config, db, brokers, logger, owner: `worker-${process.pid}-${Date.now().toString(36)}`, orders: options.orders });
  const redis = createWorkerRedis(config.redis.url);
  const execution = await startExecutionRole({
    redisUrl: config.redis.url, redis, prefix: config.redis.prefix, laneCount: config.queue.lanes,
    lockDurationMs: config.queue.lockDurationSeconds * 1000, executor: stack.executor, signals: stack.signals, logger,
  });
  execution.run();
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => {
    void (async () => {
      await execution.close();
      await brokers.disconnectAll();
      await redis.quit().catch(() => redis.disconnect());
      db.close();
      process.exit(0);
    })();
  });
}

const newSignalId = monotonicFactory();

/** An execution job for one alert body, as the webhook would enqueue it (one account per job here). */
export function jobFor(config: Config, body: Record<string, unknown>, options: { now?: Date; signalId?: string } = {}): ExecutionJobData {
  const now = options.now ?? new Date();
  const result = parseAlert(body, {
    now, maxSignalAgeSeconds: config.webhook.maxSignalAgeSeconds,
    resolveSymbol: (name, ticker) => resolveSymbol(config.strategies[name]?.symbols ?? {}, ticker),
  });
  if (!result.ok) throw new Error(`test alert does not parse: ${JSON.stringify(result)}`);
  const strategy = config.strategies[result.alert.strategy];
  if (!strategy) throw new Error(`no strategy '${result.alert.strategy}' in the test config`);
  const accounts = strategy.subscriptions.map((s) => s.account);
  const account = accounts[0];
  if (account === undefined) throw new Error('the test strategy has no account');
  return {
    signalId: options.signalId ?? newSignalId(now.getTime()), account, accounts, strategy: result.alert.strategy, symbol: result.alert.symbol,
    alert: alertToJson(result.alert), rawPayload: stableStringify(result.rawPayload), ignored: result.ignored, contentHash: contentHash(result.rawPayload),
    receivedAt: now.toISOString(),
  };
}

/** The dedupe key the webhook gives an alert with an id. */
export function dedupeFor(job: ExecutionJobData): { key: string; ttlMs: number } {
  const id = (job.alert as { id?: unknown }).id;
  return { key: `id-${contentHash({ strategy: job.strategy, id: typeof id === 'string' ? id : job.signalId })}`, ttlMs: 60_000 };
}
