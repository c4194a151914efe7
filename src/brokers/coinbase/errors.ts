// Coinbase's failures onto tradewire's error tree: HTTP statuses, and the rejections that arrive as HTTP 200 with `success: false`.
import type { ErrorMapper } from '../http.ts';
import {
  AuthenticationError, BrokerError, DuplicateClientOrderIdError, InsufficientFundsError, InvalidSymbolError, MarketClosedError,
  OrderNotFoundError, OrderRejectedError, PermissionDeniedError,
} from '../../domain/errors.ts';
import type { WireErrorResponse } from './wire.ts';

const BROKER = 'coinbase';

/** HTTP failures (brokers.md §4.6). Anything not named here falls back to the shared mapping by status. */
export const coinbaseErrorMapper: ErrorMapper = (status, _body, _headers, context): BrokerError | undefined => {
  const details = { broker: context.broker, code: context.code, vendorMessage: context.vendorMessage, requestId: context.requestId };
  const say = (what: string): string => `coinbase ${context.method} ${context.path}: ${what}${context.vendorMessage ? ` (${context.vendorMessage})` : ''}`;
  if (status === 401) return new AuthenticationError(say('the CDP key or its JWT was refused (a wrong key name, a revoked key, or a clock more than 120 s off)'), details);
  if (status === 403) return new PermissionDeniedError(say('the CDP key lacks the permission (trade/view) or the portfolio is not allowed'), details);
  if (status === 404) {
    if (context.path.startsWith('/products')) return new InvalidSymbolError(say('no such product'), details);
    return new OrderNotFoundError(say('not found'), details);
  }
  return undefined;
};

/**
 * A create-order answer of HTTP 200 with `success: false`. Coinbase names the reason in `error_response.error`,
 * sometimes only in `preview_failure_reason` or `new_order_failure_reason`: each is read.
 */
export function rejectionError(response: WireErrorResponse | undefined, failureReason: string | undefined, what: string): BrokerError {
  const reasons = [response?.error, response?.preview_failure_reason, response?.new_order_failure_reason, failureReason]
    // 'UNKNOWN_FAILURE_REASON' is Coinbase's "no reason in this field", not a reason.
    .filter((r): r is string => typeof r === 'string' && r !== '' && !r.endsWith('FAILURE_REASON'));
  const code = reasons[0] ?? 'UNKNOWN_FAILURE_REASON';
  const vendorMessage = response?.message || response?.error_details || undefined;
  const details = { broker: BROKER, code, vendorMessage };
  const message = `coinbase: ${what} refused: ${code}${vendorMessage ? ` (${vendorMessage})` : ''}`;
  const has = (...needles: string[]): boolean => reasons.some((r) => needles.some((n) => r.includes(n)));
  if (has('INSUFFICIENT_FUND')) return new InsufficientFundsError(message, details);
  if (has('INVALID_PRODUCT_ID', 'UNKNOWN_PRODUCT', 'PRODUCT_NOT_FOUND')) return new InvalidSymbolError(message, details);
  if (has('ORDER_ENTRY_DISABLED', 'TRADING_DISABLED', 'CANCEL_ONLY', 'MARKET_CLOSED')) return new MarketClosedError(message, details);
  if (has('DUPLICATE_CLIENT_ORDER_ID', 'DUPLICATE_ORDER')) return new DuplicateClientOrderIdError(message, details);
  return new OrderRejectedError(message, details);
}
