// The Client Portal Web API's answers as zod schemas: every gateway response is validated here before the adapter reads it.
import { z } from 'zod';
import { isDecimalText, toDecimal } from '../../domain/money.ts';
import type { Decimal } from '../../domain/money.ts';
import { optionalWireDecimal, wireDecimal } from '../wire-decimal.ts';

/** A conid arrives as a number in most answers and as a string in secdef search. */
const conid = z.union([z.number().int(), z.string().regex(/^\d+$/)]).transform((v) => Number(v));
/** Order ids: a number in the orders list, a string in placement replies. */
const orderId = z.union([z.number().int(), z.string().min(1)]).transform((v) => String(v));

/**
 * Figures the gateway formats for people (what-if: "1,234.56", "2,110.70 USD (10 Shares)"): the leading number, commas
 * dropped, read from its text. An answer with no number in it fails validation rather than reading as zero.
 */
export const formattedDecimal = z.union([z.string(), z.number()]).transform((value, ctx): Decimal => {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return toDecimal(value);
  const match = /^\s*(-?[\d,]*\.?\d+)/.exec(String(value));
  const text = match?.[1]?.replace(/,/g, '');
  if (text !== undefined && isDecimalText(text)) return toDecimal(text);
  ctx.addIssue({ code: 'custom', message: `not a figure: ${JSON.stringify(value)}` });
  return z.NEVER;
});

export const authStatusSchema = z.looseObject({
  authenticated: z.boolean(),
  connected: z.boolean().optional(),
  competing: z.boolean().optional(),
  message: z.string().optional(),
  fail: z.string().optional(),
});
export type WireAuthStatus = z.output<typeof authStatusSchema>;

export const tickleSchema = z.looseObject({
  session: z.string().optional(),
  iserver: z.looseObject({ authStatus: authStatusSchema.optional() }).optional(),
});

export const accountsSchema = z.looseObject({
  accounts: z.array(z.string()),
  selectedAccount: z.string().optional(),
});

export const selectAccountSchema = z.looseObject({ set: z.boolean().optional(), acctId: z.string().optional() });

export const secdefSearchSchema = z.union([
  z.array(z.looseObject({
    conid,
    symbol: z.string().optional(),
    companyName: z.string().nullish(),
    sections: z.array(z.looseObject({ secType: z.string() })).optional(),
  })),
  z.looseObject({ error: z.string() }),
]);

/** A question the gateway asks before it takes an order. */
export const questionSchema = z.looseObject({
  id: z.string().min(1),
  message: z.array(z.string()).default([]),
  messageIds: z.array(z.string()).default([]),
  isSuppressed: z.boolean().optional(),
});
export type WireQuestion = z.output<typeof questionSchema>;

export const placedSchema = z.looseObject({
  order_id: orderId,
  order_status: z.string().optional(),
  local_order_id: z.string().optional(),
});
export type WirePlaced = z.output<typeof placedSchema>;

/** What a place, modify or reply call answers: orders taken, questions, or an error (HTTP 200 or 400). */
export const placeReplySchema = z.union([
  z.array(z.union([placedSchema, questionSchema])),
  z.looseObject({ error: z.string() }),
]);
export type WirePlaceReply = z.output<typeof placeReplySchema>;

export const orderStatusSchema = z.looseObject({
  order_id: orderId,
  conid,
  symbol: z.string(),
  side: z.enum(['B', 'S', 'BUY', 'SELL']),
  order_type: z.string(),
  order_status: z.string(),
  total_size: wireDecimal,
  cum_fill: optionalWireDecimal,
  average_price: optionalWireDecimal,
  limit_price: optionalWireDecimal,
  stop_price: optionalWireDecimal,
  tif: z.string().optional(),
  order_ref: z.string().optional(),
});
export type WireOrderStatus = z.output<typeof orderStatusSchema>;

export const liveOrderSchema = z.looseObject({
  orderId: orderId,
  conid,
  ticker: z.string(),
  order_ref: z.string().optional(),
  side: z.enum(['BUY', 'SELL']),
  orderType: z.string(),
  status: z.string(),
  totalSize: wireDecimal,
  filledQuantity: optionalWireDecimal,
  avgPrice: optionalWireDecimal,
  price: optionalWireDecimal,
  auxPrice: optionalWireDecimal,
  timeInForce: z.string().optional(),
  lastExecutionTime_r: z.number().optional(),
});
export type WireLiveOrder = z.output<typeof liveOrderSchema>;

export const liveOrdersSchema = z.looseObject({ orders: z.array(liveOrderSchema).default([]), snapshot: z.boolean().optional() });

/** `{"msg": "Request was submitted", ...}`, or `{"error": "..."}`. */
export const cancelSchema = z.looseObject({ msg: z.string().optional(), order_id: orderId.optional(), error: z.string().optional() })
  .refine((a) => a.msg !== undefined || a.error !== undefined, { message: 'neither msg nor error' });

export const positionSchema = z.looseObject({
  acctId: z.string().optional(),
  conid,
  ticker: z.string().nullish(),
  contractDesc: z.string().optional(),
  position: wireDecimal,
  avgPrice: optionalWireDecimal,
  avgCost: optionalWireDecimal,
  mktPrice: optionalWireDecimal,
  unrealizedPnl: optionalWireDecimal,
  currency: z.string().optional(),
});
export const positionsSchema = z.array(positionSchema);
export type WirePosition = z.output<typeof positionSchema>;

const summaryValue = z.looseObject({ amount: optionalWireDecimal, currency: z.string().nullish() });
export const summarySchema = z.looseObject({
  netliquidation: summaryValue,
  totalcashvalue: summaryValue,
  buyingpower: summaryValue.optional(),
  availablefunds: summaryValue.optional(),
});

const ledgerEntry = z.looseObject({
  currency: z.string(),
  cashbalance: wireDecimal,
  settledcash: optionalWireDecimal,
});
export const ledgerSchema = z.record(z.string(), ledgerEntry);

/** Market data snapshot: fields by their numeric tag (31 last, 84 bid, 86 ask), as text that may carry a C/H prefix. */
export const snapshotSchema = z.array(z.looseObject({
  conid,
  '31': z.string().optional(),
  '84': z.string().optional(),
  '86': z.string().optional(),
  _updated: z.number().optional(),
}));

const whatIfFigures = z.looseObject({ current: formattedDecimal, change: formattedDecimal, after: formattedDecimal });
/** The figures, or only `{"error": "..."}` when IBKR cannot price the order. */
export const whatIfSchema = z.looseObject({
  amount: z.looseObject({ amount: formattedDecimal, commission: formattedDecimal.optional(), total: formattedDecimal.optional() }).optional(),
  equity: whatIfFigures.optional(),
  initial: whatIfFigures.optional(),
  maintenance: whatIfFigures.optional(),
  warn: z.string().nullish(),
  error: z.string().nullish(),
});

export const tradesSchema = z.array(z.looseObject({
  execution_id: z.string(),
  symbol: z.string(),
  side: z.enum(['B', 'S', 'BUY', 'SELL']),
  size: wireDecimal,
  price: wireDecimal,
  commission: optionalWireDecimal,
  order_ref: z.string().optional(),
  order_id: orderId.optional(),
  trade_time_r: z.number(),
  conid: conid.optional(),
}));
