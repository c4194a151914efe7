// Trade and funding history at Binance: paged by 7-day windows and by id, as the venue's limits require, so no fill is missed.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { BinanceUsdmBroker } from '../../../src/brokers/binance/binance-broker.ts';
import { BinanceClient } from '../../../src/brokers/binance/client.ts';
import { BrokerError } from '../../../src/domain/errors.ts';
import { Decimal } from '../../../src/domain/money.ts';
import { createLogger } from '../../../src/ops/logger.ts';
import { BinanceFake, FAKE_API_KEY, FAKE_API_SECRET, FAKE_BASE_URL } from '../../fakes/binance.ts';
import { useMswServer } from '../../helpers/msw.ts';

const server = useMswServer();
const DAY = 24 * 3600_000;
const d = (v: string): Decimal => new Decimal(v);

async function harness(): Promise<{ fake: BinanceFake; broker: BinanceUsdmBroker }> {
  const fake = new BinanceFake();
  server.use(...fake.handlers);
  const broker = new BinanceUsdmBroker({
    name: 'binance', environment: 'testnet', baseUrl: FAKE_BASE_URL, apiKey: FAKE_API_KEY, apiSecret: FAKE_API_SECRET, timeoutMs: 5_000,
    logger: createLogger({ level: 'silent' }),
  });
  await broker.connect();
  return { fake, broker };
}

/** A live 0.5 BTC buy, so the adapter knows the symbol (it asks for trades per symbol it has traded or holds). */
async function tradeNow(broker: BinanceUsdmBroker): Promise<void> {
  await broker.placeOrder({ clientOrderId: 'tw-live-1', symbol: 'BTCUSDT', side: 'buy', type: 'market', quantity: d('0.5') });
}

const spread = (from: number, to: number, count: number): number[] =>
  Array.from({ length: count }, (_, i) => Math.round(from + ((to - from) * i) / Math.max(1, count - 1)));

describe('the fake keeps Binance\'s limits on /fapi/v1/userTrades', () => {
  it('500 rows unless asked for more, at most 1,000; at most 7 days between startTime and endTime; fromId alone; 6 months back', async () => {
    const { fake, broker } = await harness();
    const now = Date.now();
    fake.recordHistory('BTCUSDT', 'tw-hist-a', spread(now - 2 * DAY, now - DAY, 1_200));
    await tradeNow(broker);
    const client = new BinanceClient({ broker: 'binance-usdm', baseUrl: FAKE_BASE_URL, apiKey: FAKE_API_KEY, apiSecret: FAKE_API_SECRET, logger: createLogger({ level: 'silent' }) });
    await client.syncTime();
    const ask = async (params: Record<string, string>): Promise<{ status: number; body: unknown }> =>
      client.signed({ method: 'GET', path: '/fapi/v1/userTrades', params: { symbol: 'BTCUSDT', ...params }, schema: z.unknown() })
        .then((body) => ({ status: 200, body }), (error: unknown) => ({ status: 400, body: error instanceof BrokerError ? error.code : String(error) }));
    const rows = (r: { body: unknown }): Array<{ id: number; time: number }> => r.body as Array<{ id: number; time: number }>;
    expect(rows(await ask({ startTime: String(now - 3 * DAY) }))).toHaveLength(500);
    expect(rows(await ask({ startTime: String(now - 3 * DAY), limit: '1000' }))).toHaveLength(1_000);
    expect((await ask({ startTime: String(now - 3 * DAY), limit: '1001' })).status).toBe(400);
    expect((await ask({ startTime: String(now - 9 * DAY), endTime: String(now) })).body).toBe(-1127);
    // A startTime alone covers 7 days from it: trades after them are not in the answer.
    expect(rows(await ask({ startTime: String(now - 10 * DAY), limit: '1000' }))).toHaveLength(0);
    const first = rows(await ask({ startTime: String(now - 3 * DAY), limit: '1000' }));
    const next = rows(await ask({ fromId: String((first.at(-1)?.id ?? 0) + 1), limit: '1000' }));
    expect(next).toHaveLength(201); // the 200 left of the history and the live trade
    expect((await ask({ fromId: '1', startTime: String(now - 3 * DAY) })).body).toBe(-1128);
    expect((await ask({ startTime: String(now - 200 * DAY) })).status).toBe(400);
  });
});

describe('fills() pages through the venue\'s limits', () => {
  it('1,200 fills within one day are all returned, each once', async () => {
    const { fake, broker } = await harness();
    const now = Date.now();
    fake.recordHistory('BTCUSDT', 'tw-hist-b', spread(now - 20 * 3600_000, now - 3600_000, 1_200));
    await tradeNow(broker);
    const fills = await broker.fills(new Date(now - DAY));
    expect(fills).toHaveLength(1_201);
    expect(new Set(fills.map((f) => f.id)).size).toBe(1_201);
    expect(fills.filter((f) => f.clientOrderId === 'tw-hist-b')).toHaveLength(1_200);
    expect(fake.calls('/fapi/v1/userTrades').every((r) => r.params.limit === '1000')).toBe(true);
  });

  it('fills spread over 10 days since `since` are all returned', async () => {
    const { fake, broker } = await harness();
    const now = Date.now();
    fake.recordHistory('BTCUSDT', 'tw-hist-c', spread(now - 10 * DAY + 3600_000, now - 3600_000, 10));
    await tradeNow(broker);
    const fills = await broker.fills(new Date(now - 10 * DAY));
    expect(fills.filter((f) => f.clientOrderId === 'tw-hist-c')).toHaveLength(10);
    expect(fills.filter((f) => f.clientOrderId === 'tw-live-1')).toHaveLength(1);
  });

  it('a since older than 6 months is clamped to what Binance keeps, not refused', async () => {
    const { fake, broker } = await harness();
    const now = Date.now();
    fake.recordHistory('BTCUSDT', 'tw-hist-d', [now - 170 * DAY, now - 100 * DAY, now - 2 * DAY]);
    await tradeNow(broker);
    const fills = await broker.fills(new Date(now - 400 * DAY));
    expect(fills.filter((f) => f.clientOrderId === 'tw-hist-d')).toHaveLength(3);
    expect(fills).toHaveLength(4);
  });

  it('without since: the last 7 days, as Binance answers', async () => {
    const { fake, broker } = await harness();
    const now = Date.now();
    fake.recordHistory('BTCUSDT', 'tw-hist-e', [now - 9 * DAY, now - 6 * DAY]);
    await tradeNow(broker);
    const fills = await broker.fills();
    expect(fills.map((f) => f.clientOrderId).sort()).toEqual(['tw-hist-e', 'tw-live-1']);
  });
});

describe('fundingPayments() pages too', () => {
  it('1,500 funding payments since the last booked one are all returned, oldest first, each once', async () => {
    const { fake, broker } = await harness();
    const now = Date.now();
    const times = spread(now - 80 * DAY, now - 3600_000, 1_500);
    fake.recordFunding('BTCUSDT', times, '-0.5');
    const payments = await broker.fundingPayments(new Date(now - 81 * DAY));
    expect(payments).toHaveLength(1_500);
    expect(new Set(payments.map((p) => p.id)).size).toBe(1_500);
    expect(payments.map((p) => p.time.getTime())).toEqual(times);
    expect(payments.every((p) => p.amount.eq(d('-0.5')))).toBe(true);
  });
});
