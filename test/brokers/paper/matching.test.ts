// The paper broker's matching and bookkeeping rules, exercised as pure functions.
import { describe, expect, it } from 'vitest';
import { Decimal } from '../../../src/domain/money.ts';
import { feeFor, marketFillPrice, matchOrder, reservationPrice } from '../../../src/brokers/paper/matching.ts';
import type { MatchConfig, MatchableOrder } from '../../../src/brokers/paper/matching.ts';
import { applyFill, FLAT, freeCash, openingQuantity } from '../../../src/brokers/paper/accounting.ts';

const d = (text: string): Decimal => new Decimal(text);
const config: MatchConfig = { slippagePercent: d('0.05'), tickSize: d('0.01') };
const noSlip: MatchConfig = { slippagePercent: d('0'), tickSize: d('0.01') };
const order = (o: Partial<MatchableOrder> & Pick<MatchableOrder, 'side' | 'type'>): MatchableOrder => ({ triggered: false, ...o });

describe('market fills', () => {
  it('a buy pays the last price plus slippage, rounded up to the tick', () => {
    expect(marketFillPrice('buy', d('100.00'), config).toString()).toBe('100.05');
    // 123.45 × 0.05 % = 0.061725 → 123.511725, up to 123.52
    expect(marketFillPrice('buy', d('123.45'), config).toString()).toBe('123.52');
  });

  it('a sell receives the last price minus slippage, rounded down to the tick', () => {
    expect(marketFillPrice('sell', d('100.00'), config).toString()).toBe('99.95');
    expect(marketFillPrice('sell', d('123.45'), config).toString()).toBe('123.38');
  });
});

describe('limit orders', () => {
  it('a buy limit rests above the limit and fills at the limit when the price touches it', () => {
    const buy = order({ side: 'buy', type: 'limit', limitPrice: d('99.50') });
    expect(matchOrder(buy, d('99.51'), config).fillPrice).toBeUndefined();
    expect(matchOrder(buy, d('99.50'), config).fillPrice?.toString()).toBe('99.5');
  });

  it('a buy limit fills at the better price when the market gaps through it', () => {
    const buy = order({ side: 'buy', type: 'limit', limitPrice: d('99.50') });
    expect(matchOrder(buy, d('98.00'), config).fillPrice?.toString()).toBe('98');
  });

  it('a sell limit fills at or above its limit, at the gap price when better', () => {
    const sell = order({ side: 'sell', type: 'limit', limitPrice: d('105') });
    expect(matchOrder(sell, d('104.99'), config).fillPrice).toBeUndefined();
    expect(matchOrder(sell, d('107.25'), config).fillPrice?.toString()).toBe('107.25');
  });
});

describe('stop orders', () => {
  it('a sell stop triggers on the way down and fills at the stop minus slippage', () => {
    const stop = order({ side: 'sell', type: 'stop', stopPrice: d('95') });
    expect(matchOrder(stop, d('95.01'), config).fillPrice).toBeUndefined();
    expect(matchOrder(stop, d('95'), config).fillPrice?.toString()).toBe('94.95');
  });

  it('a sell stop gapped through fills at the gap price, not the stop', () => {
    const stop = order({ side: 'sell', type: 'stop', stopPrice: d('95') });
    expect(matchOrder(stop, d('90'), noSlip).fillPrice?.toString()).toBe('90');
  });

  it('a buy stop triggers on the way up and fills at the higher of stop and last plus slippage', () => {
    const stop = order({ side: 'buy', type: 'stop', stopPrice: d('105') });
    expect(matchOrder(stop, d('104.99'), config).fillPrice).toBeUndefined();
    expect(matchOrder(stop, d('110'), config).fillPrice?.toString()).toBe('110.06');
  });

  it('a stop_limit becomes a limit once triggered and stays one', () => {
    const sl = order({ side: 'buy', type: 'stop_limit', stopPrice: d('105'), limitPrice: d('106') });
    const gapped = matchOrder(sl, d('107'), config);
    expect(gapped.triggered).toBe(true);
    expect(gapped.fillPrice).toBeUndefined();
    const later = matchOrder({ ...sl, triggered: gapped.triggered }, d('104'), config);
    expect(later.fillPrice?.toString()).toBe('104');
  });
});

