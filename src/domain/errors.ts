// The typed error tree for broker and execution failures; `retryable` tells the executor whether to try again.

export interface BrokerErrorDetails {
  broker: string;
  code?: string | number | undefined;
  vendorMessage?: string | undefined;
  requestId?: string | undefined;
  cause?: unknown;
}

export class BrokerError extends Error {
  readonly broker: string;
  readonly code: string | number | undefined;
  readonly vendorMessage: string | undefined;
  readonly requestId: string | undefined;
  readonly retryable: boolean = false;
  /**
   * The request may have reached the venue and been carried out even though no good answer came back (a timeout, a
   * connection dropped after sending, a 5xx, Binance's -1006/-1007). Never place again before looking the order up.
   */
  readonly outcomeUnknown: boolean = false;
  /** A short machine-readable kind, used as the recorded reason (`insufficient_funds`). */
  readonly kind: string = 'broker_error';

  constructor(message: string, details: BrokerErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.broker = details.broker;
    this.code = details.code;
    this.vendorMessage = details.vendorMessage;
    this.requestId = details.requestId;
  }
}

export class AuthenticationError extends BrokerError { override readonly kind: string = 'authentication'; }
export class PermissionDeniedError extends AuthenticationError { override readonly kind: string = 'permission_denied'; }

export class InvalidOrderError extends BrokerError { override readonly kind: string = 'invalid_order'; }
export class OrderRejectedError extends InvalidOrderError { override readonly kind: string = 'order_rejected'; }
export class InsufficientFundsError extends InvalidOrderError { override readonly kind: string = 'insufficient_funds'; }
export class InvalidSymbolError extends InvalidOrderError { override readonly kind: string = 'invalid_symbol'; }
export class MarketClosedError extends InvalidOrderError { override readonly kind: string = 'market_closed'; }
/** The broker has seen this client order id already: look the order up instead of placing again. */
export class DuplicateClientOrderIdError extends InvalidOrderError { override readonly kind: string = 'duplicate_client_order_id'; }
export class OrderNotFoundError extends InvalidOrderError { override readonly kind: string = 'order_not_found'; }

export class NotSupportedError extends BrokerError { override readonly kind: string = 'not_supported'; }

export class TransientError extends BrokerError {
  override readonly retryable: boolean = true;
  override readonly kind: string = 'transient';
}
/**
 * The connection failed. Unless it is known to have failed before the request went out (`sent: false`: refused,
 * no such host), the venue may have received and carried out the request.
 */
export class NetworkError extends TransientError {
  override readonly kind: string = 'network';
  override readonly outcomeUnknown: boolean;
  constructor(message: string, details: BrokerErrorDetails & { sent?: boolean | undefined }) {
    super(message, details);
    this.outcomeUnknown = details.sent !== false;
  }
}
/** The outcome is unknown: the order may or may not exist. Look it up by client id before retrying. */
export class TimeoutError extends TransientError {
  override readonly kind: string = 'timeout';
  override readonly outcomeUnknown: boolean = true;
}
export class RateLimitError extends TransientError {
  override readonly kind: string = 'rate_limited';
  readonly retryAfterMs: number | undefined;
  constructor(message: string, details: BrokerErrorDetails & { retryAfterMs?: number | undefined }) {
    super(message, details);
    this.retryAfterMs = details.retryAfterMs;
  }
}
/** A 5xx: the venue's own failure, which says nothing about whether the request was carried out (Binance says so outright). */
export class BrokerUnavailableError extends TransientError {
  override readonly kind: string = 'broker_unavailable';
  override readonly outcomeUnknown: boolean = true;
}

/**
 * A protective order was taken down to be re-placed (a stop moved at a venue that cannot amend it) and could not be
 * put back under its client id. Not retryable: the position manager halts the account and says so. The message names
 * whatever still rests in its place (a reduce-only stand-in), if anything.
 */
export class ProtectionLostError extends BrokerError { override readonly kind: string = 'protection_lost'; }

/** A programming or state error inside tradewire (an illegal order transition, say): never retryable. */
export class InvariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvariantError';
  }
}

export function isRetryable(error: unknown): boolean {
  return error instanceof BrokerError && error.retryable;
}

/**
 * True when the failed request may still have been carried out at the venue, so its outcome must be looked up (by
 * client id) before anything is sent again. False for answers that prove the request was refused: a 4xx with a code,
 * a 429 or 418 (the venue did not execute it), a connection refused before sending, a local rate-limit hold.
 */
export function mayHaveReachedVenue(error: unknown): boolean {
  return error instanceof BrokerError && error.outcomeUnknown;
}
