// Request → wire placement (endpoints, closePosition, position sides), instrument filters and the margin arithmetic.
import { describe, expect, it } from 'vitest';
import { instrumentFrom } from '../../../src/brokers/binance/instruments.ts';
import { marginImpact, bracketFor } from '../../../src/brokers/binance/margin.ts';
import { fromWireAlgo } from '../../../src/brokers/binance/mapping.ts';
import { algoReplacement, placementFor } from '../../../src/brokers/binance/requests.ts';
import { algoOrderSchema, exchangeSymbolSchema } from '../../../src/brokers/binance/wire.ts';
import { InvalidOrderError, NotSupportedError } from '../../../src/domain/errors.ts';
import { Decimal } from '../../../src/domain/money.ts';
import type { OrderRequest } from '../../../src/domain/order.ts';

const d = (v: string): Decimal => new Decimal(v);
const base: OrderRequest = { clientOrderId: 'tw-abc', symbol: 'BTCUSDT', side: 'buy', type: 'market', quantity: d('0.010') };
const oneWay = { broker: 'binance-usdm', hedge: false, workingType: 'MARK_PRICE' as const };
const hedge = { ...oneWay, hedge: true };

describe('placementFor', () => {
  it('sends a market entry to /fapi/v1/order with the full result asked for', () => {
    const p = placementFor(base, oneWay);
    expect(p.endpoint).toBe('order');
    expect(p.params).toMatchObject({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.01', positionSide: 'BOTH', newClientOrderId: 'tw-abc', newOrderRespType: 'RESULT' });
    expect(p.params.reduceOnly).toBeUndefined();
  });

  it('sends a stop leg to the algo endpoint as STOP_MARKET closePosition on the mark, without quantity or reduceOnly', () => {
    const p = placementFor({ ...base, side: 'sell', type: 'stop', stopPrice: d('58000'), reduceOnly: true, leg: 'stop' }, oneWay);
    expect(p).toMatchObject({ endpoint: 'algo', closePosition: true });
    expect(p.params).toMatchObject({ algoType: 'CONDITIONAL', type: 'STOP_MARKET', side: 'SELL', triggerPrice: '58000', closePosition: 'true', workingType: 'MARK_PRICE', clientAlgoId: 'tw-abc' });
    expect(p.params.quantity).toBeUndefined();
    expect(p.params.reduceOnly).toBeUndefined();
  });

  it('sends a limit target leg as TAKE_PROFIT_MARKET closePosition triggered at the target', () => {
    const p = placementFor({ ...base, side: 'sell', type: 'limit', limitPrice: d('64000'), reduceOnly: true, leg: 'target' }, oneWay);
    expect(p.params).toMatchObject({ type: 'TAKE_PROFIT_MARKET', triggerPrice: '64000', closePosition: 'true' });
  });

  it('an entry stop and a stop-limit are algo orders with their quantity; a reducing exit limit stays a plain reduce-only order', () => {
    expect(placementFor({ ...base, type: 'stop', stopPrice: d('61000') }, oneWay).params).toMatchObject({ type: 'STOP_MARKET', quantity: '0.01', triggerPrice: '61000' });
    expect(placementFor({ ...base, type: 'stop_limit', stopPrice: d('61000'), limitPrice: d('61100') }, oneWay).params)
      .toMatchObject({ type: 'STOP', triggerPrice: '61000', price: '61100', timeInForce: 'GTC', quantity: '0.01' });
    const exit = placementFor({ ...base, side: 'sell', type: 'limit', limitPrice: d('62000'), reduceOnly: true, leg: 'exit' }, oneWay);
    expect(exit.endpoint).toBe('order');
    expect(exit.params).toMatchObject({ type: 'LIMIT', reduceOnly: 'true', price: '62000', timeInForce: 'GTC' });
  });

  it('hedge mode: opening orders go to their own side, reducing ones to the side they close, never with reduceOnly', () => {
    expect(placementFor(base, hedge).params).toMatchObject({ positionSide: 'LONG' });
    expect(placementFor({ ...base, side: 'sell' }, hedge).params).toMatchObject({ positionSide: 'SHORT' });
    const closeLong = placementFor({ ...base, side: 'sell', reduceOnly: true, leg: 'exit' }, hedge);
    expect(closeLong.params).toMatchObject({ positionSide: 'LONG' });
    expect(closeLong.params.reduceOnly).toBeUndefined();
    expect(placementFor({ ...base, side: 'buy', type: 'stop', stopPrice: d('3'), reduceOnly: true, leg: 'stop' }, hedge).params).toMatchObject({ positionSide: 'SHORT' });
  });

  it('refuses client ids outside [.A-Z:/a-z0-9_-]{1,36}, day orders and trailing stops by amount or beyond 10 % before anything is sent', () => {
    expect(() => placementFor({ ...base, clientOrderId: 'has space' }, oneWay)).toThrow(InvalidOrderError);
    expect(() => placementFor({ ...base, clientOrderId: 'x'.repeat(37) }, oneWay)).toThrow(InvalidOrderError);
    expect(() => placementFor({ ...base, clientOrderId: 'tw:A/b.c_d-9' }, oneWay)).not.toThrow();
    expect(() => placementFor({ ...base, type: 'limit', limitPrice: d('1'), timeInForce: 'day' }, oneWay)).toThrow(NotSupportedError);
    expect(() => placementFor({ ...base, type: 'trailing_stop', trailAmount: d('100') }, oneWay)).toThrow(NotSupportedError);
    expect(() => placementFor({ ...base, type: 'trailing_stop', trailPercent: d('12') }, oneWay)).toThrow(InvalidOrderError);
    expect(placementFor({ ...base, type: 'trailing_stop', trailPercent: d('0.5') }, oneWay).params).toMatchObject({ type: 'TRAILING_STOP_MARKET', callbackRate: '0.5' });
  });
});

describe('instrumentFrom', () => {
  it('takes the tick, the stricter lot rules of LOT_SIZE and MARKET_LOT_SIZE, and MIN_NOTIONAL', () => {
    const wire = exchangeSymbolSchema.parse({
      symbol: 'BTCUSDT', status: 'TRADING', baseAsset: 'BTC', quoteAsset: 'USDT', marginAsset: 'USDT',
      filters: [
        { filterType: 'PRICE_FILTER', minPrice: '556.80', maxPrice: '4529764', tickSize: '0.10' },
        { filterType: 'LOT_SIZE', stepSize: '0.001', maxQty: '1000', minQty: '0.001' },
        { filterType: 'MARKET_LOT_SIZE', stepSize: '0.001', maxQty: '120', minQty: '0.002' },
        { filterType: 'MIN_NOTIONAL', notional: '100' },
      ],
    });
    const instrument = instrumentFrom(wire);
    expect(instrument.tickSize.toFixed()).toBe('0.1');
    expect(instrument.stepSize.toFixed()).toBe('0.001');
    expect(instrument.minQuantity.toFixed()).toBe('0.002');
    expect(instrument.maxQuantity?.toFixed()).toBe('120');
    expect(instrument.minNotional.toFixed()).toBe('100');
    expect(instrument.fractionable).toBe(true);
    expect(instrument.quoteCurrency).toBe('USDT');
  });
});

describe('fromWireAlgo', () => {
  it('reads the reference algo answer: a closePosition stop, its trigger exact, the placed size supplied by the caller', () => {
    const wire = algoOrderSchema.parse({
      algoId: 2146760, clientAlgoId: 'bot-7f3a-sl', algoType: 'CONDITIONAL', orderType: 'STOP_MARKET', symbol: 'BTCUSDT', side: 'SELL', positionSide: 'BOTH',
      timeInForce: 'GTC', quantity: '0', algoStatus: 'NEW', actualOrderId: '', actualPrice: '0.00000', actualQty: '0', triggerPrice: '58000.00', price: '0.00',
      icebergQuantity: 'null', closePosition: true, priceProtect: true, reduceOnly: false, activatePrice: '', createTime: 1767225600150, updateTime: 1767225600150, triggerTime: 0,
    });
    const order = fromWireAlgo(wire, { quantity: d('0.010') });
    expect(order).toMatchObject({ id: 'algo-2146760', clientOrderId: 'bot-7f3a-sl', type: 'stop', status: 'accepted', side: 'sell' });
    expect(order.stopPrice?.toFixed()).toBe('58000');
    expect(order.quantity.toFixed()).toBe('0.01');
  });
});

describe('marginImpact', () => {
  const brackets = [
    { initialLeverage: d('125'), notionalFloor: d('0'), notionalCap: d('50000') },
    { initialLeverage: d('100'), notionalFloor: d('50000'), notionalCap: d('600000') },
    { initialLeverage: d('50'), notionalFloor: d('600000'), notionalCap: d('3000000') },
  ];
  const input = { quantity: d('0.5'), price: d('60000'), leverage: d('20'), sameSideQuantity: d('0'), opposingQuantity: d('0'), brackets, availableMargin: d('1000'), reduceOnly: false };

  it('0.5 at 60,000 and 20x: 30,000 notional in the 125x bracket, so 20x holds: 1,500 margin', () => {
    const impact = marginImpact(input);
    expect(impact.initialMargin.toFixed()).toBe('1500');
    expect(impact.leverage.toFixed()).toBe('20');
    expect(impact.availableMargin.toFixed()).toBe('1000');
  });

  it('at 125x, 1 BTC (60,000 notional) falls in the 100x bracket: 600 margin', () => {
    const impact = marginImpact({ ...input, quantity: d('1'), leverage: d('125') });
    expect(impact.leverage.toFixed()).toBe('100');
    expect(impact.initialMargin.toFixed()).toBe('600');
  });

  it('the bracket is chosen by the resulting position: 0.5 held plus 0.5 bought is 60,000', () => {
    expect(marginImpact({ ...input, leverage: d('125'), sameSideQuantity: d('0.5') }).initialMargin.toFixed()).toBe('300');
  });

  it('one-way: a sell of 0.8 against a 0.5 long opens 0.3 (900 at 20x); reduce-only takes none', () => {
    expect(marginImpact({ ...input, quantity: d('0.8'), opposingQuantity: d('0.5') }).initialMargin.toFixed()).toBe('900');
    expect(marginImpact({ ...input, reduceOnly: true }).initialMargin.toFixed()).toBe('0');
  });

  it('beyond the last cap the last bracket applies', () => {
    expect(bracketFor(brackets, d('5000000'))?.initialLeverage.toFixed()).toBe('50');
  });
});

describe('algoReplacement', () => {
  const wire = (fields: Record<string, unknown>) => algoOrderSchema.parse({
    algoId: 7, clientAlgoId: 'tw-leg', algoType: 'CONDITIONAL', symbol: 'BTCUSDT', side: 'SELL', positionSide: 'LONG', timeInForce: 'GTC', algoStatus: 'NEW',
    workingType: 'MARK_PRICE', createTime: 1, updateTime: 1, ...fields,
  });

  it('a take-profit-market target moves its trigger to the new limit and keeps closePosition, side and client id', () => {
    const { original, replacement } = algoReplacement(wire({ orderType: 'TAKE_PROFIT_MARKET', quantity: '0', triggerPrice: '64000.00', price: '0.00', closePosition: true }), { limitPrice: d('64500') }, 'MARK_PRICE');
    expect(replacement).toMatchObject({ type: 'TAKE_PROFIT_MARKET', triggerPrice: '64500', closePosition: 'true', positionSide: 'LONG', clientAlgoId: 'tw-leg', priceProtect: 'TRUE' });
    expect(replacement.quantity).toBeUndefined();
    expect(original).toMatchObject({ triggerPrice: '64000' });
  });

  it('a stop-limit moves its trigger and limit, and keeps its quantity and reduce-only', () => {
    const { replacement } = algoReplacement(wire({ orderType: 'STOP', quantity: '0.010', triggerPrice: '58000', price: '57900', reduceOnly: true, closePosition: false }),
      { stopPrice: d('59000'), limitPrice: d('58900') }, 'MARK_PRICE');
    expect(replacement).toMatchObject({ type: 'STOP', triggerPrice: '59000', price: '58900', quantity: '0.01', reduceOnly: 'true', timeInForce: 'GTC' });
    expect(replacement.closePosition).toBeUndefined();
  });
});
