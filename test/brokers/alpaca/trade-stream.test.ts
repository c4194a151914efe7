// Alpaca's trade_updates stream against a local WebSocket server speaking Alpaca's messages (binary frames, as Alpaca sends them).
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AlpacaBroker } from '../../../src/brokers/alpaca/alpaca-broker.ts';
import type { OrderStream, StreamEvent } from '../../../src/brokers/order-stream.ts';
import { Decimal } from '../../../src/domain/money.ts';
import { createLogger } from '../../../src/ops/logger.ts';
import { AlpacaFake } from '../../fakes/alpaca.ts';
import { AlpacaStreamServer } from '../../fakes/venue-streams.ts';
import { until } from '../../helpers/env.ts';
import { useMswServer } from '../../helpers/msw.ts';

const keys = { keyId: 'PKTEST00000000000077', secretKey: 'alpaca-stream-secret-do-not-log-4b8a' };
const fake = new AlpacaFake(keys);
useMswServer(...fake.handlers);
const server = new AlpacaStreamServer(keys);
beforeAll(() => server.listen());
afterAll(() => server.close());

const logs: Array<Record<string, unknown>> = [];
const logger = createLogger({ level: 'debug', destination: { write: (line: string) => { logs.push(JSON.parse(line) as Record<string, unknown>); } } });

interface Running {
  broker: AlpacaBroker;
  stream: OrderStream;
  events: StreamEvent[];
  connects: number;
}
let running: Running | undefined;

function start(secretKey = keys.secretKey): Running {
  const broker = new AlpacaBroker({ name: 'alpaca', environment: 'paper', keyId: keys.keyId, secretKey, logger, streamUrl: server.url, timeoutMs: 2_000 });
  const stream = broker.orderStream({ logger, backoff: { initialMs: 20, maxMs: 200 } });
  if (!stream) throw new Error('no stream');
  const run: Running = { broker, stream, events: [], connects: 0 };
  stream.start({ onEvent: (e) => run.events.push(e), onConnected: () => { run.connects += 1; } });
  running = run;
  return run;
}

/** An order as Alpaca's REST API shows it (the same object trade_updates carries). */
async function wireOrder(id: string): Promise<unknown> {
  const response = await fetch(`${fake.baseUrl}/v2/orders/${id}`, { headers: { 'APCA-API-KEY-ID': keys.keyId, 'APCA-API-SECRET-KEY': keys.secretKey } });
  return response.json();
}

beforeEach(() => {
  fake.reset();
  fake.setPrice('AAPL', '100');
});
afterEach(async () => {
  await running?.stream.stop();
  running = undefined;
  logs.length = 0;
});

