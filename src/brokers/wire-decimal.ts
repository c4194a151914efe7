// Money and quantities on a broker's wire, as zod schemas: Decimal from the text, never through a double.
import { z } from 'zod';
import { isDecimalText, toDecimal } from '../domain/money.ts';
import type { Decimal } from '../domain/money.ts';

function exact(value: string | number, ctx: z.RefinementCtx): Decimal {
  // The HTTP core parses JSON numbers losslessly: a fraction arrives as its source text, a number only when it is a safe integer.
  if (typeof value === 'number' ? Number.isSafeInteger(value) : isDecimalText(value.trim())) return toDecimal(value);
  ctx.addIssue({ code: 'custom', message: `not an exact decimal: ${JSON.stringify(value)}` });
  return z.NEVER;
}

/** A decimal as brokers send it: a string ("60012.30"), or a JSON number handed over as its text. */
export const wireDecimal = z.union([z.string(), z.number()]).transform(exact);

/** An optional decimal; brokers also say "none" as null, "" or "null" (Binance's "activatePrice": ""). */
export const optionalWireDecimal = z.union([z.string(), z.number(), z.null()]).optional().transform((value, ctx): Decimal | undefined => {
  if (value === undefined || value === null || value === '' || value === 'null') return undefined;
  return exact(value, ctx);
});
