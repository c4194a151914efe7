// Binance USD-M error codes onto tradewire's error tree, and the gate that stops calls while a rate limit or ban lasts.
import {
  AuthenticationError, BrokerError, BrokerUnavailableError, DuplicateClientOrderIdError, InsufficientFundsError, InvalidSymbolError,
  MarketClosedError, OrderNotFoundError, OrderRejectedError, RateLimitError, TimeoutError, TransientError,
} from '../../domain/errors.ts';
import type { BrokerErrorDetails } from '../../domain/errors.ts';
import type { ErrorMapper } from '../http.ts';

/** -1021: our timestamp is outside the recvWindow. Retryable once the clock has been synced again. */
export class ClockSkewError extends TransientError {
  override readonly kind: string = 'clock_skew';
}

export const CODES = {
  unknown: -1000,
  disconnected: -1001,
  /** "An unexpected response was received from the message bus. Execution status unknown." */
  unexpectedResponse: -1006,
  /** The backend did not answer in time: the order's outcome is unknown. */
  backendTimeout: -1007,
  tooManyRequests: -1003,
  tooManyOrders: -1015,
  timestamp: -1021,
  badSignature: -1022,
  badSymbol: -1121,
  badSymbolStatus: -1122,
  newOrderRejected: -2010,
  cancelRejected: -2011,
  noSuchOrder: -2013,
  badApiKeyFormat: -2014,
  rejectedApiKey: -2015,
  balanceInsufficient: -2018,
  marginInsufficient: -2019,
  wouldTrigger: -2021,
  reduceOnlyRejected: -2022,
  badClientId: -4015,
  noNeedToChangeMarginType: -4046,
  marginTypePinnedByOrders: -4047,
  marginTypePinnedByPosition: -4048,
  noNeedToChangePositionSide: -4059,
  positionSidePinned: -4068,
  duplicateClientId: -4116,
  algoEndpointRequired: -4120,
  closePositionExists: -4130,
  symbolNotOpen: -4140,
} as const;

const AUTH = new Set<number>([CODES.badSignature, CODES.badApiKeyFormat, CODES.rejectedApiKey]);
const FUNDS = new Set<number>([CODES.balanceInsufficient, CODES.marginInsufficient]);
const SYMBOL = new Set<number>([CODES.badSymbol, CODES.badSymbolStatus]);
const NOT_FOUND = new Set<number>([CODES.cancelRejected, CODES.noSuchOrder]);
const RATE = new Set<number>([CODES.tooManyRequests, CODES.tooManyOrders]);

/** What the operator is told for codes whose bare message says too little. */
const EXPLAINED: Partial<Record<number, string>> = {
  [CODES.wouldTrigger]: 'the trigger price is already on the wrong side of the market (the order would trigger immediately)',
  [CODES.closePositionExists]: 'a closePosition stop or take-profit already rests in this direction (Binance allows one of each)',
  [CODES.algoEndpointRequired]: 'conditional order types go to the algo order endpoint (/fapi/v1/algoOrder) since December 2025',
  [CODES.badClientId]: 'the client order id is not valid at Binance ([.A-Z:/a-z0-9_-]{1,36})',
  [CODES.positionSidePinned]: 'the position mode cannot change while positions or open orders exist: close them, or set positionMode to the mode the account is in',
};

/** How long a 418 ban is assumed to last when the answer carries no Retry-After: Binance's shortest ban is 2 minutes. */
export const DEFAULT_BAN_MS = 120_000;
/** A 429 without Retry-After: wait a little before the next call rather than hammering on. */
export const DEFAULT_BACKOFF_MS = 1_000;

/**
 * Remembers until when Binance must not be called. After a 429, the next calls wait out Retry-After; after a
 * 418 (an IP ban for ignoring 429s) every call is refused locally until the ban ends, because each further
 * request during a ban lengthens it (2 minutes up to 3 days).
 */
export class RateGate {
  private until = 0;
  private reason = '';

  constructor(private readonly now: () => number, private readonly broker: string) {}

  hold(forMs: number, reason: string): void {
    const until = this.now() + forMs;
    if (until > this.until) {
      this.until = until;
      this.reason = reason;
    }
  }

  /** Throws a RateLimitError, without a request being sent, while a hold lasts. */
  check(): void {
    const left = this.until - this.now();
    if (left > 0) {
      throw new RateLimitError(`${this.broker}: not calling Binance for another ${Math.ceil(left / 1000)} s (${this.reason})`, {
        broker: this.broker, retryAfterMs: left,
      });
    }
  }

  get blockedForMs(): number {
    return Math.max(0, this.until - this.now());
  }
}

/** The mapper the HTTP core calls on every failed answer; rate-limit answers also set the gate. */
export function binanceErrorMapper(gate: RateGate): ErrorMapper {
  return (status, _body, _headers, context) => {
    const code = typeof context.code === 'number' ? context.code : Number(context.code);
    const explained = EXPLAINED[code];
    const vendor = context.vendorMessage ?? '';
    const message = `${context.broker} ${context.method} ${context.path} answered ${status}` +
      `${Number.isFinite(code) ? ` (${code})` : ''}${vendor ? `: ${vendor}` : ''}${explained ? ` — ${explained}` : ''}`;
    const details: BrokerErrorDetails = { broker: context.broker, code: context.code, vendorMessage: context.vendorMessage, requestId: context.requestId };

    if (status === 418) {
      const retryAfterMs = context.retryAfterMs ?? DEFAULT_BAN_MS;
      gate.hold(retryAfterMs, 'the IP is banned (418) for ignoring rate limits');
      return new RateLimitError(message, { ...details, retryAfterMs });
    }
    if (status === 429 || RATE.has(code)) {
      const retryAfterMs = context.retryAfterMs ?? DEFAULT_BACKOFF_MS;
      gate.hold(retryAfterMs, 'rate limited (429)');
      return new RateLimitError(message, { ...details, retryAfterMs });
    }
    if (code === CODES.timestamp) return new ClockSkewError(message, details);
    if (AUTH.has(code)) return new AuthenticationError(message, details);
    if (FUNDS.has(code)) return new InsufficientFundsError(message, details);
    if (SYMBOL.has(code)) return new InvalidSymbolError(message, details);
    if (code === CODES.symbolNotOpen) return new MarketClosedError(message, details);
    if (NOT_FOUND.has(code)) return new OrderNotFoundError(message, details);
    if (code === CODES.duplicateClientId) return new DuplicateClientOrderIdError(message, details);
    // Binance says both outright: "execution status unknown". Whatever the HTTP status, look before sending again.
    if (code === CODES.backendTimeout || code === CODES.unexpectedResponse) return new TimeoutError(message, details);
    // "It is important to NOT treat this as a failure operation; the execution status is UNKNOWN": an unknown outcome.
    if (status >= 500) return new BrokerUnavailableError(message, details);
    if (status === 401 || status === 403) return new AuthenticationError(message, details);
    if (status === 400 && Number.isFinite(code)) return new OrderRejectedError(message, details);
    return undefined;
  };
}

export function hasCode(error: unknown, code: number): boolean {
  return error instanceof BrokerError && Number(error.code) === code;
}
