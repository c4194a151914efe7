// Ticker → broker symbol: the strategy's map first, else the bare name; TradingView's perpetual suffix dropped.
import { describe, expect, it } from 'vitest';
import { resolveSymbol } from '../../src/intake/symbols.ts';

describe('resolveSymbol', () => {
  it('drops the exchange prefix of an unmapped ticker', () => {
    expect(resolveSymbol({}, 'NASDAQ:AAPL')).toBe('AAPL');
    expect(resolveSymbol({}, 'AAPL')).toBe('AAPL');
    expect(resolveSymbol({}, 'NYSE:BRK.B')).toBe('BRK.B');
  });

  it("drops TradingView's .P perpetual suffix, so BINANCE:BTCUSDT.P trades the exchange's BTCUSDT", () => {
    expect(resolveSymbol({}, 'BINANCE:BTCUSDT.P')).toBe('BTCUSDT');
    expect(resolveSymbol({}, 'ETHUSDT.P')).toBe('ETHUSDT');
    expect(resolveSymbol({}, '.P')).toBe('.P');
  });

  it('lets a map entry win, for the full ticker or the bare one', () => {
    expect(resolveSymbol({ 'BINANCE:BTCUSDT.P': 'BTCUSDC' }, 'BINANCE:BTCUSDT.P')).toBe('BTCUSDC');
    expect(resolveSymbol({ 'BTCUSDT.P': 'XBT' }, 'BYBIT:BTCUSDT.P')).toBe('XBT');
    expect(resolveSymbol({ AAPL: 'AAPL.US' }, 'NASDAQ:AAPL')).toBe('AAPL.US');
  });
});
