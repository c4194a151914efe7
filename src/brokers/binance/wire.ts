// Binance USD-M futures answers as zod schemas: every price, quantity and balance parsed losslessly into Decimal.
import { z } from 'zod';
import { optionalWireDecimal, wireDecimal } from '../wire-decimal.ts';

/** Usually a string ("60012.30"), sometimes a JSON number (leverage brackets); optional ones also "" or "null". */
export const decimal = wireDecimal;
export const optionalDecimal = optionalWireDecimal;

/** Ids are numbers on the wire (strings once they outgrow a double); tradewire keeps them as text. */
export const wireId = z.union([z.string(), z.number()]).transform(String);

export const sideSchema = z.enum(['BUY', 'SELL']);
export const positionSideSchema = z.enum(['BOTH', 'LONG', 'SHORT']);

export const serverTimeSchema = z.object({ serverTime: z.number().int() });

export const orderSchema = z.object({
  orderId: wireId,
  clientOrderId: z.string(),
  symbol: z.string(),
  side: sideSchema,
  positionSide: positionSideSchema.optional(),
  type: z.string(),
  origType: z.string().optional(),
  status: z.string(),
  price: decimal,
  origQty: decimal,
  executedQty: decimal,
  avgPrice: optionalDecimal,
  cumQuote: optionalDecimal,
  stopPrice: optionalDecimal,
  reduceOnly: z.boolean().optional(),
  closePosition: z.boolean().optional(),
  timeInForce: z.string().optional(),
  time: z.number().optional(),
  updateTime: z.number(),
});
export type WireOrder = z.output<typeof orderSchema>;

export const algoOrderSchema = z.object({
  algoId: wireId,
  clientAlgoId: z.string(),
  algoType: z.string(),
  orderType: z.string(),
  symbol: z.string(),
  side: sideSchema,
  positionSide: positionSideSchema.optional(),
  timeInForce: z.string().optional(),
  quantity: optionalDecimal,
  algoStatus: z.string(),
  /** The plain order the trigger created; "" until then. */
  actualOrderId: z.union([z.string(), z.number()]).optional().transform((v) => (v === undefined || v === '' ? undefined : String(v))),
  actualQty: optionalDecimal,
  actualPrice: optionalDecimal,
  /** Empty for a trailing stop, which has a callbackRate instead. */
  triggerPrice: optionalDecimal,
  callbackRate: optionalDecimal,
  price: optionalDecimal,
  closePosition: z.boolean().optional(),
  reduceOnly: z.boolean().optional(),
  workingType: z.string().optional(),
  createTime: z.number(),
  updateTime: z.number(),
  triggerTime: z.number().optional(),
});
export type WireAlgoOrder = z.output<typeof algoOrderSchema>;

export const cancelAlgoSchema = z.object({ algoId: wireId, clientAlgoId: z.string() });

const filterSchema = z.object({ filterType: z.string() }).catchall(z.unknown());

export const exchangeSymbolSchema = z.object({
  symbol: z.string(),
  status: z.string(),
  contractType: z.string().optional(),
  baseAsset: z.string(),
  quoteAsset: z.string(),
  marginAsset: z.string().optional(),
  filters: z.array(filterSchema),
});
export type WireExchangeSymbol = z.output<typeof exchangeSymbolSchema>;

export const exchangeInfoSchema = z.object({
  serverTime: z.number().optional(),
  rateLimits: z.array(z.object({ rateLimitType: z.string(), interval: z.string(), intervalNum: z.number(), limit: z.number() })).default([]),
  symbols: z.array(exchangeSymbolSchema),
});

export const priceFilterSchema = z.object({ filterType: z.literal('PRICE_FILTER'), tickSize: decimal, minPrice: optionalDecimal, maxPrice: optionalDecimal });
export const lotSizeSchema = z.object({ filterType: z.enum(['LOT_SIZE', 'MARKET_LOT_SIZE']), stepSize: decimal, minQty: decimal, maxQty: optionalDecimal });
export const minNotionalSchema = z.object({ filterType: z.literal('MIN_NOTIONAL'), notional: decimal });

export const tickerPriceSchema = z.object({ symbol: z.string(), price: decimal, time: z.number().optional() });
export const tickerPricesSchema = z.union([z.array(tickerPriceSchema), tickerPriceSchema.transform((t) => [t])]);

export const accountSchema = z.object({
  totalWalletBalance: decimal,
  totalMarginBalance: decimal,
  availableBalance: decimal,
  totalInitialMargin: optionalDecimal,
  assets: z.array(z.object({ asset: z.string(), walletBalance: decimal, marginBalance: decimal, availableBalance: decimal })).default([]),
});

export const balancesSchema = z.array(z.object({ asset: z.string(), balance: decimal, availableBalance: decimal }));

/** GET /fapi/v3/positionRisk: only symbols with a position or open orders. */
export const positionRiskV3Schema = z.array(z.object({
  symbol: z.string(),
  positionSide: positionSideSchema,
  positionAmt: decimal,
  entryPrice: decimal,
  markPrice: optionalDecimal,
  unRealizedProfit: optionalDecimal,
}));

/** GET /fapi/v2/positionRisk: every symbol asked for, with its leverage and margin type. */
export const positionRiskV2Schema = z.array(z.object({
  symbol: z.string(),
  positionSide: positionSideSchema,
  positionAmt: decimal,
  entryPrice: decimal,
  markPrice: decimal,
  leverage: decimal,
  marginType: z.string().optional(),
}));

const bracketSchema = z.object({
  bracket: z.number().int(),
  initialLeverage: decimal,
  notionalCap: decimal,
  notionalFloor: decimal,
  maintMarginRatio: decimal,
});
const symbolBracketsSchema = z.object({ symbol: z.string(), brackets: z.array(bracketSchema) });
/** An array, or a single object when one symbol is asked for. */
export const leverageBracketSchema = z.union([z.array(symbolBracketsSchema), symbolBracketsSchema.transform((b) => [b])]);
export type WireBracket = z.output<typeof bracketSchema>;

export const dualSideSchema = z.object({ dualSidePosition: z.boolean() });
export const leverageSchema = z.object({ leverage: z.number().int(), symbol: z.string() });
/** `{"code":200,"msg":"success"}`: what setters answer. */
export const acknowledgementSchema = z.object({ code: z.union([z.number(), z.string()]).optional(), msg: z.string().optional() }).catchall(z.unknown());

/** GET /fapi/v1/income with incomeType=FUNDING_FEE: `income` is signed (negative: paid). */
export const fundingIncomeSchema = z.array(z.object({
  symbol: z.string(),
  incomeType: z.string(),
  income: decimal,
  asset: z.string(),
  time: z.number(),
  tranId: wireId,
}));

export const userTradesSchema = z.array(z.object({
  id: wireId,
  orderId: wireId,
  symbol: z.string(),
  side: sideSchema,
  price: decimal,
  qty: decimal,
  commission: decimal,
  commissionAsset: z.string(),
  maker: z.boolean().optional(),
  time: z.number(),
}));

export const emptySchema = z.unknown();
export type WireUserTrade = z.output<typeof userTradesSchema>[number];
