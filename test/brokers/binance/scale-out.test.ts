// Scale-out at Binance USD-M (native: reduce-only take-profit algo orders beside the stop), from the alert to the fills at the fake.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BinanceUsdmBroker } from '../../../src/brokers/binance/binance-broker.ts';
import { parseConfigText } from '../../../src/config/load.ts';
import type { ExecutionContext } from '../../../src/execution/context.ts';
import { Executor } from '../../../src/execution/executor.ts';
import { OrderTracker } from '../../../src/execution/order-tracker.ts';
import { PositionManager } from '../../../src/portfolio/manager.ts';
import { createLogger } from '../../../src/ops/logger.ts';
import { AccountStateRepo } from '../../../src/store/account-state-repo.ts';
import { openDatabase } from '../../../src/store/db.ts';
import { ExecutionsRepo } from '../../../src/store/executions-repo.ts';
import { OrdersRepo } from '../../../src/store/orders-repo.ts';
import { PositionsRepo } from '../../../src/store/positions-repo.ts';
import { SignalsRepo } from '../../../src/store/signals-repo.ts';
import { BinanceFake, FAKE_API_KEY, FAKE_API_SECRET, FAKE_BASE_URL } from '../../fakes/binance.ts';
import { tempDir } from '../../helpers/env.ts';
import { jobFor, registryOf } from '../../helpers/execution-stack.ts';
import { useMswServer } from '../../helpers/msw.ts';

const server = useMswServer();

const CONFIG = `
logging:
  level: silent
accounts:
  binance:
    broker: binance-usdm
    environment: testnet
    baseUrl: ${FAKE_BASE_URL}
    apiKey: \${BINANCE_API_KEY}
    apiSecret: \${BINANCE_API_SECRET}
    leverage: 10
    marginType: isolated
strategies:
  default:
    subscriptions:
      - account: binance
        quantityFromAlert: true
    allowShorts: false
    pyramiding: { enabled: false, maxEntries: 1 }
    stopLoss: { percent: 2 }
    takeProfit:
      - { percent: 1, size: "50%" }
      - { percent: 2, size: "30%" }
      - { rMultiple: 3, size: rest }
    manage:
      breakeven: { afterTarget: 1 }
    symbols:
      "BINANCE:BTCUSDT.P": BTCUSDT
`;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => { for (const c of cleanups.splice(0)) await c(); });

async function stack(configText = CONFIG) {
  const dir = tempDir('tw-binance-scale');
  const { config } = parseConfigText(configText, 'test.yaml', { BINANCE_API_KEY: FAKE_API_KEY, BINANCE_API_SECRET: FAKE_API_SECRET });
  const fake = new BinanceFake();
  server.use(...fake.handlers);
  const account = config.accounts.binance;
  if (account?.broker !== 'binance-usdm') throw new Error('the test config has no binance account');
  const broker = new BinanceUsdmBroker({ ...account, name: 'binance', logger: createLogger({ level: 'silent' }) });
  const brokers = await registryOf({ binance: broker });
  const db = openDatabase(join(dir.path, 'trading.db'));
  cleanups.push(() => { db.close(); dir.cleanup(); });
  const now = () => new Date();
  const logger = createLogger({ level: 'silent' });
  const orders = new OrdersRepo(db, { now });
  const ctx: ExecutionContext = {
    config: () => config, brokers, signals: new SignalsRepo(db, { now }), executions: new ExecutionsRepo(db, { now }), orders,
    positions: new PositionsRepo(db, { now }), accountState: new AccountStateRepo(db, { now }),
    tracker: new OrderTracker({ orders, logger, retry: config.retries, retryDeps: { sleep: async () => undefined, random: () => 0.5 } }),
    logger, now, sleep: async (ms) => { await new Promise((r) => setTimeout(r, Math.min(ms, 5))); }, owner: 'binance-test',
  };
  return { config, fake, broker, ctx, db, executor: new Executor(ctx) };
}

describe('a scale-out at Binance USD-M', () => {
  it('rests one reduce-only TAKE_PROFIT_MARKET per level with its quantity; after level 1 fires the stop moves to breakeven through a stand-in', async () => {
    const s = await stack();
    const outcome = await s.executor.execute(jobFor(s.config, { ticker: 'BINANCE:BTCUSDT.P', action: 'buy', sentiment: 'long', quantity: '0.5', price: '60000', id: 'bn-s1' }));
    expect(outcome).toEqual({ status: 'executed' });
    const algos = s.fake.calls('/fapi/v1/algoOrder', 'POST').map((r) => r.params);
    expect(algos.map((p) => [p.type, p.triggerPrice, p.quantity, p.reduceOnly, p.closePosition])).toEqual([
      ['STOP_MARKET', '58800', undefined, undefined, 'true'],
      ['TAKE_PROFIT_MARKET', '60600', '0.25', 'true', undefined],
      ['TAKE_PROFIT_MARKET', '61200', '0.15', 'true', undefined],
      ['TAKE_PROFIT_MARKET', '63600', '0.1', 'true', undefined],
    ]);

    const manager = new PositionManager(s.ctx, { intervalMs: 1000, db: s.db });
    cleanups.push(() => manager.stop());
    s.fake.setPrice('BTCUSDT', '60650');
    await manager.tick();
    expect(s.fake.positionAmount('BTCUSDT').toFixed()).toBe('0.25');
    const position = s.ctx.positions.findOpen('binance', 'BTCUSDT');
    expect(position?.quantity.toFixed()).toBe('0.25');
    expect(position?.stopPrice?.toFixed()).toBe('60000');
    // The stop rests at breakeven, and only one closePosition stop rests (the stand-in is gone).
    const stops = s.fake.openAlgoOrders().filter((o) => o.orderType === 'STOP_MARKET');
    expect(stops.map((o) => String(o.triggerPrice))).toEqual(['60000']);
    expect(s.fake.openAlgoOrders().filter((o) => o.orderType === 'TAKE_PROFIT_MARKET')).toHaveLength(2);

    // Level 2, then the stop at breakeven closes the rest.
    s.fake.setPrice('BTCUSDT', '61250');
    await manager.tick();
    expect(s.fake.positionAmount('BTCUSDT').toFixed()).toBe('0.1');
    s.fake.setPrice('BTCUSDT', '59990');
    await manager.tick();
    expect(s.fake.positionAmount('BTCUSDT').toFixed()).toBe('0');
    expect(s.ctx.positions.findOpen('binance', 'BTCUSDT')).toBeUndefined();
    expect(s.fake.openAlgoOrders()).toHaveLength(0);
    expect(s.db.prepare('SELECT level, quantity FROM v_level_fills').all()).toEqual([{ level: 1, quantity: '0.25' }, { level: 2, quantity: '0.15' }]);
    expect(s.db.prepare('SELECT exit_reason FROM closed_positions ORDER BY id').all().map((r) => (r as { exit_reason: string }).exit_reason))
      .toEqual(['take_profit', 'take_profit', 'stop_loss']);
  });
});
