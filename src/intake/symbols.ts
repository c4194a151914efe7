// Ticker normalization: a TradingView ticker through the strategy's symbol map, else without its exchange prefix.

/** TradingView's suffix for a perpetual contract (`BINANCE:BTCUSDT.P`); no broker names a symbol with it. */
const PERPETUAL_SUFFIX = '.P';

/**
 * 'BINANCE:BTCUSDT.P' → the map's entry for it (or for 'BTCUSDT.P'); unmapped, 'NASDAQ:AAPL' → 'AAPL' and
 * 'BINANCE:BTCUSDT.P' → 'BTCUSDT', the contract's name at the exchange. A map entry always wins.
 */
export function resolveSymbol(symbols: Readonly<Record<string, string>>, ticker: string): string {
  const exact = symbols[ticker];
  if (exact !== undefined) return exact;
  const bare = ticker.includes(':') ? ticker.slice(ticker.indexOf(':') + 1) : ticker;
  const mapped = symbols[bare];
  if (mapped !== undefined) return mapped;
  return bare.length > PERPETUAL_SUFFIX.length && bare.endsWith(PERPETUAL_SUFFIX) ? bare.slice(0, -PERPETUAL_SUFFIX.length) : bare;
}
