// startOrderStreams: which accounts get a stream, and which of its events ask the position manager for a pass.
import { describe, expect, it } from 'vitest';
import type { Broker } from '../../src/brokers/broker.ts';
import type { OrderStream, OrderStreamHandlers, StreamEvent } from '../../src/brokers/order-stream.ts';
import type { BrokerRegistry } from '../../src/brokers/registry.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { Decimal, ZERO } from '../../src/domain/money.ts';
import type { OrderStatus } from '../../src/domain/order.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { startOrderStreams, worthAPass } from '../../src/portfolio/order-streams.ts';

const CONFIG = `
accounts:
  paper: { broker: paper }
  stocks: { broker: alpaca, environment: paper, keyId: k, secretKey: s, streams: false }
  futures: { broker: binance-usdm, environment: testnet, apiKey: k, apiSecret: s }
strategies:
  default:
    account: paper
`;

const order = (status: OrderStatus, filled = ZERO): StreamEvent =>
  ({ kind: 'order', clientOrderId: 'tw-1', orderId: '1', symbol: 'BTCUSDT', status, filledQuantity: filled, event: 'x', at: new Date() });

describe('order streams wiring', () => {
  it('starts a stream only where the broker has one and the account does not switch it off; events and connects ask for a pass', async () => {
    const { config } = parseConfigText(CONFIG, 'test.yaml', {});
    const started: string[] = [];
    let handlers: OrderStreamHandlers | undefined;
    let stopped = 0;
    const streaming = (name: string): Broker => ({
      name, orderStream: (): OrderStream => ({
        start: (h) => { started.push(name); handlers = h; },
        stop: async () => { stopped += 1; },
      }),
    }) as unknown as Broker;
    const brokers: Record<string, Broker> = { paper: { name: 'paper' } as unknown as Broker, stocks: streaming('stocks'), futures: streaming('futures') };
    const registry: BrokerRegistry = { get: (a) => brokers[a] as Broker, accounts: () => Object.keys(brokers), disconnectAll: async () => undefined };
    const asked: Array<[string, string | undefined]> = [];
    const streams = startOrderStreams(registry, { onOrderUpdate: async (account, id) => { asked.push([account, id]); } }, config, createLogger({ level: 'silent' }));

    expect(streams.accounts).toEqual(['futures']);
    expect(started).toEqual(['futures']);
    handlers?.onConnected();
    handlers?.onEvent(order('accepted'));
    handlers?.onEvent(order('filled', new Decimal('0.2')));
    handlers?.onEvent({ kind: 'position', symbol: 'BTCUSDT', quantity: ZERO, reason: 'FUNDING_FEE', at: new Date() });
    expect(asked).toEqual([['futures', undefined], ['futures', 'tw-1']]);
    await streams.stop();
    expect(stopped).toBe(1);
  });

  it('a pass for fills, cancels, expiries, rejections and position changes; none for an order merely accepted or held', () => {
    expect((['filled', 'partially_filled', 'cancelled', 'expired', 'rejected', 'replaced', 'unknown'] as const).map((s) => worthAPass(order(s)))).toEqual(Array(7).fill(true));
    expect((['accepted', 'held', 'submitted', 'pending_cancel'] as const).map((s) => worthAPass(order(s)))).toEqual(Array(4).fill(false));
    expect(worthAPass(order('accepted', new Decimal('1')))).toBe(true);
    expect(worthAPass({ kind: 'position', symbol: 'X', quantity: ZERO, reason: 'ADL', at: new Date() })).toBe(true);
  });
});