describe("Alpaca's trade_updates stream", () => {
  it('authenticates, listens to trade_updates, then reports fills under the client ids tradewire gave (a bracket leg too)', async () => {
    const run = start();
    await until('the subscription', () => (run.connects === 1 ? true : undefined));
    expect(server.received).toContainEqual({ action: 'auth', key: keys.keyId, secret: keys.secretKey });
    expect(server.received).toContainEqual({ action: 'listen', data: { streams: ['trade_updates'] } });

    const placed = await run.broker.placeBracket({
      entry: { clientOrderId: 'tw-entry-s1', symbol: 'AAPL', side: 'buy', type: 'market', quantity: new Decimal(5) },
      stopLoss: { type: 'stop', clientOrderId: 'tw-stop-s1', stopPrice: new Decimal('95') },
      takeProfit: { type: 'limit', clientOrderId: 'tw-target-s1', limitPrice: new Decimal('110') },
    });
    fake.setPrice('AAPL', '94');
    const stopId = placed.stopLoss?.id as string;
    expect(fake.order(stopId)?.status).toBe('filled');
    expect(server.tradeUpdate('fill', await wireOrder(stopId), { price: '94', qty: '5', position_qty: '0' })).toBe(1);

    const event = await until('the fill event', () => run.events[0]);
    expect(event).toMatchObject({ kind: 'order', clientOrderId: 'tw-stop-s1', orderId: stopId, symbol: 'AAPL', status: 'filled', event: 'fill' });
    expect(event.kind === 'order' && event.filledQuantity.toFixed()).toBe('5');
    expect(JSON.stringify(logs)).not.toContain(keys.secretKey);
  });

  it('reads partial fills, cancels and rejections with their cumulative quantity', async () => {
    const run = start();
    await until('the subscription', () => (run.connects === 1 ? true : undefined));
    const placed = await run.broker.placeOrder({ clientOrderId: 'tw-limit-s2', symbol: 'AAPL', side: 'buy', type: 'limit', quantity: new Decimal(10), limitPrice: new Decimal('90'), timeInForce: 'gtc' });
    fake.fillPart(placed.id, '4');
    server.tradeUpdate('partial_fill', await wireOrder(placed.id));
    await run.broker.cancelOrder({ clientOrderId: 'tw-limit-s2', symbol: 'AAPL' });
    server.tradeUpdate('canceled', await wireOrder(placed.id));
    await until('two events', () => (run.events.length === 2 ? true : undefined));
    expect(run.events.map((e) => e.kind === 'order' && [e.event, e.status, e.filledQuantity.toFixed()])).toEqual([
      ['partial_fill', 'partially_filled', '4'], ['canceled', 'cancelled', '4'],
    ]);
  });

  it('a refused key is retried with backoff and never reported as connected; the secret is never logged', async () => {
    const run = start('the-wrong-secret-0b1c');
    await until('three refused attempts', () => (logs.filter((l) => l.event === 'stream.reconnecting').length >= 3 ? true : undefined));
    expect(run.connects).toBe(0);
    expect(server.listeners).toBe(0);
    expect(logs.some((l) => l.event === 'stream.dropping' && String(l.reason).includes('unauthorized'))).toBe(true);
    expect(JSON.stringify(logs)).not.toContain('the-wrong-secret-0b1c');
  });

  it('a dropped connection is opened again with backoff, authenticated and subscribed again, and the caller told to resync', async () => {
    const run = start();
    await until('the subscription', () => (run.connects === 1 ? true : undefined));
    const auths = () => server.received.filter((m) => (m as { action?: string }).action === 'auth').length;
    const before = auths();
    server.dropAll();
    await until('the second subscription', () => (run.connects === 2 ? true : undefined));
    expect(auths()).toBe(before + 1);
    expect(server.listeners).toBe(1);
    const wait = logs.find((l) => l.event === 'stream.reconnecting')?.waitMs as number;
    expect(wait).toBeGreaterThanOrEqual(2);
    expect(wait).toBeLessThanOrEqual(20);
  });

  it('logs and ignores messages it cannot read, and keeps reading', async () => {
    const run = start();
    await until('the subscription', () => (run.connects === 1 ? true : undefined));
    const placed = await run.broker.placeOrder({ clientOrderId: 'tw-mkt-s5', symbol: 'AAPL', side: 'buy', type: 'market', quantity: new Decimal(1) });
    server.raw('\u0000\u0001 not json');
    server.raw(JSON.stringify({ stream: 'trade_updates', data: { event: 'fill', order: { id: 'x' } } }));
    server.raw(JSON.stringify({ stream: 'trade_updates', data: { event: 'fill', order: { ...(await wireOrder(placed.id) as object), status: 'teleported' } } }));
    server.tradeUpdate('fill', await wireOrder(placed.id));
    await until('the good event', () => run.events[0]);
    expect(run.events).toHaveLength(1);
    expect(run.events[0]).toMatchObject({ clientOrderId: 'tw-mkt-s5', status: 'filled' });
    expect(logs.filter((l) => l.event === 'stream.message_invalid')).toHaveLength(3);
    expect(run.connects).toBe(1);
  });
});
