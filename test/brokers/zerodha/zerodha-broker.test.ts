// The Zerodha adapter's own behaviour at the Kite fake: the wire it sends, lots, GTT legs joined into one OCO, token expiry, margins.
import { beforeEach, describe, expect, it } from 'vitest';
import { parseKiteTime } from '../../../src/brokers/zerodha/client.ts';
import { createKiteErrorMapper } from '../../../src/brokers/zerodha/errors.ts';
import { ZerodhaBroker, type ZerodhaBrokerOptions } from '../../../src/brokers/zerodha/zerodha-broker.ts';
import {
  AuthenticationError, BrokerUnavailableError, InsufficientFundsError, InvalidOrderError, OrderNotFoundError, OrderRejectedError, PermissionDeniedError,
  TimeoutError,
} from '../../../src/domain/errors.ts';
import { clientOrderId } from '../../../src/domain/ids.ts';
import { Decimal } from '../../../src/domain/money.ts';
import type { OrderRequest } from '../../../src/domain/order.ts';
import { createLogger } from '../../../src/ops/logger.ts';
import { KITE_FAKE_ACCESS_TOKEN, KITE_FAKE_API_KEY, KITE_FAKE_URL, KiteFake } from '../../fakes/zerodha.ts';
import { useMswServer } from '../../helpers/msw.ts';

const fake = new KiteFake({ cash: '1000000', holdings: { 'NSE:SBIN': { quantity: '10', averagePrice: '750' } } });
useMswServer(...fake.handlers);

const build = (options: Partial<ZerodhaBrokerOptions> = {}): ZerodhaBroker => new ZerodhaBroker({
  name: 'kite', apiKey: KITE_FAKE_API_KEY, accessToken: KITE_FAKE_ACCESS_TOKEN, baseUrl: KITE_FAKE_URL, timeoutMs: 500,
  logger: createLogger({ level: 'silent' }), ...options,
});

const d = (value: string): Decimal => new Decimal(value);
const KITE = { maxLength: 20, alphabet: 'A-Za-z0-9' };
let broker: ZerodhaBroker;
let seq = 0;
const cid = (label: string): string => { seq += 1; return `tw${label}${seq}${Date.now().toString(36)}`.slice(0, 20); };

const buyInfy = (extra: Partial<OrderRequest> = {}): OrderRequest =>
  ({ clientOrderId: cid('en'), symbol: 'INFY', side: 'buy', type: 'market', quantity: d('4'), leg: 'entry', ...extra });
const exit = (leg: 'stop' | 'target', extra: Partial<OrderRequest>): OrderRequest =>
  ({ clientOrderId: cid(leg === 'stop' ? 'sl' : 'tp'), symbol: 'INFY', side: 'sell', type: leg === 'stop' ? 'stop' : 'limit', quantity: d('4'), leg, reduceOnly: true, timeInForce: 'gtc', ...extra });

beforeEach(async () => {
  fake.reset();
  fake.setPrice('NSE:INFY', '1500');
  broker = build();
  await broker.connect();
});

