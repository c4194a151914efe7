// Symbols: tradewire says 'BTCUSD' (TradingView's COINBASE:BTCUSD without its prefix); Coinbase's product id is 'BTC-USD'.
import { InvalidSymbolError } from '../../domain/errors.ts';

// Longest first, so 'ETHUSDC' is ETH-USDC and not a currency 'ETHUSD' over 'C'.
const QUOTES = ['USDC', 'USDT', 'EURC', 'PYUSD', 'USD', 'EUR', 'GBP', 'BTC', 'ETH', 'DAI', 'SOL'];

/** 'BTCUSD', 'BTC-USD', 'btc/usd' → 'BTC-USD'. A compact form is split at a known quote currency. */
export function toProductId(symbol: string): string {
  const upper = symbol.trim().toUpperCase();
  const separated = /^([A-Z0-9]+)[-/_]([A-Z0-9]+)$/.exec(upper);
  if (separated) return `${separated[1]}-${separated[2]}`;
  for (const quote of QUOTES) {
    if (upper.length > quote.length && upper.endsWith(quote)) return `${upper.slice(0, -quote.length)}-${quote}`;
  }
  throw new InvalidSymbolError(`coinbase: cannot tell the base and quote currencies of '${symbol}': write it as BASE-QUOTE (BTC-USD)`, { broker: 'coinbase' });
}

/** 'BTC-USD' → 'BTCUSD': what tradewire journals and what every answer of the adapter says. */
export function fromProductId(productId: string): string {
  return productId.replace('-', '').toUpperCase();
}

/** The base and quote currencies of a product id. */
export function currenciesOf(productId: string): { base: string; quote: string } {
  const [base = productId, quote = ''] = productId.split('-');
  return { base, quote };
}
