// Conversions at the SQLite edge: Decimal ⇄ exact decimal text, Date ⇄ ISO-8601 UTC text.
import { toDecimal, type Decimal } from '../domain/money.ts';
import { InvariantError } from '../domain/errors.ts';

/** Exact decimal text for a column; toFixed() never uses exponent notation and keeps every digit. */
export function decimalText(value: Decimal): string {
  if (!value.isFinite()) throw new InvariantError(`refusing to store a non-finite number: ${value.toString()}`);
  return value.toFixed();
}

export function optionalDecimalText(value: Decimal | undefined | null): string | null {
  return value === undefined || value === null ? null : decimalText(value);
}

export function decimalFrom(text: string): Decimal {
  return toDecimal(text);
}

export function optionalDecimalFrom(text: string | null): Decimal | undefined {
  return text === null ? undefined : toDecimal(text);
}

/** Times are stored as Date#toISOString writes them, so text order is time order. */
export function timeText(value: Date): string {
  if (Number.isNaN(value.getTime())) throw new InvariantError('refusing to store an invalid date');
  return value.toISOString();
}

export function optionalTimeText(value: Date | undefined | null): string | null {
  return value === undefined || value === null ? null : timeText(value);
}

export function timeFrom(text: string): Date {
  return new Date(text);
}

export function optionalTimeFrom(text: string | null): Date | undefined {
  return text === null ? undefined : new Date(text);
}

export function orNull<T>(value: T | undefined): T | null {
  return value === undefined ? null : value;
}

export function orUndefined<T>(value: T | null): T | undefined {
  return value === null ? undefined : value;
}
