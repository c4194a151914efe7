// The gateway's failures onto tradewire's error tree: HTTP status first, then the words of its `{"error": "..."}` text.
import type { ErrorMapper } from '../http.ts';
import {
  AuthenticationError, BrokerError, DuplicateClientOrderIdError, InsufficientFundsError, InvalidSymbolError, OrderNotFoundError,
  OrderRejectedError, RateLimitError,
} from '../../domain/errors.ts';

export const BROKER = 'ibkr';

/** What the user must do when the gateway holds no brokerage session: only a person can log in (username, password, 2FA). */
export function loginHint(gatewayUrl: string): string {
  return `log in at the Client Portal gateway (open ${new URL(gatewayUrl).origin} in a browser on the gateway's machine), then try again`;
}

/**
 * The gateway answers refusals as `{"error": "..."}`, with HTTP 200 or 400 alike (brokers.md §5.5), so the text decides.
 * Wording per §5.7; IBKR publishes no code list for these.
 */
export function errorFromText(text: string, context: { path: string; code?: string | number | undefined; requestId?: string | undefined }): BrokerError {
  const lower = text.toLowerCase();
  const details = { broker: BROKER, code: context.code, vendorMessage: text, requestId: context.requestId };
  const say = (what: string): string => `ibkr ${context.path}: ${what} (${text})`;
  if (lower.includes('is already registered')) return new DuplicateClientOrderIdError(say('the client order id (cOID) was used before'), details);
  if (/insufficient|equity with loan|initial margin|buying power|available funds/.test(lower)) return new InsufficientFundsError(say('insufficient funds'), details);
  if (/no security definition|invalid conid|contract .*not found|no symbol found|unknown contract/.test(lower)) return new InvalidSymbolError(say('unknown contract'), details);
  if (lower.includes('order') && /not found|doesn't exist|does not exist|no such/.test(lower)) return new OrderNotFoundError(say('no such order'), details);
  if (/not authenticated|no session|please log in/.test(lower)) return new AuthenticationError(say('no brokerage session'), details);
  return new OrderRejectedError(say('refused'), details);
}

export function ibkrErrorMapper(gatewayUrl: string): ErrorMapper {
  return (status, _body, _headers, context): BrokerError | undefined => {
    const details = { broker: context.broker, code: context.code, vendorMessage: context.vendorMessage, requestId: context.requestId };
    // 401: the gateway runs but its session is gone (logged out, expired, taken by another login).
    if (status === 401) return new AuthenticationError(`ibkr ${context.path}: the gateway has no authenticated session: ${loginHint(gatewayUrl)}`, details);
    // The gateway's pacing: about 10 requests a second, and a 429 puts the caller in a penalty box for minutes.
    if (status === 429) return new RateLimitError(`ibkr ${context.path}: rate limited by the gateway`, { ...details, retryAfterMs: context.retryAfterMs ?? 60_000 });
    if ((status === 400 || status === 404) && context.vendorMessage) return errorFromText(context.vendorMessage, context);
    return undefined;
  };
}