describe('trailing stops', () => {
  it('a sell trailing stop follows the high and fires when the price falls the trail from it', () => {
    let state = order({ side: 'sell', type: 'trailing_stop', trailAmount: d('2'), waterMark: d('100') });
    for (const price of ['101', '104', '103']) {
      const out = matchOrder(state, d(price), noSlip);
      expect(out.fillPrice).toBeUndefined();
      state = { ...state, waterMark: out.waterMark, stopPrice: out.stopPrice };
    }
    expect(state.waterMark?.toString()).toBe('104');
    expect(state.stopPrice?.toString()).toBe('102');
    expect(matchOrder(state, d('101.5'), noSlip).fillPrice?.toString()).toBe('101.5');
  });

  it('a buy trailing stop by percent follows the low', () => {
    const state = order({ side: 'buy', type: 'trailing_stop', trailPercent: d('1'), waterMark: d('100') });
    const out = matchOrder(state, d('90'), noSlip);
    expect(out.waterMark?.toString()).toBe('90');
    expect(out.stopPrice?.toString()).toBe('90.9');
    expect(matchOrder({ ...state, ...out }, d('91'), noSlip).fillPrice?.toString()).toBe('91');
  });
});

describe('fees and funds', () => {
  it('fees are rate × notional plus the per-order fee, half-up to the cent', () => {
    expect(feeFor(d('1000.50'), d('0.001'), d('0')).toFixed(2)).toBe('1.00');
    expect(feeFor(d('1005'), d('0.001'), d('0')).toString()).toBe('1.01');
    expect(feeFor(d('1000'), d('0'), d('0.35')).toString()).toBe('0.35');
  });

  it('a buy reserves its limit; a sell reserves at the higher of its limit and the last price', () => {
    expect(reservationPrice(order({ side: 'buy', type: 'limit', limitPrice: d('99') }), d('100'), config)?.toString()).toBe('99');
    expect(reservationPrice(order({ side: 'sell', type: 'limit', limitPrice: d('99') }), d('100'), config)?.toString()).toBe('100');
  });

  it('only the part of an order that adds exposure needs funds', () => {
    expect(openingQuantity(d('10'), 'sell', d('15')).toString()).toBe('5');
    expect(openingQuantity(d('10'), 'sell', d('4')).toString()).toBe('0');
    expect(openingQuantity(d('-3'), 'sell', d('4')).toString()).toBe('4');
  });

  it('a short holds its liability at the mark and its collateral at the entry out of free cash', () => {
    const free = freeCash(d('101000'), [{ quantity: d('-10'), averagePrice: d('100'), mark: d('110') }], d('500'));
    expect(free.toString()).toBe('98400');
  });
});

describe('position bookkeeping', () => {
  it('adds at a weighted average and realizes P&L on the part that closes', () => {
    const first = applyFill(FLAT, 'buy', d('10'), d('100'), d('0'));
    const second = applyFill(first.position, 'buy', d('10'), d('110'), d('0'));
    expect(second.position.averagePrice.toString()).toBe('105');
    const closing = applyFill(second.position, 'sell', d('5'), d('120'), d('1'));
    expect(closing.realizedPnl.toString()).toBe('75');
    expect(closing.cashDelta.toString()).toBe('599');
    expect(closing.position.quantity.toString()).toBe('15');
  });

  it('a sell through zero closes the long and opens a short at the fill price', () => {
    const long = applyFill(FLAT, 'buy', d('10'), d('100'), d('0')).position;
    const flip = applyFill(long, 'sell', d('15'), d('90'), d('0'));
    expect(flip.realizedPnl.toString()).toBe('-100');
    expect(flip.position.quantity.toString()).toBe('-5');
    expect(flip.position.averagePrice.toString()).toBe('90');
  });
});
