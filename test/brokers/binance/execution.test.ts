// An alert's execution at Binance through the real executor and journal: the entry, both algo legs, then tradewire's OCO cancel.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BinanceUsdmBroker } from '../../../src/brokers/binance/binance-broker.ts';
import { parseConfigText } from '../../../src/config/load.ts';
import type { ExecutionContext } from '../../../src/execution/context.ts';
import { Executor } from '../../../src/execution/executor.ts';
import { OrderTracker } from '../../../src/execution/order-tracker.ts';
import { syncProtection } from '../../../src/execution/position-actions.ts';
import { bookFunding } from '../../../src/jobs/funding.ts';
import { createLogger } from '../../../src/ops/logger.ts';
import { AccountStateRepo } from '../../../src/store/account-state-repo.ts';
import { FundingRepo } from '../../../src/store/funding-repo.ts';
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
    takeProfit: { percent: 4 }
    symbols:
      "BINANCE:BTCUSDT.P": BTCUSDT
`;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => { for (const c of cleanups.splice(0)) await c(); });

async function stack(configText = CONFIG) {
  const dir = tempDir('tw-binance-exec');
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

describe('an alert executed at Binance USD-M', () => {
  it('sends the entry, then the stop and target as closePosition algo orders; the target fires and tradewire cancels the stop', async () => {
    const s = await stack();
    const job = jobFor(s.config, { ticker: 'BINANCE:BTCUSDT.P', action: 'buy', sentiment: 'long', quantity: '0.5', price: '60000', id: 'bn-1' });
    await s.executor.execute(job);

    const placed = s.fake.requests.filter((r) => r.method === 'POST' && r.authenticated).map((r) => [r.path, r.params.type ?? r.params.leverage ?? r.params.marginType]);
    expect(placed).toEqual([
      ['/fapi/v1/marginType', 'ISOLATED'],
      ['/fapi/v1/leverage', '10'],
      ['/fapi/v1/order', 'MARKET'],
      ['/fapi/v1/algoOrder', 'STOP_MARKET'],
      ['/fapi/v1/algoOrder', 'TAKE_PROFIT_MARKET'],
    ]);
    const [stop, target] = s.fake.calls('/fapi/v1/algoOrder', 'POST').map((r) => r.params);
    // Priced from the fill at 60,000: stop 2 % under, target 4 % over, both closing the whole position.
    expect(stop).toMatchObject({ side: 'SELL', triggerPrice: '58800', closePosition: 'true' });
    expect(target).toMatchObject({ side: 'SELL', triggerPrice: '62400', closePosition: 'true' });
    expect(s.fake.positionAmount('BTCUSDT').toFixed()).toBe('0.5');

    const position = s.ctx.positions.findOpen('binance', 'BTCUSDT');
    if (!position) throw new Error('the entry opened no position in the journal');
    expect(position.quantity.toFixed()).toBe('0.5');
    // Nothing fired yet: the loop's OCO check leaves both legs alone.
    expect(await syncProtection(s.ctx, s.broker, position)).toBeUndefined();
    expect(s.fake.calls('/fapi/v1/algoOrder', 'DELETE')).toHaveLength(0);
    s.fake.setPrice('BTCUSDT', '62450');
    const closed = await syncProtection(s.ctx, s.broker, position);
    // Closed at the target's fill, 62,450: (62,450 − 60,000) × 0.5.
    expect(closed?.realizedPnl.toFixed()).toBe('1225');
    const cancel = s.fake.calls('/fapi/v1/algoOrder', 'DELETE');
    expect(cancel).toHaveLength(1);
    expect(cancel[0]?.params.clientAlgoId).toBe(stop?.clientAlgoId);
    expect(s.fake.openAlgoOrders()).toHaveLength(0);
    expect(s.fake.positionAmount('BTCUSDT').toFixed()).toBe('0');
  });
});

describe('margin preview before an entry', () => {
  it("refuses an entry whose initial margin would exceed the strategy's maxMarginPercent, saying how much; nothing is sent", async () => {
    // 0.5 BTC at 60,000 at 10x takes 3,000 of margin; 2 % of the fake's 100,000 wallet is 2,000.
    const s = await stack(CONFIG.replace('    stopLoss: { percent: 2 }', '    risk: { maxMarginPercent: 2 }\n    stopLoss: { percent: 2 }'));
    const outcome = await s.executor.execute(jobFor(s.config, { ticker: 'BINANCE:BTCUSDT.P', action: 'buy', sentiment: 'long', quantity: '0.5', price: '60000', id: 'bn-m1' }));
    expect(outcome).toEqual({ status: 'rejected', reason: 'risk:max_margin: the entry would take 3000 of margin at 10x leverage, above 2% of equity (2000)' });
    expect(s.fake.calls('/fapi/v1/order', 'POST')).toHaveLength(0);
    expect(s.fake.positionAmount('BTCUSDT').toFixed()).toBe('0');
  });

  it('lets an entry through within the limit', async () => {
    const s = await stack(CONFIG.replace('    stopLoss: { percent: 2 }', '    risk: { maxMarginPercent: 40 }\n    stopLoss: { percent: 2 }'));
    const outcome = await s.executor.execute(jobFor(s.config, { ticker: 'BINANCE:BTCUSDT.P', action: 'buy', sentiment: 'long', quantity: '0.5', price: '60000', id: 'bn-m2' }));
    expect(outcome).toEqual({ status: 'executed' });
    expect(s.fake.positionAmount('BTCUSDT').toFixed()).toBe('0.5');
  });
});

describe('trailing stops at Binance', () => {
  it('a trailing stop by amount is refused before the entry is sent (Binance trails by percent only); by percent it goes out', async () => {
    const s = await stack();
    const byAmount = await s.executor.execute(jobFor(s.config, {
      ticker: 'BINANCE:BTCUSDT.P', action: 'buy', sentiment: 'long', quantity: '0.5', price: '60000', id: 'bn-t1', stopLoss: { type: 'trailing_stop', trailAmount: '600' },
    }));
    expect(byAmount).toEqual({ status: 'rejected', reason: 'unsupported: binance trails a stop by a percentage only: give stopLoss.trailPercent instead of an amount' });
    expect(s.fake.calls('/fapi/v1/order', 'POST')).toHaveLength(0);

    const byPercent = await s.executor.execute(jobFor(s.config, {
      ticker: 'BINANCE:BTCUSDT.P', action: 'buy', sentiment: 'long', quantity: '0.5', price: '60000', id: 'bn-t2', stopLoss: { type: 'trailing_stop', trailPercent: '1' },
    }));
    expect(byPercent).toEqual({ status: 'executed' });
    expect(s.fake.calls('/fapi/v1/algoOrder', 'POST').map((r) => [r.params.type, r.params.callbackRate])).toContainEqual(['TRAILING_STOP_MARKET', '1']);
  });
});

describe('funding payments', () => {
  it('are booked once into the fees of the position that paid them, so the trade closes net of its funding', async () => {
    const s = await stack();
    await s.executor.execute(jobFor(s.config, { ticker: 'BINANCE:BTCUSDT.P', action: 'buy', sentiment: 'long', quantity: '0.5', price: '60000', id: 'bn-f1' }));
    const position = s.ctx.positions.findOpen('binance', 'BTCUSDT');
    if (!position) throw new Error('no position');
    // A positive rate: the long pays 0.5 × 60,000 × 0.0001 = 3 USDT.
    expect(s.fake.chargeFunding('BTCUSDT', '0.0001').toFixed()).toBe('-3');
    const funding = new FundingRepo(s.db, s.ctx.positions);
    expect(await bookFunding(s.ctx, funding)).toEqual([{ account: 'binance', booked: 1 }]);
    expect(await bookFunding(s.ctx, funding)).toEqual([{ account: 'binance', booked: 0 }]);
    expect(s.ctx.positions.findById(position.id)?.entryFees.minus(position.entryFees).toFixed()).toBe('3');
    expect(s.db.prepare('SELECT symbol, amount, asset, position_id FROM funding_payments').all())
      .toEqual([{ symbol: 'BTCUSDT', amount: '-3', asset: 'USDT', position_id: position.id }]);

    s.fake.setPrice('BTCUSDT', '62450');
    const fresh = s.ctx.positions.findById(position.id);
    if (!fresh) throw new Error('the position vanished');
    const closed = await syncProtection(s.ctx, s.broker, fresh);
    // (62,450 − 60,000) × 0.5 = 1,225, less the 3 of funding.
    expect([closed?.realizedPnl.toFixed(), closed?.fees.toFixed()]).toEqual(['1222', '3']);
  });
});

