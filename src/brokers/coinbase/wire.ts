// Coinbase Advanced Trade answers as zod schemas: money and sizes become Decimal from their text, unknown fields pass.
import { z } from 'zod';
import { optionalWireDecimal, wireDecimal } from '../wire-decimal.ts';

const amount = z.object({ value: wireDecimal, currency: z.string() });
const time = z.string().transform((text, ctx) => {
  const at = new Date(text);
  if (Number.isNaN(at.getTime())) {
    ctx.addIssue({ code: 'custom', message: `not a time: ${text}` });
    return z.NEVER;
  }
  return at;
});

export const accountsSchema = z.object({
  accounts: z.array(z.object({
    uuid: z.string(),
    currency: z.string(),
    available_balance: amount,
    hold: amount.optional(),
    active: z.boolean().optional(),
  })),
  has_next: z.boolean().optional(),
  cursor: z.string().optional(),
});
export type WireAccount = z.output<typeof accountsSchema>['accounts'][number];

export const portfoliosSchema = z.object({
  portfolios: z.array(z.object({ uuid: z.string(), name: z.string().optional(), type: z.string().optional(), deleted: z.boolean().optional() })),
});

export const breakdownSchema = z.object({
  breakdown: z.object({
    portfolio_balances: z.object({ total_balance: amount }).optional(),
    spot_positions: z.array(z.object({
      asset: z.string(),
      total_balance_fiat: optionalWireDecimal,
      total_balance_crypto: wireDecimal,
      is_cash: z.boolean().optional(),
      average_entry_price: amount.optional(),
      unrealized_pnl: optionalWireDecimal,
    })).default([]),
  }),
});

export const productSchema = z.object({
  product_id: z.string(),
  price: optionalWireDecimal,
  base_increment: wireDecimal,
  quote_increment: wireDecimal,
  price_increment: optionalWireDecimal,
  base_min_size: wireDecimal,
  base_max_size: optionalWireDecimal,
  quote_min_size: optionalWireDecimal,
  // The Exchange API's name for the smallest market order in quote currency; honoured when present.
  min_market_funds: optionalWireDecimal,
  status: z.string().optional(),
  trading_disabled: z.boolean().optional(),
  is_disabled: z.boolean().optional(),
  cancel_only: z.boolean().optional(),
  limit_only: z.boolean().optional(),
  post_only: z.boolean().optional(),
  base_currency_id: z.string().optional(),
  quote_currency_id: z.string().optional(),
  product_type: z.string().optional(),
});
export type WireProduct = z.output<typeof productSchema>;
export const productsSchema = z.object({ products: z.array(productSchema) });

const level = z.object({ price: wireDecimal, size: wireDecimal });
export const bestBidAskSchema = z.object({
  pricebooks: z.array(z.object({ product_id: z.string(), bids: z.array(level), asks: z.array(level), time: time.optional() })),
});

const size = optionalWireDecimal;
export const orderConfigurationSchema = z.object({
  market_market_ioc: z.object({ base_size: size, quote_size: size }).optional(),
  limit_limit_gtc: z.object({ base_size: size, limit_price: wireDecimal, post_only: z.boolean().optional() }).optional(),
  limit_limit_fok: z.object({ base_size: size, limit_price: wireDecimal }).optional(),
  sor_limit_ioc: z.object({ base_size: size, limit_price: wireDecimal }).optional(),
  stop_limit_stop_limit_gtc: z.object({ base_size: size, limit_price: wireDecimal, stop_price: wireDecimal, stop_direction: z.string().optional() }).optional(),
  trigger_bracket_gtc: z.object({ base_size: size, limit_price: wireDecimal, stop_trigger_price: wireDecimal }).optional(),
}).loose();
export type WireOrderConfiguration = z.output<typeof orderConfigurationSchema>;

export const ORDER_STATUSES = ['PENDING', 'OPEN', 'FILLED', 'CANCELLED', 'EXPIRED', 'FAILED', 'UNKNOWN_ORDER_STATUS', 'QUEUED', 'CANCEL_QUEUED'] as const;

export const orderSchema = z.object({
  order_id: z.string(),
  product_id: z.string(),
  side: z.enum(['BUY', 'SELL']),
  client_order_id: z.string().default(''),
  status: z.string(),
  order_configuration: orderConfigurationSchema,
  time_in_force: z.string().optional(),
  created_time: time,
  last_fill_time: time.nullable().optional(),
  filled_size: optionalWireDecimal,
  average_filled_price: optionalWireDecimal,
  total_fees: optionalWireDecimal,
  order_type: z.string().optional(),
  trigger_status: z.string().optional(),
  reject_reason: z.string().optional(),
  reject_message: z.string().optional(),
  cancel_message: z.string().optional(),
  originating_order_id: z.string().optional(),
  attached_order_id: z.string().optional(),
  attached_order_configuration: orderConfigurationSchema.nullable().optional(),
});
export type WireOrder = z.output<typeof orderSchema>;
export const orderEnvelopeSchema = z.object({ order: orderSchema });
export const ordersPageSchema = z.object({ orders: z.array(orderSchema), has_next: z.boolean().optional(), cursor: z.string().optional() });

const errorResponse = z.object({
  error: z.string().optional(),
  message: z.string().optional(),
  error_details: z.string().optional(),
  preview_failure_reason: z.string().optional(),
  new_order_failure_reason: z.string().optional(),
}).loose();
export type WireErrorResponse = z.output<typeof errorResponse>;

/** Create order: HTTP 200 either way, `success` says which. */
export const createOrderSchema = z.object({
  success: z.boolean(),
  failure_reason: z.string().optional(),
  order_id: z.string().optional(),
  success_response: z.object({ order_id: z.string(), client_order_id: z.string().optional(), attached_order_id: z.string().optional() }).optional(),
  error_response: errorResponse.optional(),
});

export const batchCancelSchema = z.object({
  results: z.array(z.object({ success: z.boolean(), failure_reason: z.string().optional(), order_id: z.string().optional() })),
});

export const fillsPageSchema = z.object({
  fills: z.array(z.object({
    entry_id: z.string(),
    trade_id: z.string().optional(),
    order_id: z.string(),
    trade_time: time,
    price: wireDecimal,
    size: wireDecimal,
    commission: optionalWireDecimal,
    product_id: z.string(),
    liquidity_indicator: z.string().optional(),
    size_in_quote: z.boolean().optional(),
    side: z.enum(['BUY', 'SELL']),
  })),
  cursor: z.string().optional(),
});
export type WireFill = z.output<typeof fillsPageSchema>['fills'][number];
