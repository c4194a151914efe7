// Reading an admin request: the error answer it may end in, and its strings, decimals and account names checked.
import { isDecimalText, toDecimal, type Decimal } from '../domain/money.ts';

/** An answer other than 200, with the JSON body to send. */
export class HttpError extends Error {
  constructor(readonly status: number, readonly body: Record<string, unknown>) {
    super(String(body.message ?? body.error));
  }
}

export function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.trim() === '') throw new HttpError(400, { error: 'invalid_request', message: `${key} must be a non-empty string` });
  return value.trim();
}

export function decimalIn(value: unknown, label: string): Decimal {
  const text = typeof value === 'string' ? value.trim() : typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : undefined;
  if (text === undefined || !isDecimalText(text) || !toDecimal(text).gt(0)) {
    throw new HttpError(400, { error: 'invalid_request', message: `${label} must be a positive number (as text: "101.25")` });
  }
  return toDecimal(text);
}

/** The accounts an action applies to: the one named (which must exist), or every configured one. */
export function accountsIn(known: string[], account: string | undefined): string[] {
  if (account === undefined) return known;
  if (!known.includes(account)) throw new HttpError(404, { error: 'unknown_account', message: `no account named ${account}`, accounts: known });
  return [account];
}
