// Alpaca's two spellings of a crypto pair: orders and assets say 'BTC/USD', positions say 'BTCUSD'; tradewire says 'BTCUSD'.

/** The quote currencies Alpaca's crypto pairs end in, longest first so 'USDT' wins over 'USD'. */
const CRYPTO_QUOTES = ['USDT', 'USDC', 'USD', 'BTC'] as const;

/**
 * tradewire's form of any Alpaca symbol: the slash dropped ('BTC/USD' → 'BTCUSD'), equities unchanged.
 * TradingView's tickers for crypto pairs are slashless, so alerts, the journal and positions all agree.
 */
export function toTradewireSymbol(symbol: string): string {
  return symbol.replace('/', '').toUpperCase();
}

/** Splits a slashless pair ('ETHUSDT') into base and quote; undefined when it ends in no known quote. */
export function splitPair(symbol: string): { base: string; quote: string } | undefined {
  const text = symbol.toUpperCase();
  if (text.includes('/')) {
    const [base, quote] = text.split('/');
    return base && quote ? { base, quote } : undefined;
  }
  const quote = CRYPTO_QUOTES.find((q) => text.endsWith(q) && text.length > q.length);
  return quote ? { base: text.slice(0, -quote.length), quote } : undefined;
}

/** The order form of a crypto pair ('BTCUSD' or 'BTC/USD' → 'BTC/USD'); an equity symbol stays as it is. */
export function toAlpacaSymbol(symbol: string, crypto: boolean): string {
  if (!crypto) return symbol.toUpperCase();
  const pair = splitPair(symbol);
  return pair ? `${pair.base}/${pair.quote}` : symbol.toUpperCase();
}
