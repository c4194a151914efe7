// What a signal means for the position it meets: PRODUCT.md's action × sentiment table, as data, and nothing else.
import { InvariantError } from './errors.ts';
import { HUNDRED } from './money.ts';
import type { Decimal } from './money.ts';
import type { PositionSide } from './order.ts';
import type { QuantityType, Sentiment, SignalAction } from './signal.ts';

/** The position a signal is judged against; `undefined` is flat. */
export interface IntentPosition {
  side: PositionSide;
  quantity: Decimal;
}

export interface IntentStrategy {
  allowShorts: boolean;
  allowReversal: boolean;
  /** Whether a buy on a long (a sell on a short) adds instead of being a no-op. */
  pyramiding: boolean;
}

export interface IntentInput {
  action: SignalAction;
  sentiment?: Sentiment | undefined;
  quantity?: Decimal | undefined;
  quantityType?: QuantityType | undefined;
  position: IntentPosition | undefined;
  strategy: IntentStrategy;
  /**
   * How many entry orders of this ticker rest at the broker, when the caller knows. It only matters for
   * an exit on a flat position: none there is a `no_op`. Unknown: the result says to refuse when none is found.
   */
  openEntryOrders?: number | undefined;
}

export type RefusalReason =
  | 'no_op'
  | 'position_mismatch'
  | 'shorts_not_allowed'
  | 'missing_quantity'
  | 'invalid_quantity_type';

/** A reduce that intent cannot turn into shares itself: a dollar amount needs a price. */
export type ReduceQuantityType = 'fixed_quantity' | 'dollar_amount';

export type Intent =
  /** Open a new position; the ticker's resting entry orders are cancelled first, so two entries never race. */
  | { kind: 'open'; side: PositionSide; cancelEntriesFirst: true }
  /** Add to the position on its own side; protection is then resized to the new total. */
  | { kind: 'add'; side: PositionSide }
  /** Close the position on `side`; `percent` (below 100) makes it a partial close. */
  | { kind: 'close'; side: PositionSide; percent?: Decimal | undefined }
  /** Take `quantity` off the position on `side` (less than the whole; a reduce of everything is a `close`). */
  | { kind: 'reduce'; side: PositionSide; quantity: Decimal; quantityType: ReduceQuantityType }
  /** Close `closeSide`, wait for that close to fill (at most the reversal timeout), then open `openSide`. */
  | { kind: 'reverse'; closeSide: PositionSide; openSide: PositionSide }
  /** Cancel the ticker's resting entry orders; positions and their protection stay. `noneIsNoOp`: finding none is a `no_op`. */
  | { kind: 'cancel_entries'; noneIsNoOp: boolean }
  /** Close the position (or `percent` of it) and cancel the ticker's resting entry orders. */
  | { kind: 'exit_and_cancel'; side: PositionSide; percent?: Decimal | undefined }
  /** Move the open position's stop or targets to the alert's; nothing is traded. */
  | { kind: 'update_protection'; side: PositionSide }
  | { kind: 'refuse'; reason: RefusalReason; detail: string };

export type IntentKind = Intent['kind'];

type PositionState = 'flat' | PositionSide;
type SentimentOrNone = Sentiment | 'none';

/** One row of the table: which signals and positions it covers, and what they mean. */
export interface IntentRow {
  /** The row as PRODUCT.md words it, for tests and for reading. */
  name: string;
  action: SignalAction;
  sentiments: readonly SentimentOrNone[];
  positions: readonly PositionState[];
  decide: (input: IntentInput, ctx: RowContext) => Intent;
}

interface RowContext {
  sentiment: SentimentOrNone;
  position: PositionState;
}

const ALL_SENTIMENTS: readonly SentimentOrNone[] = ['long', 'short', 'flat', 'none'];
const ALL_POSITIONS: readonly PositionState[] = ['flat', 'long', 'short'];

function refuse(reason: RefusalReason, detail: string): Intent {
  return { kind: 'refuse', reason, detail };
}

function opposite(side: PositionSide): PositionSide {
  return side === 'long' ? 'short' : 'long';
}

/**
 * The share of the position an exit or close takes. `percent_of_position` below 100 is a partial close;
 * other quantity types on a close are ignored, because the sentiment (flat) or the action (exit) already
 * says how much: all of it. On a reversal the alert's quantity sizes the new entry, not the close.
 */
function closePercent(input: IntentInput): { percent?: Decimal | undefined } | Intent {
  if (input.quantityType !== 'percent_of_position') return {};
  if (input.quantity === undefined) {
    return refuse('missing_quantity', 'quantityType percent_of_position needs a quantity (the percent of the position to close)');
  }
  return input.quantity.gte(HUNDRED) ? {} : { percent: input.quantity };
}

function isIntent(value: object): value is Intent {
  return 'kind' in value;
}