describe('orders on the wire', () => {
  it('a market entry is one form-encoded POST with the token header, the product, market_protection and the tag', async () => {
    const request = buyInfy();
    const order = await broker.placeOrder(request);
    expect(order.status).toBe('filled');
    const [post] = fake.calls('/orders/regular', 'POST');
    expect(post?.authenticated).toBe(true);
    expect(post?.form).toEqual({
      tradingsymbol: 'INFY', exchange: 'NSE', transaction_type: 'BUY', order_type: 'MARKET', quantity: '4', product: 'CNC', validity: 'DAY',
      market_protection: '-1', tag: request.clientOrderId,
    });
    expect(request.clientOrderId).toMatch(/^[A-Za-z0-9]{1,20}$/);
  });

  it('a stop-market is SL-M with its trigger and market protection; a stop-limit is SL with price and trigger', async () => {
    await broker.placeOrder(buyInfy({ type: 'stop', stopPrice: d('1550') }));
    await broker.placeOrder(buyInfy({ type: 'stop_limit', stopPrice: d('1550'), limitPrice: d('1555.5') }));
    const [slm, sl] = fake.calls('/orders/regular', 'POST').map((r) => r.form);
    expect(slm).toMatchObject({ order_type: 'SL-M', trigger_price: '1550', market_protection: '-1' });
    expect(slm?.price).toBeUndefined();
    expect(sl).toMatchObject({ order_type: 'SL', trigger_price: '1550', price: '1555.5' });
    expect(sl?.market_protection).toBeUndefined();
  });

  it('market protection is configurable, and 0 (which Kite refuses) is refused at construction', async () => {
    const capped = build({ marketProtection: 3 });
    await capped.connect();
    await capped.placeOrder(buyInfy());
    expect(fake.calls('/orders/regular', 'POST').at(-1)?.form.market_protection).toBe('3');
    expect(() => build({ marketProtection: 0 })).toThrow(RangeError);
  });

  it('a futures quantity that is not a whole number of lots is refused before anything is sent', async () => {
    const fno = build({ exchange: 'NFO', product: 'NRML' });
    await fno.connect();
    fake.setPrice('NFO:NIFTY26DECFUT', '5000');
    const instrument = await fno.instrument('NIFTY26DECFUT');
    expect([instrument.lotSize?.toFixed(), instrument.stepSize.toFixed(), instrument.minQuantity.toFixed()]).toEqual(['75', '75', '75']);
    const error = await fno.placeOrder({ clientOrderId: cid('en'), symbol: 'NIFTY26DECFUT', side: 'buy', type: 'market', quantity: d('100') }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidOrderError);
    expect((error as Error).message).toContain('lot size 75');
    expect(fake.calls('/orders/regular', 'POST')).toHaveLength(0);
    await fno.placeOrder({ clientOrderId: cid('en'), symbol: 'NIFTY26DECFUT', side: 'sell', type: 'market', quantity: d('150') });
    expect(fake.positionQuantity('NFO:NIFTY26DECFUT', 'NRML').toFixed()).toBe('-150');
    expect((await fno.positions()).find((p) => p.symbol === 'NIFTY26DECFUT')).toMatchObject({ side: 'short' });
  });

  it('symbols on another exchange are written EXCHANGE:TRADINGSYMBOL and reported that way', async () => {
    fake.setPrice('BSE:INFY', '1490');
    const order = await broker.placeOrder(buyInfy({ symbol: 'BSE:INFY' }));
    expect(order.symbol).toBe('BSE:INFY');
    expect(fake.calls('/orders/regular', 'POST')[0]?.form).toMatchObject({ exchange: 'BSE', tradingsymbol: 'INFY' });
    expect((await broker.quotes(['BSE:INFY', 'INFY'])).get('BSE:INFY')?.last.toFixed()).toBe('1490');
  });

  it('a CNC sell of shares not held is rejected by Kite after it takes the order, and arrives as InsufficientFunds with the RMS text', async () => {
    const error = await broker.placeOrder(buyInfy({ side: 'sell' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InsufficientFundsError);
    expect((error as InsufficientFundsError).vendorMessage).toMatch(/Insufficient holdings/);
  });

  it('positions in CNC include delivery holdings from earlier days', async () => {
    fake.setPrice('NSE:SBIN', '800');
    await broker.placeOrder({ clientOrderId: cid('en'), symbol: 'SBIN', side: 'buy', type: 'market', quantity: d('5') });
    const sbin = (await broker.positions()).find((p) => p.symbol === 'SBIN');
    expect(sbin?.quantity.toFixed()).toBe('15');
    // (10 × 750 + 5 × 800) / 15
    expect(sbin?.averagePrice.toFixed(4)).toBe('766.6667');
  });
});

describe('protection as a GTT', () => {
  it('the stop rests as a single GTT; the target joins it as a two-leg GTT (OCO at Kite) with ascending triggers', async () => {
    await broker.placeOrder(buyInfy());
    const stop = await broker.placeOrder(exit('stop', { stopPrice: d('1450') }));
    expect(fake.calls('/gtt/triggers', 'POST')).toHaveLength(1);
    const posted = fake.calls('/gtt/triggers', 'POST')[0]?.form;
    expect(posted?.type).toBe('single');
    expect(JSON.parse(posted?.condition ?? '{}')).toEqual({ exchange: 'NSE', tradingsymbol: 'INFY', trigger_values: [1450], last_price: 1500 });
    // A GTT leg is a LIMIT order: the stop's limit sits 2 % below its trigger, on the tick.
    expect(JSON.parse(posted?.orders ?? '[]')).toEqual([{ exchange: 'NSE', tradingsymbol: 'INFY', transaction_type: 'SELL', quantity: 4, order_type: 'LIMIT', product: 'CNC', price: 1421 }]);

    const target = await broker.placeOrder(exit('target', { limitPrice: d('1600') }));
    expect(fake.calls(/^\/gtt\/triggers\/\d+$/, 'PUT')).toHaveLength(1);
    expect(fake.activeGtts()).toEqual([{ id: expect.any(Number) as number, type: 'two-leg', triggers: ['1450', '1600'], prices: ['1421', '1600'] }]);
    expect([stop.status, target.status]).toEqual(['accepted', 'accepted']);
    const open = await broker.openOrders('INFY');
    expect(open.map((o) => [o.clientOrderId, o.type, o.stopPrice?.toFixed(), o.limitPrice?.toFixed()])).toEqual(expect.arrayContaining([
      [stop.clientOrderId, 'stop', '1450', undefined], [target.clientOrderId, 'limit', undefined, '1600'],
    ]));
  });

  it('when the stop fires Kite drops the target; the fill is the stop\'s, found again by a restarted adapter', async () => {
    await broker.placeOrder(buyInfy());
    const stop = await broker.placeOrder(exit('stop', { stopPrice: d('1450') }));
    const target = await broker.placeOrder(exit('target', { limitPrice: d('1600') }));
    fake.setPrice('NSE:INFY', '1440');
    const restarted = build();
    const [afterStop, afterTarget] = [await restarted.getOrder({ orderId: stop.id }), await restarted.getOrder({ orderId: target.id })];
    expect(afterStop).toMatchObject({ status: 'filled', side: 'sell', stopPrice: d('1450') });
    expect(afterStop?.averageFillPrice?.toFixed()).toBe('1440');
    expect(afterTarget?.status).toBe('cancelled');
    const fills = (await broker.fills()).filter((f) => f.side === 'sell');
    expect(fills.map((f) => [f.orderId, f.clientOrderId, f.quantity.toFixed(), f.price.toFixed()])).toEqual([[stop.id, stop.clientOrderId, '4', '1440']]);
    expect(fake.positionQuantity('INFY').toFixed()).toBe('0');
    expect(await broker.openOrders('INFY')).toEqual([]);
  });

  it('cancelling one leg keeps the other as a single GTT; cancelling the last deletes the GTT', async () => {
    await broker.placeOrder(buyInfy());
    const stop = await broker.placeOrder(exit('stop', { stopPrice: d('1450') }));
    const target = await broker.placeOrder(exit('target', { limitPrice: d('1600') }));
    await broker.cancelOrder({ clientOrderId: stop.clientOrderId });
    expect(fake.activeGtts()).toEqual([{ id: expect.any(Number) as number, type: 'single', triggers: ['1600'], prices: ['1600'] }]);
    expect((await broker.getOrder({ clientOrderId: stop.clientOrderId }))?.status).toBe('cancelled');
    expect((await broker.getOrder({ clientOrderId: target.clientOrderId }))?.status).toBe('accepted');
    await broker.cancelOrder({ clientOrderId: target.clientOrderId });
    expect(fake.calls(/^\/gtt\/triggers\/\d+$/, 'DELETE')).toHaveLength(1);
    expect(fake.activeGtts()).toEqual([]);
    expect((await broker.getOrder({ clientOrderId: target.clientOrderId }))?.status).toBe('cancelled');
    // Cancelling again is harmless; the price crossing the old levels sells nothing.
    await broker.cancelOrder({ clientOrderId: target.clientOrderId });
    fake.setPrice('NSE:INFY', '1610');
    expect(fake.positionQuantity('INFY').toFixed()).toBe('4');
  });

  it('a stop moved by modifyOrder moves the GTT trigger and its limit; the target stays', async () => {
    await broker.placeOrder(buyInfy());
    const stop = await broker.placeOrder(exit('stop', { stopPrice: d('1450') }));
    await broker.placeOrder(exit('target', { limitPrice: d('1600') }));
    const moved = await broker.modifyOrder({ clientOrderId: stop.clientOrderId }, { stopPrice: d('1480') });
    expect(moved.stopPrice?.toFixed()).toBe('1480');
    expect(fake.activeGtts()).toEqual([{ id: expect.any(Number) as number, type: 'two-leg', triggers: ['1480', '1600'], prices: ['1450.4', '1600'] }]);
  });

  it('a GTT whose answer was lost is found by what was sent (it has no tag), never placed twice', async () => {
    await broker.placeOrder(buyInfy());
    const request = exit('stop', { stopPrice: d('1450') });
    fake.failNext({ status: 0, kind: 'lost', path: '/gtt/triggers' });
    await expect(broker.placeOrder(request)).rejects.toBeInstanceOf(TimeoutError);
    expect(fake.activeGtts()).toHaveLength(1);
    const found = await broker.getOrder({ clientOrderId: request.clientOrderId });
    expect(found).toMatchObject({ clientOrderId: request.clientOrderId, status: 'accepted', stopPrice: d('1450') });
    const again = await broker.placeOrder(request);
    expect(again.id).toBe(found?.id);
    expect(fake.calls('/gtt/triggers', 'POST')).toHaveLength(1);
    expect(fake.activeGtts()).toHaveLength(1);
  });

  it('after a restart, the legs are found by their client ids (tradewire\'s stop and target ids name their leg), so an exit can still cancel them', async () => {
    await broker.placeOrder(buyInfy());
    const ids = { stop: clientOrderId({ source: 'sig1', account: 'kite', leg: 'stop' }, KITE), target: clientOrderId({ source: 'sig1', account: 'kite', leg: 'target' }, KITE) };
    await broker.placeOrder(exit('stop', { clientOrderId: ids.stop, stopPrice: d('1450') }));
    const target = await broker.placeOrder(exit('target', { clientOrderId: ids.target, limitPrice: d('1600') }));
    const restarted = build();
    await restarted.connect();
    expect(await restarted.getOrder({ clientOrderId: ids.target, symbol: 'INFY' })).toMatchObject({ id: target.id, clientOrderId: ids.target, status: 'accepted' });
    await restarted.cancelOrder({ clientOrderId: ids.stop, symbol: 'INFY' });
    expect(fake.activeGtts()).toEqual([{ id: expect.any(Number) as number, type: 'single', triggers: ['1600'], prices: ['1600'] }]);
    await restarted.cancelOrder({ clientOrderId: ids.target, symbol: 'INFY' });
    expect(fake.activeGtts()).toEqual([]);
    // Without the symbol, or for an id that names no leg, nothing is guessed.
    await expect(build().cancelOrder({ clientOrderId: ids.stop })).rejects.toBeInstanceOf(OrderNotFoundError);
  });

  it('a stop already through the last price is refused and nothing is placed', async () => {
    await broker.placeOrder(buyInfy());
    await expect(broker.placeOrder(exit('stop', { stopPrice: d('1510') }))).rejects.toBeInstanceOf(OrderRejectedError);
    expect(fake.calls('/gtt/triggers', 'POST')).toHaveLength(0);
  });

  it('no bracket orders: placeBracket says so', async () => {
    await expect(broker.placeBracket({ entry: buyInfy() })).rejects.toThrow(/no bracket orders/);
  });
});

describe('the daily token and other errors', () => {
  it('an expired access token is an AuthenticationError that says how to refresh it', async () => {
    fake.expireToken();
    const error = await broker.account().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthenticationError);
    expect((error as AuthenticationError).retryable).toBe(false);
    const message = (error as Error).message;
    expect(message).toContain(`https://kite.zerodha.com/connect/login?v=3&api_key=${KITE_FAKE_API_KEY}`);
    expect(message).toContain('POST /session/token');
    expect(message).toMatch(/environment variable/);
    expect(message).toContain('then restart tradewire');
    expect(message).not.toContain(KITE_FAKE_ACCESS_TOKEN);
  });

  it('a wrong token stops connect', async () => {
    await expect(build({ accessToken: 'not-the-token' }).connect()).rejects.toBeInstanceOf(AuthenticationError);
  });

  it('maps the rest of Kite\'s error types', () => {
    const map = createKiteErrorMapper('k');
    const ctx = (path: string) => ({ broker: 'zerodha', method: 'GET' as const, path, requestId: undefined, retryAfterMs: undefined, code: undefined, vendorMessage: undefined });
    const body = (error_type: string, message: string) => ({ status: 'error', message, data: null, error_type });
    const headers = new Headers();
    expect(map(403, body('PermissionException', 'No permission'), headers, ctx('/orders'))).toBeInstanceOf(PermissionDeniedError);
    expect(map(400, body('HoldingException', 'Insufficient holdings'), headers, ctx('/orders/regular'))).toBeInstanceOf(InsufficientFundsError);
    expect(map(502, body('NetworkException', 'Upstream error'), headers, ctx('/orders/regular'))).toBeInstanceOf(BrokerUnavailableError);
    expect(map(504, body('NetworkException', 'Gateway timed out'), headers, ctx('/orders/regular'))).toBeInstanceOf(TimeoutError);
    expect(map(500, body('GeneralException', 'Something went wrong'), headers, ctx('/user/margins'))).toBeInstanceOf(BrokerUnavailableError);
    expect(map(400, body('InputException', "Couldn't find that `order_id`."), headers, ctx('/orders/123'))).toBeInstanceOf(OrderNotFoundError);
  });

  it('Kite\'s zone-less timestamps are Indian time', () => {
    expect(parseKiteTime('2026-12-04 10:15:02')?.toISOString()).toBe('2026-12-04T04:45:02.000Z');
    expect(parseKiteTime(null)).toBeUndefined();
  });
});

describe('margins', () => {
  it('previews an order\'s margin through POST /margins/orders (JSON) against the free margin', async () => {
    const mis = build({ product: 'MIS' });
    await mis.connect();
    const impact = await mis.marginImpact({ clientOrderId: cid('en'), symbol: 'INFY', side: 'buy', type: 'limit', quantity: d('10'), limitPrice: d('1500') });
    expect(fake.calls('/margins/orders', 'POST')[0]?.json).toEqual([{
      exchange: 'NSE', tradingsymbol: 'INFY', transaction_type: 'BUY', variety: 'regular', product: 'MIS', order_type: 'LIMIT', quantity: 10, price: 1500, trigger_price: 0,
    }]);
    // The fake's MIS leverage is 5: 15,000 / 5.
    expect([impact.initialMargin.toFixed(), impact.leverage.toFixed(), impact.availableMargin.toFixed()]).toEqual(['3000', '5', '1000000']);
  });

  it('account: INR, buying power is the free margin and falls with a delivery buy', async () => {
    const before = await broker.account();
    await broker.placeOrder(buyInfy());
    const after = await broker.account();
    expect(before.currency).toBe('INR');
    expect(before.buyingPower.minus(after.buyingPower).toFixed()).toBe('6000');
  });
});
