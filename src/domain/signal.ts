// A trading signal after intake: normalized, validated, every number a Decimal.
import type { Decimal } from './money.ts';
import type { OrderType, TimeInForce } from './order.ts';
import type { TargetLevelSpec } from './scale-out.ts';

/** `update` moves the stop or targets of the open position without trading (the way a Pine strategy.exit change arrives). */
export type SignalAction = 'buy' | 'sell' | 'exit' | 'cancel' | 'add' | 'update';
export type Sentiment = 'long' | 'short' | 'flat';
export type QuantityType =
  | 'fixed_quantity' | 'dollar_amount' | 'percent_of_equity' | 'risk_percent' | 'risk_dollar_amount' | 'percent_of_position';

export interface TakeProfitSpec {
  limitPrice?: Decimal | undefined;
  percent?: Decimal | undefined;
  amount?: Decimal | undefined;
}

export interface StopLossSpec {
  type?: 'stop' | 'stop_limit' | 'trailing_stop' | undefined;
  stopPrice?: Decimal | undefined;
  limitPrice?: Decimal | undefined;
  percent?: Decimal | undefined;
  amount?: Decimal | undefined;
  trailPercent?: Decimal | undefined;
  trailAmount?: Decimal | undefined;
}

export interface Signal {
  signalId: string;           // tradewire's own ULID, given at intake
  strategy: string;
  ticker: string;             // as TradingView sent it ('NASDAQ:AAPL')
  symbol: string;             // after the strategy's symbol map ('AAPL')
  action: SignalAction;
  sentiment?: Sentiment | undefined;
  quantity?: Decimal | undefined;
  quantityType?: QuantityType | undefined;
  price?: Decimal | undefined;
  orderType: OrderType;
  limitPrice?: Decimal | undefined;
  stopPrice?: Decimal | undefined;
  trailAmount?: Decimal | undefined;
  trailPercent?: Decimal | undefined;
  timeInForce?: TimeInForce | undefined;
  extendedHours?: boolean | undefined;
  /** One target, or a list of scale-out levels. */
  takeProfit?: TakeProfitSpec | readonly TargetLevelSpec[] | undefined;
  stopLoss?: StopLossSpec | undefined;
  id?: string | undefined;    // the user's idempotency key
  time?: Date | undefined;
  account?: string | undefined;
  extras?: Record<string, unknown> | undefined;
  receivedAt: Date;
}

/** Sentiment words TradingView and TradersPost use, mapped onto tradewire's three. */
export function normalizeSentiment(word: string): Sentiment | undefined {
  switch (word.toLowerCase()) {
    case 'long': case 'bullish': return 'long';
    case 'short': case 'bearish': return 'short';
    case 'flat': return 'flat';
    default: return undefined;
  }
}
