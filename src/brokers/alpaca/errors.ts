// Alpaca's failed answers onto tradewire's error tree: the status first, then the 8-digit code and the message.
import type { ErrorMapper } from '../http.ts';
import {
  AuthenticationError, BrokerError, DuplicateClientOrderIdError, InsufficientFundsError, InvalidSymbolError, MarketClosedError,
  OrderNotFoundError, OrderRejectedError, PermissionDeniedError, RateLimitError,
} from '../../domain/errors.ts';

/**
 * Alpaca's codes are coarse (40310000 covers buying power, held shares and wash trades alike), so the
 * message decides within a code. Bodies per brokers.md §2.6.
 */
export function alpacaErrorMapper(now: () => Date): ErrorMapper {
  return (status, _body, headers, context): BrokerError | undefined => {
    const message = context.vendorMessage ?? '';
    const text = message.toLowerCase();
    const details = { broker: context.broker, code: context.code, vendorMessage: context.vendorMessage, requestId: context.requestId };
    const say = (what: string): string => `alpaca ${context.method} ${context.path}: ${what}${message ? ` (${message})` : ''}`;

    if (status === 401) return new AuthenticationError(say('the API key was refused'), details);
    if (status === 403) {
      if (text.includes('buying power')) return new InsufficientFundsError(say('insufficient buying power'), details);
      // Alpaca's own "forbidden" (the key may not do this) is the only 403 about the account rather than the order.
      if (isPermissionRefusal(text)) return new PermissionDeniedError(say('forbidden'), details);
      // Everything else Alpaca answers 403 to an order is a rule the order broke, in Alpaca's words: shares held by other
      // orders (a bracket's legs hold them), "cannot be sold short", wash-trade and day-trading protections.
      if (ORDER_PATH.test(context.path)) return new OrderRejectedError(say('order refused'), details);
      return new PermissionDeniedError(say('forbidden'), details);
    }
    if (status === 404) {
      if (context.path.startsWith('/v2/assets')) return new InvalidSymbolError(say('no such asset'), details);
      return new OrderNotFoundError(say('not found'), details);
    }
    if (status === 422 || status === 400) {
      if (text.includes('client_order_id must be unique')) return new DuplicateClientOrderIdError(say('the client order id was used before'), details);
      if (/asset .*(not found|not active|is not tradable)/.test(text) || text.includes('could not find asset')) return new InvalidSymbolError(say('unknown or inactive asset'), details);
      if (text.includes('market is closed') || text.includes('market hours')) return new MarketClosedError(say('the market is closed'), details);
      return new OrderRejectedError(say('order refused'), details);
    }
    if (status === 429) {
      // Alpaca sends X-RateLimit-Reset (unix seconds) rather than Retry-After.
      const reset = Number(headers.get('x-ratelimit-reset'));
      const fromReset = Number.isFinite(reset) && reset > 0 ? Math.max(0, reset * 1000 - now().getTime()) : undefined;
      return new RateLimitError(say('rate limited'), { ...details, retryAfterMs: context.retryAfterMs ?? fromReset });
    }
    return undefined;
  };
}

/** Order placement and replacement: where a 403 is the order's refusal. */
const ORDER_PATH = /^\/v2\/(orders|positions)(\/|$|\?)/;

/** Alpaca's authorization refusals ("forbidden", "request is not authorized"), or a 403 with no words at all. */
function isPermissionRefusal(text: string): boolean {
  const words = text.trim().replace(/[.!]+$/, '');
  return words === '' || words === 'forbidden' || words.includes('not authorized') || words.includes('unauthorized');
}