/** Close the position, then (when `reopen` allows) open the other side once the close has filled. */
function closeThenMaybeOpen(input: IntentInput, side: PositionSide, reopen: boolean): Intent {
  const part = closePercent(input);
  if (isIntent(part)) return part;
  // A partial close leaves the position on its side: reversing from there would be two positions at once.
  if (reopen && part.percent === undefined) return { kind: 'reverse', closeSide: side, openSide: opposite(side) };
  return { kind: 'close', side, percent: part.percent };
}

function openOrAdd(input: IntentInput, side: PositionSide, ctx: RowContext): Intent {
  if (input.quantityType === 'percent_of_position' && ctx.position === 'flat') {
    return refuse('invalid_quantity_type', 'quantityType percent_of_position is for exits, partial closes and adds: there is no position to take a percent of');
  }
  if (ctx.position === 'flat') {
    if (side === 'short' && !input.strategy.allowShorts) {
      return refuse('shorts_not_allowed', 'this strategy does not allow shorts (allowShorts is off)');
    }
    return { kind: 'open', side, cancelEntriesFirst: true };
  }
  if (!input.strategy.pyramiding) {
    return refuse('no_op', `already ${side}, and this strategy does not pyramid`);
  }
  return { kind: 'add', side };
}

/** A reduce needs an amount; `percent_of_position` becomes a (partial) close, and reducing it all is a close too. */
function reduce(input: IntentInput, side: PositionSide, position: IntentPosition): Intent {
  if (input.quantity === undefined) {
    return refuse('missing_quantity', `a reduce of the ${side} (sentiment ${side}) needs a quantity`);
  }
  const type = input.quantityType ?? 'fixed_quantity';
  if (type === 'percent_of_position') {
    return input.quantity.gte(HUNDRED) ? { kind: 'close', side } : { kind: 'close', side, percent: input.quantity };
  }
  if (type === 'fixed_quantity') {
    if (input.quantity.gte(position.quantity)) return { kind: 'close', side };
    return { kind: 'reduce', side, quantity: input.quantity, quantityType: 'fixed_quantity' };
  }
  if (type === 'dollar_amount') return { kind: 'reduce', side, quantity: input.quantity, quantityType: 'dollar_amount' };
  return refuse('invalid_quantity_type', `a reduce takes fixed_quantity, dollar_amount or percent_of_position, not ${type}`);
}

function mustHave(position: IntentPosition | undefined): IntentPosition {
  // The table's row selection guarantees a position here; reaching this without one is a row written wrong.
  if (position === undefined) throw new InvariantError('intent row expected a position');
  return position;
}

/**
 * PRODUCT.md's table, row for row (one-way positions). Every (action, sentiment, position) is covered by
 * exactly one row; a test walks every combination to keep it so.
 */
