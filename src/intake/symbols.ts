// Ticker normalization: a TradingView ticker through the strategy's symbol map, else without its exchange prefix.

/** 'BINANCE:BTCUSDT.P' → the map's entry for it (or for 'BTCUSDT.P'); unmapped, 'NASDAQ:AAPL' → 'AAPL'. */
export function resolveSymbol(symbols: Readonly<Record<string, string>>, ticker: string): string {
  const exact = symbols[ticker];
  if (exact !== undefined) return exact;
  const bare = ticker.includes(':') ? ticker.slice(ticker.indexOf(':') + 1) : ticker;
  return symbols[bare] ?? bare;
}
