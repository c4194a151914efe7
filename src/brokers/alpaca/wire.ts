// Alpaca's wire formats as zod schemas: every answer validated, every price and quantity a Decimal from its text.
import { z } from 'zod';
import type { Decimal } from '../../domain/money.ts';
import { optionalWireDecimal as optionalDecimal, wireDecimal } from '../wire-decimal.ts';

// Strings in the trading API, JSON numbers in market data: both arrive exact (see wire-decimal.ts).
export { wireDecimal };
const time = z.string().transform((text, ctx) => {
  const at = new Date(text);
  if (Number.isNaN(at.getTime())) {
    ctx.addIssue({ code: 'custom', message: `not a timestamp: ${text}` });
    return z.NEVER;
  }
  return at;
});

export const accountSchema = z.object({
  id: z.string(),
  status: z.string(),
  currency: z.string(),
  cash: wireDecimal,
  equity: wireDecimal,
  buying_power: wireDecimal,
  non_marginable_buying_power: optionalDecimal,
  trading_blocked: z.boolean().optional(),
  account_blocked: z.boolean().optional(),
  shorting_enabled: z.boolean().optional(),
});
export type WireAccount = z.output<typeof accountSchema>;

export const clockSchema = z.object({
  timestamp: time,
  is_open: z.boolean(),
  next_open: time,
  next_close: time,
});
export type WireClock = z.output<typeof clockSchema>;

export const assetSchema = z.object({
  id: z.string(),
  class: z.string(),
  symbol: z.string(),
  status: z.string(),
  tradable: z.boolean(),
  shortable: z.boolean().optional(),
  fractionable: z.boolean().optional(),
  // Crypto only: the rules sizing needs.
  min_order_size: optionalDecimal,
  min_trade_increment: optionalDecimal,
  price_increment: optionalDecimal,
});
export type WireAsset = z.output<typeof assetSchema>;

interface WireOrderShape {
  id: string;
  client_order_id: string;
  symbol: string;
  asset_class?: string | undefined;
  created_at: Date;
  /** What `after`/`until` of GET /v2/orders filter on. */
  submitted_at?: Date | null | undefined;
  updated_at?: Date | null | undefined;
  qty?: Decimal | undefined;
  filled_qty: Decimal;
  filled_avg_price?: Decimal | undefined;
  order_class?: string | null | undefined;
  type: string;
  side: string;
  time_in_force: string;
  limit_price?: Decimal | undefined;
  stop_price?: Decimal | undefined;
  status: string;
  replaced_by?: string | null | undefined;
  replaces?: string | null | undefined;
  legs?: WireOrder[] | null | undefined;
}
export type WireOrder = WireOrderShape;

export const orderSchema: z.ZodType<WireOrder> = z.lazy(() => z.object({
  id: z.string(),
  client_order_id: z.string(),
  symbol: z.string(),
  asset_class: z.string().optional(),
  created_at: time,
  submitted_at: time.nullish(),
  updated_at: time.nullish(),
  qty: optionalDecimal,
  filled_qty: wireDecimal,
  filled_avg_price: optionalDecimal,
  order_class: z.string().nullish(),
  type: z.string(),
  side: z.string(),
  time_in_force: z.string(),
  limit_price: optionalDecimal,
  stop_price: optionalDecimal,
  status: z.string(),
  replaced_by: z.string().nullish(),
  replaces: z.string().nullish(),
  legs: z.array(orderSchema).nullish(),
}));
export const ordersSchema = z.array(orderSchema);

export const positionSchema = z.object({
  symbol: z.string(),
  asset_class: z.string().optional(),
  qty: wireDecimal,
  avg_entry_price: wireDecimal,
  side: z.enum(['long', 'short']),
  current_price: optionalDecimal,
  unrealized_pl: optionalDecimal,
});
export const positionsSchema = z.array(positionSchema);
export type WirePosition = z.output<typeof positionSchema>;

export const fillActivitySchema = z.object({
  id: z.string(),
  activity_type: z.literal('FILL'),
  transaction_time: time,
  price: wireDecimal,
  qty: wireDecimal,
  side: z.string(),
  symbol: z.string(),
  order_id: z.string(),
});
export const fillActivitiesSchema = z.array(fillActivitySchema);

const trade = z.object({ p: wireDecimal, t: time });
const quote = z.object({ ap: optionalDecimal, bp: optionalDecimal, t: time });
export const snapshotSchema = z.object({
  latestTrade: trade.nullish(),
  latestQuote: quote.nullish(),
});
export type WireSnapshot = z.output<typeof snapshotSchema>;
/** `GET /v2/stocks/snapshots`: keyed by symbol at the top. */
export const stockSnapshotsSchema = z.record(z.string(), snapshotSchema);
/** `GET /v1beta3/crypto/us/snapshots`: keyed by symbol under `snapshots`. */
export const cryptoSnapshotsSchema = z.object({ snapshots: z.record(z.string(), snapshotSchema) });

/** Alpaca's error body: an 8-digit code (absent on some 401s) and a message, with extra fields by case. */
export const errorBodySchema = z.object({ code: z.number().optional(), message: z.string().optional() }).loose();