export const INTENT_TABLE: readonly IntentRow[] = [
  // buy
  { name: 'buy with sentiment long or none on flat opens a long', action: 'buy', sentiments: ['long', 'none'], positions: ['flat'],
    decide: (input, ctx) => openOrAdd(input, 'long', ctx) },
  { name: 'buy with sentiment long or none on a long is a no-op, or an add with pyramiding', action: 'buy', sentiments: ['long', 'none'], positions: ['long'],
    decide: (input, ctx) => openOrAdd(input, 'long', ctx) },
  { name: 'buy with sentiment long or none on a short closes it, then opens a long if reversal is allowed', action: 'buy', sentiments: ['long', 'none'], positions: ['short'],
    decide: (input) => closeThenMaybeOpen(input, 'short', input.strategy.allowReversal) },
  { name: 'buy with sentiment flat on a short closes the short', action: 'buy', sentiments: ['flat'], positions: ['short'],
    decide: (input) => closeThenMaybeOpen(input, 'short', false) },
  { name: 'buy with sentiment flat on flat or a long is a no-op', action: 'buy', sentiments: ['flat'], positions: ['flat', 'long'],
    decide: (_input, ctx) => refuse('no_op', ctx.position === 'flat' ? 'nothing to close: already flat' : 'a buy with sentiment flat closes a short, and the position is long') },
  { name: 'buy with sentiment short on a short reduces it', action: 'buy', sentiments: ['short'], positions: ['short'],
    decide: (input) => reduce(input, 'short', mustHave(input.position)) },
  { name: 'buy with sentiment short on flat is a no-op', action: 'buy', sentiments: ['short'], positions: ['flat'],
    decide: () => refuse('no_op', 'nothing left to reduce: no short position (closed already, by its stop say)') },
  { name: 'buy with sentiment short on a long is a position mismatch', action: 'buy', sentiments: ['short'], positions: ['long'],
    decide: () => refuse('position_mismatch', 'the alert reduces a short but the account holds a long: the strategy and the account disagree') },

  // sell
  { name: 'sell with sentiment short or none on flat opens a short if shorts are allowed', action: 'sell', sentiments: ['short', 'none'], positions: ['flat'],
    decide: (input, ctx) => openOrAdd(input, 'short', ctx) },
  { name: 'sell with sentiment short or none on a short is a no-op, or an add with pyramiding', action: 'sell', sentiments: ['short', 'none'], positions: ['short'],
    decide: (input, ctx) => openOrAdd(input, 'short', ctx) },
  { name: 'sell with sentiment flat or none on a long closes it; with none, then opens a short if reversal and shorts are allowed', action: 'sell', sentiments: ['flat', 'none'], positions: ['long'],
    decide: (input, ctx) => closeThenMaybeOpen(input, 'long', ctx.sentiment === 'none' && input.strategy.allowReversal && input.strategy.allowShorts) },
  { name: 'sell with sentiment short on a long closes it, then opens a short if reversal and shorts are allowed', action: 'sell', sentiments: ['short'], positions: ['long'],
    decide: (input) => closeThenMaybeOpen(input, 'long', input.strategy.allowReversal && input.strategy.allowShorts) },
  { name: 'sell with sentiment flat on flat or a short is a no-op', action: 'sell', sentiments: ['flat'], positions: ['flat', 'short'],
    decide: (_input, ctx) => refuse('no_op', ctx.position === 'flat' ? 'nothing to close: already flat' : 'a sell with sentiment flat closes a long, and the position is short') },
  { name: 'sell with sentiment long on a long reduces it', action: 'sell', sentiments: ['long'], positions: ['long'],
    decide: (input) => reduce(input, 'long', mustHave(input.position)) },
  { name: 'sell with sentiment long on flat is a no-op', action: 'sell', sentiments: ['long'], positions: ['flat'],
    decide: () => refuse('no_op', 'nothing left to reduce: no long position (closed already, by its stop say)') },
  { name: 'sell with sentiment long on a short is a position mismatch', action: 'sell', sentiments: ['long'], positions: ['short'],
    decide: () => refuse('position_mismatch', 'the alert reduces a long but the account holds a short: the strategy and the account disagree') },

  // add, exit, cancel
  { name: 'add on a long or a short adds on its own side', action: 'add', sentiments: ALL_SENTIMENTS, positions: ['long', 'short'],
    decide: (input) => ({ kind: 'add', side: mustHave(input.position).side }) },
  { name: 'add on flat is a no-op', action: 'add', sentiments: ALL_SENTIMENTS, positions: ['flat'],
    decide: () => refuse('no_op', 'nothing to add to: no position') },
  { name: 'exit on a long or a short closes it and cancels open orders', action: 'exit', sentiments: ALL_SENTIMENTS, positions: ['long', 'short'],
    decide: (input) => {
      const part = closePercent(input);
      if (isIntent(part)) return part;
      return { kind: 'exit_and_cancel', side: mustHave(input.position).side, percent: part.percent };
    } },
  { name: 'exit on flat cancels open entry orders, a no-op with none', action: 'exit', sentiments: ALL_SENTIMENTS, positions: ['flat'],
    decide: (input) => (input.openEntryOrders === 0
      ? refuse('no_op', 'no position and no open entry orders to cancel')
      : { kind: 'cancel_entries', noneIsNoOp: true }) },
  { name: 'cancel cancels open entry orders whatever the position', action: 'cancel', sentiments: ALL_SENTIMENTS, positions: ALL_POSITIONS,
    decide: () => ({ kind: 'cancel_entries', noneIsNoOp: false }) },

  // update
  { name: 'update on a long or a short moves its stop or targets', action: 'update', sentiments: ALL_SENTIMENTS, positions: ['long', 'short'],
    decide: (input) => ({ kind: 'update_protection', side: mustHave(input.position).side }) },
  { name: 'update on flat is a no-op', action: 'update', sentiments: ALL_SENTIMENTS, positions: ['flat'],
    decide: () => refuse('no_op', 'nothing to update: the strategy has no open position in this ticker') },
];

/** The table row that covers a signal and a position (exactly one does). */
export function findIntentRow(action: SignalAction, sentiment: Sentiment | undefined, position: IntentPosition | undefined): IntentRow {
  const s: SentimentOrNone = sentiment ?? 'none';
  const p: PositionState = position === undefined || position.quantity.isZero() ? 'flat' : position.side;
  const row = INTENT_TABLE.find((r) => r.action === action && r.sentiments.includes(s) && r.positions.includes(p));
  if (row === undefined) throw new InvariantError(`no intent row for ${action}/${s}/${p}`);
  return row;
}

/** What a signal means for the position it meets: open, add, close, reduce, reverse, cancel, exit, or a refusal with its reason. */
export function decideIntent(input: IntentInput): Intent {
  const position = input.position === undefined || input.position.quantity.isZero() ? undefined : input.position;
  const normalized: IntentInput = { ...input, position };
  const row = findIntentRow(input.action, input.sentiment, position);
  return row.decide(normalized, { sentiment: input.sentiment ?? 'none', position: position?.side ?? 'flat' });
}
