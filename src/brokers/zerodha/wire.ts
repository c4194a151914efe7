// Kite Connect v3 answers as zod schemas: the {status, data} envelope, orders, trades, positions, margins, GTTs, quotes.
import { z } from 'zod';
import { optionalWireDecimal, wireDecimal } from '../wire-decimal.ts';

/** Every Kite answer: `{ status: "success", data }` (errors arrive with a non-2xx status and are mapped before this). */
export function envelope<T extends z.ZodType>(data: T): z.ZodType<z.output<T>> {
  const shape = z.object({ status: z.literal('success'), data: data as z.ZodType });
  return shape.transform((e) => e.data as z.output<T>) as unknown as z.ZodType<z.output<T>>;
}

const nullableText = z.string().nullable().optional();

export const orderIdSchema = envelope(z.object({ order_id: z.union([z.string(), z.number()]).transform(String) }));
export const triggerIdSchema = envelope(z.object({ trigger_id: z.number() }));

export const wireOrderSchema = z.object({
  order_id: z.union([z.string(), z.number()]).transform(String),
  status: z.string(),
  status_message: nullableText,
  tradingsymbol: z.string(),
  exchange: z.string(),
  transaction_type: z.enum(['BUY', 'SELL']),
  order_type: z.string(),
  product: z.string(),
  variety: z.string().optional(),
  validity: z.string().optional(),
  quantity: wireDecimal,
  price: optionalWireDecimal,
  trigger_price: optionalWireDecimal,
  average_price: optionalWireDecimal,
  filled_quantity: optionalWireDecimal,
  tag: nullableText,
  order_timestamp: z.string().nullable().optional(),
  exchange_update_timestamp: z.string().nullable().optional(),
  exchange_timestamp: z.string().nullable().optional(),
});
export type WireOrder = z.output<typeof wireOrderSchema>;

export const ordersSchema = envelope(z.array(wireOrderSchema));
/** GET /orders/{id}: the order's history, oldest first; the last entry is where it is now. */
export const orderHistorySchema = envelope(z.array(wireOrderSchema).min(1));

export const wireTradeSchema = z.object({
  trade_id: z.union([z.string(), z.number()]).transform(String),
  order_id: z.union([z.string(), z.number()]).transform(String),
  exchange: z.string(),
  tradingsymbol: z.string(),
  transaction_type: z.enum(['BUY', 'SELL']),
  quantity: wireDecimal,
  average_price: wireDecimal,
  fill_timestamp: z.string().nullable().optional(),
  exchange_timestamp: z.string().nullable().optional(),
});
export type WireTrade = z.output<typeof wireTradeSchema>;
export const tradesSchema = envelope(z.array(wireTradeSchema));

export const wirePositionSchema = z.object({
  tradingsymbol: z.string(),
  exchange: z.string(),
  product: z.string(),
  quantity: wireDecimal,
  average_price: wireDecimal,
  last_price: optionalWireDecimal,
  unrealised: optionalWireDecimal,
});
export const positionsSchema = envelope(z.object({ net: z.array(wirePositionSchema), day: z.array(wirePositionSchema).optional() }));

export const wireHoldingSchema = z.object({
  tradingsymbol: z.string(),
  exchange: z.string(),
  quantity: wireDecimal,
  t1_quantity: optionalWireDecimal,
  average_price: wireDecimal,
  last_price: optionalWireDecimal,
  pnl: optionalWireDecimal,
});
export const holdingsSchema = envelope(z.array(wireHoldingSchema));

const segmentSchema = z.object({
  enabled: z.boolean().optional(),
  net: wireDecimal,
  available: z.object({ cash: wireDecimal, live_balance: optionalWireDecimal, opening_balance: optionalWireDecimal }).loose(),
  utilised: z.object({ debits: wireDecimal, m2m_unrealised: optionalWireDecimal }).loose(),
});
export const userMarginsSchema = envelope(z.object({ equity: segmentSchema, commodity: segmentSchema.optional() }));

/** POST /margins/orders: one entry per order sent. */
export const orderMarginsSchema = envelope(z.array(z.object({
  tradingsymbol: z.string().optional(),
  exchange: z.string().optional(),
  total: wireDecimal,
  leverage: optionalWireDecimal,
}).loose()).min(1));

/** GET /quote/ltp?i=NSE:INFY&i=...: keyed by EXCHANGE:TRADINGSYMBOL; instruments it does not know are left out. */
export const ltpSchema = envelope(z.record(z.string(), z.object({ last_price: wireDecimal })));

const gttOrderResultSchema = z.object({
  order_result: z.object({ status: z.string(), order_id: z.union([z.string(), z.number()]).transform(String), rejection_reason: z.string().nullable().optional() }).loose(),
  timestamp: z.string().nullable().optional(),
  triggered_at: optionalWireDecimal,
}).loose();

export const wireGttSchema = z.object({
  id: z.number(),
  type: z.enum(['single', 'two-leg']),
  status: z.string(),
  created_at: z.string().nullable().optional(),
  updated_at: z.string().nullable().optional(),
  condition: z.object({ exchange: z.string(), tradingsymbol: z.string(), trigger_values: z.array(wireDecimal).min(1).max(2), last_price: optionalWireDecimal }).loose(),
  orders: z.array(z.object({
    exchange: z.string(),
    tradingsymbol: z.string(),
    product: z.string(),
    order_type: z.string(),
    transaction_type: z.enum(['BUY', 'SELL']),
    quantity: wireDecimal,
    price: wireDecimal,
    result: gttOrderResultSchema.nullable().optional(),
  }).loose()).min(1).max(2),
}).loose();
export type WireGtt = z.output<typeof wireGttSchema>;
export const gttSchema = envelope(wireGttSchema);
export const gttsSchema = envelope(z.array(wireGttSchema));
