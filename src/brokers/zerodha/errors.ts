// Kite's error envelope ({status:"error", message, error_type}) and RMS rejection texts mapped onto tradewire's one error tree.
import {
  AuthenticationError, BrokerError, BrokerUnavailableError, InsufficientFundsError, InvalidSymbolError, MarketClosedError, OrderNotFoundError,
  OrderRejectedError, PermissionDeniedError, RateLimitError, TimeoutError,
} from '../../domain/errors.ts';
import type { ErrorMapper } from '../http.ts';

export const BROKER = 'zerodha';

/**
 * What the user must do when the access token is refused. Kite tokens end at 6 AM IST every day (and when the
 * user logs out of Kite web); there is no refresh call for retail keys, only the login flow.
 */
export function tokenRefreshHelp(apiKey: string): string {
  return 'the Kite access token was refused (it expires at 6 AM IST every day, or on a logout from Kite). Refresh it: '
    + `log in at https://kite.zerodha.com/connect/login?v=3&api_key=${encodeURIComponent(apiKey)}, take the request_token from the redirect, `
    + 'exchange it with POST /session/token (api_key, request_token, checksum = SHA-256 of api_key + request_token + api_secret), '
    + 'put the new access_token in the environment variable your config names for accessToken, then restart tradewire '
    + '(a config reload keeps the running broker connections and their token).';
}

const MARKET_CLOSED = /markets? (are|is) closed|closed right now|outside (the )?market hours|after market/i;
const INSUFFICIENT = /insufficient (funds|holdings|margin)|margin exceeds|required margin/i;
const UNKNOWN_INSTRUMENT = /instrument|tradingsymbol|invalid (symbol|token)|segment (is )?not (enabled|allowed)/i;
const UNKNOWN_ORDER = /(couldn'?t|could not|can'?t) find|not found|invalid `?(order_id|trigger_id|trigger id|order id)`?|no such (order|trigger)/i;

/** A rejection text (an error message, or an order's RMS status_message) as the most precise error kind it names. */
export function rejectionError(message: string, details: { code?: string | number | undefined; requestId?: string | undefined }): BrokerError {
  const base = { broker: BROKER, code: details.code, vendorMessage: message, requestId: details.requestId };
  const text = `${BROKER}: ${message}`;
  if (MARKET_CLOSED.test(message)) return new MarketClosedError(text, base);
  if (INSUFFICIENT.test(message)) return new InsufficientFundsError(text, base);
  return new OrderRejectedError(text, base);
}

export function createKiteErrorMapper(apiKey: string): ErrorMapper {
  return (status, body, headers, context) => {
    const envelope = typeof body === 'object' && body !== null ? body as Record<string, unknown> : {};
    const type = typeof envelope.error_type === 'string' ? envelope.error_type : undefined;
    const message = typeof envelope.message === 'string' ? envelope.message : context.vendorMessage ?? `HTTP ${status}`;
    const details = { broker: BROKER, code: type ?? status, vendorMessage: message, requestId: context.requestId };
    const where = `${BROKER} ${context.method} ${context.path}`;
    // Kite sends no Retry-After; its limits are per second (quotes 1/s, orders 10/s), so a second is the wait it means.
    if (status === 429) return new RateLimitError(`${where}: too many requests (${message})`, { ...details, retryAfterMs: context.retryAfterMs ?? 1_000 });
    switch (type) {
      case 'TokenException':
        return new AuthenticationError(`${BROKER}: ${tokenRefreshHelp(apiKey)} (Kite said: ${message})`, details);
      case 'PermissionException':
        return new PermissionDeniedError(`${where}: not permitted for this API key or account (${message})`, details);
      case 'MarginException':
      case 'HoldingException':
        return new InsufficientFundsError(`${where}: ${message}`, details);
      case 'InputException':
      case 'OrderException':
        // An unknown order or trigger, asked for by id: the one answer that is not a refusal of what was sent.
        if (UNKNOWN_ORDER.test(message) && /\/(orders|gtt\/triggers)\/[^/]+/.test(context.path)) return new OrderNotFoundError(`${where}: ${message}`, details);
        if (MARKET_CLOSED.test(message)) return new MarketClosedError(`${where}: ${message}`, details);
        if (INSUFFICIENT.test(message)) return new InsufficientFundsError(`${where}: ${message}`, details);
        if (type === 'InputException' && UNKNOWN_INSTRUMENT.test(message)) return new InvalidSymbolError(`${where}: ${message}`, details);
        return new OrderRejectedError(`${where}: ${message}`, details);
      case 'NetworkException':
        // Kite could not reach the exchange (OMS): the order may or may not have gone; a 504 is a timeout.
        if (status === 504) return new TimeoutError(`${where}: ${message} (the outcome is unknown)`, details);
        return new BrokerUnavailableError(`${where}: ${message}`, details);
      case 'GeneralException':
      case 'DataException':
        if (status >= 500) return new BrokerUnavailableError(`${where}: ${message}`, details);
        if (status === 404) return new OrderNotFoundError(`${where}: ${message}`, details);
        return new OrderRejectedError(`${where}: ${message}`, details);
      default:
        // A 403 without an error_type is still the session Kite no longer accepts.
        if (status === 403) return new AuthenticationError(`${BROKER}: ${tokenRefreshHelp(apiKey)} (HTTP 403: ${message})`, details);
        void headers;
        return undefined;
    }
  };
}
