// The alert parser: a webhook body (already JSON, numbers as text) becomes a validated alert, or a refusal that says why.
import type { Decimal } from '../domain/money.ts';
import { HUNDRED } from '../domain/money.ts';
import type { OrderType } from '../domain/order.ts';
import type { Signal, StopLossSpec, TakeProfitSpec } from '../domain/signal.ts';
import { normalizeSentiment } from '../domain/signal.ts';
import { LEVEL_ANCHORS, parseLevelSize, type LevelSize, type TargetLevelSpec } from '../domain/scale-out.ts';
import type { Issue } from './field-readers.ts';
import { isPlainObject, readBoolean, readDecimal, readEnum, readName, readObject, readText, readTime } from './field-readers.ts';
import { nearMissOf } from './near-miss.ts';
import { extractPassphrase, stripSecret } from './secret.ts';

/** Every Signal field but the ones intake adds itself (its own id, the time of receipt). */
export type ParsedAlert = Omit<Signal, 'signalId' | 'receivedAt'>;

export interface ParseContext {
  /** The `:strategy` part of the URL, which wins over the body's `strategy`. */
  pathStrategy?: string | undefined;
  now: Date;
  /** Entries and adds whose `time` is older than this are stale; 0 or less (or not finite) turns the check off. */
  maxSignalAgeSeconds: number;
  /** The strategy's symbol map ('NASDAQ:AAPL' → 'AAPL'); must not throw. */
  resolveSymbol(strategy: string, ticker: string): string;
}

export type ParseResult =
  | { ok: true; alert: ParsedAlert; passphrase?: string; rawPayload: Record<string, unknown>; ignored: string[] }
  | { ok: false; error: 'invalid_signal'; issues: Issue[] }
  | { ok: false; error: 'unsupported'; field: string; message: string }
  | {
      ok: false; error: 'stale_signal'; message: string; time: Date; ageSeconds: number; maxSignalAgeSeconds: number;
      alert: ParsedAlert; rawPayload: Record<string, unknown>; ignored: string[];
    };

/** Top-level fields tradewire reads: PRODUCT.md's webhook table, TradersPost's names and aliases included. */
export const KNOWN_FIELDS = [
  'passphrase', 'strategy', 'ticker', 'symbol', 'action', 'sentiment', 'quantity', 'quantityType', 'price',
  'signalPrice', 'orderType', 'limitPrice', 'stopPrice', 'trailAmount', 'trailPercent', 'timeInForce',
  'extendedHours', 'takeProfit', 'stopLoss', 'id', 'time', 'account', 'extras',
] as const;

/** TradersPost's options fields: tradewire does not trade options and never trades the underlying instead. */
export const OPTIONS_FIELDS = ['optionType', 'expiration', 'intrinsicValue', 'strikeCount', 'strikesAway', 'strikePrice'] as const;

const TAKE_PROFIT_KEYS = ['limitPrice', 'percent', 'amount'] as const;
const STOP_LOSS_TRIGGERS = ['stopPrice', 'percent', 'amount', 'trailPercent', 'trailAmount'] as const;
const STOP_LOSS_KEYS = ['type', ...STOP_LOSS_TRIGGERS, 'limitPrice'] as const;

const ACTIONS = ['buy', 'sell', 'exit', 'cancel', 'add', 'update'] as const;
const SENTIMENTS = ['long', 'short', 'flat', 'bullish', 'bearish'] as const;
const QUANTITY_TYPES = [
  'fixed_quantity', 'dollar_amount', 'percent_of_equity', 'risk_percent', 'risk_dollar_amount', 'percent_of_position',
] as const;
const ORDER_TYPES = ['market', 'limit', 'stop', 'stop_limit', 'trailing_stop'] as const;
const TIMES_IN_FORCE = ['day', 'gtc', 'ioc', 'fok'] as const;
const STOP_TYPES = ['stop', 'stop_limit', 'trailing_stop'] as const;

const MAX_NAME = 128;
const MAX_TICKER = 64;
const MAX_ID = 256;

/** The price fields that go with each order type; the others are refused with it. */
const ORDER_PRICE_FIELDS = ['limitPrice', 'stopPrice', 'trailAmount', 'trailPercent'] as const;
const ORDER_TYPE_FIELDS: Record<OrderType, readonly (typeof ORDER_PRICE_FIELDS)[number][]> = {
  market: [],
  limit: ['limitPrice'],
  stop: ['stopPrice'],
  stop_limit: ['limitPrice', 'stopPrice'],
  trailing_stop: ['trailAmount', 'trailPercent'],
};

function has(body: Record<string, unknown>, key: string): boolean {
  return Object.hasOwn(body, key);
}

/** Empty text from a placeholder that rendered nothing: absent for the fields where absence means "no preference". */
function isBlank(value: unknown): boolean {
  return typeof value === 'string' && value.trim() === '';
}

function unknownKeyMessage(key: string, where: string | undefined, suggestion: string | undefined, expected: readonly string[]): string {
  const place = where === undefined ? 'unknown field' : `unknown key in ${where}`;
  return suggestion !== undefined
    ? `${place} '${key}': did you mean '${suggestion}'?`
    : `${place} '${key}': expected ${expected.join(', ')} (a typo here would leave the position without its ${where === 'stopLoss' ? 'stop' : 'target'})`;
}

/** Sorts the body's top-level keys: options fields, near misses of known fields, and the rest that is ignored. */
function classifyKeys(body: Record<string, unknown>): { unsupported?: string; nearMisses: Issue[]; ignored: string[] } {
  const known: readonly string[] = KNOWN_FIELDS;
  const options: readonly string[] = OPTIONS_FIELDS;
  const nearMisses: Issue[] = [];
  const ignored: string[] = [];
  for (const key of Object.keys(body)) {
    if (known.includes(key)) continue;
    if (options.includes(key)) return { unsupported: key, nearMisses, ignored };
    const suggestion = nearMissOf(key, known);
    if (suggestion !== undefined) {
      nearMisses.push({ path: key, message: unknownKeyMessage(key, undefined, suggestion, known) });
    } else if (nearMissOf(key, options) !== undefined) {
      // `StrikePrice` or `expirations` is still an options alert: refused, never traded as the underlying.
      return { unsupported: key, nearMisses, ignored };
    } else {
      ignored.push(key);
    }
  }
  return { nearMisses, ignored };
}

/** Refuses every key of a nested object outside `allowed` (strict), suggesting the key meant where it can. */
function checkNestedKeys(obj: Record<string, unknown>, where: string, allowed: readonly string[], issues: Issue[]): void {
  for (const key of Object.keys(obj)) {
    if (allowed.includes(key)) continue;
    const suggestion = nearMissOf(key, allowed);
    issues.push({ path: `${where}.${key}`, message: unknownKeyMessage(key, where, suggestion, allowed) });
  }
}

function presentOf(obj: Record<string, unknown>, keys: readonly string[]): string[] {
  return keys.filter((key) => has(obj, key));
}

function readTakeProfit(value: unknown, issues: Issue[]): TakeProfitSpec | TargetLevelSpec[] | undefined {
  if (Array.isArray(value)) return readTakeProfitLevels(value, issues);
  const obj = readObject(value, 'takeProfit', issues);
  if (obj === undefined) return undefined;
  const before = issues.length;
  checkNestedKeys(obj, 'takeProfit', TAKE_PROFIT_KEYS, issues);
  const present = presentOf(obj, TAKE_PROFIT_KEYS);
  if (present.length === 0) {
    issues.push({ path: 'takeProfit', message: 'needs one of limitPrice, percent or amount' });
  } else if (present.length > 1) {
    issues.push({ path: 'takeProfit', message: `takes exactly one of limitPrice, percent or amount, not ${present.join(' and ')}` });
  }
  const spec: TakeProfitSpec = {};
  for (const key of TAKE_PROFIT_KEYS) {
    if (has(obj, key)) {
      const decimal = readDecimal(obj[key], `takeProfit.${key}`, issues, { positive: true });
      if (decimal !== undefined) spec[key] = decimal;
    }
  }
  return issues.length === before ? spec : undefined;
}

const LEVEL_KEYS = [...LEVEL_ANCHORS, 'size'] as const;
const MAX_LEVELS = 10;

/** A level's size: "50%", "rest", or a quantity (as text or a number). */
function readLevelSize(value: unknown, path: string, issues: Issue[]): LevelSize | undefined {
  if (typeof value === 'string') {
    const size = parseLevelSize(value);
    if (size === undefined) issues.push({ path, message: `expected a percent ("50%"), "rest" or a quantity, got ${JSON.stringify(value)}` });
    return size;
  }
  const quantity = readDecimal(value, path, issues, { positive: true });
  return quantity === undefined ? undefined : { kind: 'quantity', value: quantity };
}

/** A list of scale-out levels: each with exactly one price anchor and a size; the prices are checked once the fill is known. */
function readTakeProfitLevels(list: unknown[], issues: Issue[]): TargetLevelSpec[] | undefined {
  const before = issues.length;
  if (list.length === 0) issues.push({ path: 'takeProfit', message: 'a list of levels needs at least one level' });
  if (list.length > MAX_LEVELS) issues.push({ path: 'takeProfit', message: `at most ${MAX_LEVELS} levels, got ${list.length}` });
  const levels: TargetLevelSpec[] = [];
  list.slice(0, MAX_LEVELS).forEach((item, index) => {
    const where = `takeProfit[${index}]`;
    const obj = readObject(item, where, issues);
    if (obj === undefined) return;
    checkNestedKeys(obj, 'takeProfit', LEVEL_KEYS, issues);
    const present = presentOf(obj, LEVEL_ANCHORS);
    if (present.length !== 1) {
      issues.push({ path: where, message: present.length === 0 ? `needs one of ${LEVEL_ANCHORS.join(', ')}` : `takes exactly one of ${LEVEL_ANCHORS.join(', ')}, not ${present.join(' and ')}` });
    }
    if (!has(obj, 'size')) issues.push({ path: `${where}.size`, message: 'is required: a percent ("50%"), "rest" or a quantity' });
    const size = has(obj, 'size') ? readLevelSize(obj.size, `${where}.size`, issues) : undefined;
    if (size?.kind === 'rest' && index !== list.length - 1) issues.push({ path: `${where}.size`, message: '"rest" goes on the last level only' });
    const level: TargetLevelSpec = { size: size ?? { kind: 'rest' } };
    for (const key of LEVEL_ANCHORS) {
      if (has(obj, key)) {
        const decimal = readDecimal(obj[key], `${where}.${key}`, issues, { positive: true });
        if (decimal !== undefined) level[key] = decimal;
      }
    }
    levels.push(level);
  });
  return issues.length === before ? levels : undefined;
}

function readStopLoss(value: unknown, issues: Issue[]): StopLossSpec | undefined {
  const obj = readObject(value, 'stopLoss', issues);
  if (obj === undefined) return undefined;
  const before = issues.length;
  checkNestedKeys(obj, 'stopLoss', STOP_LOSS_KEYS, issues);
  const type = has(obj, 'type') ? readEnum(obj.type, 'stopLoss.type', issues, STOP_TYPES) : undefined;
  const triggers = presentOf(obj, STOP_LOSS_TRIGGERS);
  const spec: StopLossSpec = {};
  for (const key of [...STOP_LOSS_TRIGGERS, 'limitPrice'] as const) {
    if (has(obj, key)) {
      const decimal = readDecimal(obj[key], `stopLoss.${key}`, issues, { positive: true });
      if (decimal !== undefined) spec[key] = decimal;
    }
  }
  if (triggers.length === 0) {
    issues.push({ path: 'stopLoss', message: 'needs one of stopPrice, percent, amount, trailPercent or trailAmount' });
  } else if (triggers.length > 1) {
    issues.push({ path: 'stopLoss', message: `takes exactly one of stopPrice, percent, amount, trailPercent or trailAmount, not ${triggers.join(' and ')}` });
  }
  const trailing = triggers.some((key) => key === 'trailPercent' || key === 'trailAmount');
  const hasLimit = has(obj, 'limitPrice');
  if (has(obj, 'type') && type === undefined) return undefined;
  if (type === 'trailing_stop') {
    if (triggers.length === 1 && !trailing) {
      issues.push({ path: `stopLoss.${triggers[0] ?? ''}`, message: 'does not go with type trailing_stop: use trailPercent or trailAmount' });
    }
    if (hasLimit) issues.push({ path: 'stopLoss.limitPrice', message: 'goes with type stop_limit, not trailing_stop' });
  } else if (type === 'stop' || type === 'stop_limit') {
    if (trailing) issues.push({ path: `stopLoss.${triggers.find((k) => k.startsWith('trail')) ?? ''}`, message: `does not go with type ${type}: use type trailing_stop` });
    if (type === 'stop_limit' && !hasLimit) issues.push({ path: 'stopLoss.limitPrice', message: 'is required with type stop_limit' });
    if (type === 'stop' && hasLimit) issues.push({ path: 'stopLoss.limitPrice', message: 'goes with type stop_limit, not stop' });
  } else if (hasLimit && !trailing) {
    // A stop-limit may not fill in a gap: that weaker protection is chosen explicitly, never inferred.
    issues.push({ path: 'stopLoss.limitPrice', message: 'goes with type stop_limit: add "type": "stop_limit" to the stopLoss' });
  } else if (hasLimit) {
    issues.push({ path: 'stopLoss.limitPrice', message: 'does not go with a trailing stop' });
  }
  if (issues.length !== before) return undefined;
  spec.type = type ?? (trailing ? 'trailing_stop' : 'stop');
  return spec;
}

/** The order-type rules: each type's prices present, no price of another type. */
function checkOrderPrices(body: Record<string, unknown>, orderType: OrderType, issues: Issue[]): void {
  const fitting = ORDER_TYPE_FIELDS[orderType];
  for (const field of ORDER_PRICE_FIELDS) {
    if (has(body, field) && !fitting.includes(field)) {
      const owners = (Object.keys(ORDER_TYPE_FIELDS) as OrderType[]).filter((t) => ORDER_TYPE_FIELDS[t].includes(field));
      issues.push({ path: field, message: `goes with orderType ${owners.join(' or ')}, and this alert's orderType is ${orderType}` });
    }
  }
  if (orderType === 'trailing_stop') {
    const trails = presentOf(body, ['trailAmount', 'trailPercent']);
    if (trails.length === 0) issues.push({ path: 'trailPercent', message: 'orderType trailing_stop needs trailPercent or trailAmount' });
    if (trails.length > 1) issues.push({ path: 'trailAmount', message: 'orderType trailing_stop takes trailPercent or trailAmount, not both' });
  } else {
    for (const field of fitting) {
      if (!has(body, field)) issues.push({ path: field, message: `is required with orderType ${orderType}` });
    }
  }
}

/** Reads an optional field that has an alias (ticker/symbol, price/signalPrice): both given must agree. */
function readAliased<T>(
  body: Record<string, unknown>, name: string, alias: string, read: (value: unknown, path: string) => T | undefined,
  same: (a: T, b: T) => boolean, issues: Issue[],
): T | undefined {
  const main = has(body, name) ? read(body[name], name) : undefined;
  const other = has(body, alias) ? read(body[alias], alias) : undefined;
  if (main !== undefined && other !== undefined && !same(main, other)) {
    issues.push({ path: alias, message: `'${alias}' is another name for '${name}', and the two differ: send one` });
  }
  return main ?? other;
}

function readTicker(value: unknown, path: string, issues: Issue[]): string | undefined {
  const ticker = readName(value, path, issues, MAX_TICKER);
  if (ticker !== undefined && /\s/.test(ticker)) {
    issues.push({ path, message: `${JSON.stringify(ticker)} is not a ticker: tickers have no spaces ('NASDAQ:AAPL')` });
    return undefined;
  }
  return ticker;
}

/**
 * Validates an alert. Expects the body as parseBody gives it (numbers as their text); lossless numbers and
 * JS integers are accepted too. Options fields are refused first (fixing anything else would not make the
 * alert tradeable), then every field is checked and every problem listed, then an entry's age.
 * Never throws on any body; ctx.resolveSymbol is trusted not to.
 */
export function parseAlert(body: unknown, ctx: ParseContext): ParseResult {
  if (!isPlainObject(body)) {
    return { ok: false, error: 'invalid_signal', issues: [{ path: '', message: 'the alert message must be a JSON object' }] };
  }
  const keys = classifyKeys(body);
  if (keys.unsupported !== undefined) {
    return {
      ok: false, error: 'unsupported', field: keys.unsupported,
      message: `'${keys.unsupported}' is an options field: tradewire does not trade options, and does not trade the underlying instead`,
    };
  }
  const issues: Issue[] = [...keys.nearMisses];
  const rawPayload = stripSecret(body);

  if (has(body, 'passphrase') && extractPassphrase(body) === undefined) {
    issues.push({ path: 'passphrase', message: 'must be text' });
  }

  const bodyStrategy = has(body, 'strategy') ? readName(body.strategy, 'strategy', issues, MAX_NAME) : undefined;
  if (ctx.pathStrategy !== undefined && bodyStrategy !== undefined && bodyStrategy !== ctx.pathStrategy) {
    issues.push({ path: 'strategy', message: `the URL names strategy '${ctx.pathStrategy}' and the body '${bodyStrategy}': they must agree (or leave strategy out of the body)` });
  }
  const strategy = ctx.pathStrategy ?? bodyStrategy ?? 'default';

  const ticker = readAliased(body, 'ticker', 'symbol', (v, p) => readTicker(v, p, issues), (a, b) => a === b, issues);
  if (!has(body, 'ticker') && !has(body, 'symbol')) {
    issues.push({ path: 'ticker', message: 'is required: the TradingView ticker ("{{ticker}}")' });
  }

  let action: ParsedAlert['action'] | undefined;
  if (has(body, 'action')) action = readEnum(body.action, 'action', issues, ACTIONS);
  else issues.push({ path: 'action', message: `is required: one of ${ACTIONS.join(', ')} ("{{strategy.order.action}}" gives buy or sell)` });

  const sentimentWord = has(body, 'sentiment') ? readEnum(body.sentiment, 'sentiment', issues, SENTIMENTS) : undefined;
  const sentiment = sentimentWord === undefined ? undefined : normalizeSentiment(sentimentWord);

  const quantityType = has(body, 'quantityType') ? readEnum(body.quantityType, 'quantityType', issues, QUANTITY_TYPES) : undefined;
  const quantity = has(body, 'quantity')
    ? readDecimal(body.quantity, 'quantity', issues, { positive: true, ...(quantityType === 'percent_of_position' ? { max: HUNDRED } : {}) })
    : undefined;
  if (has(body, 'quantityType') && !has(body, 'quantity')) {
    issues.push({ path: 'quantity', message: 'is required when quantityType is given' });
  }

  const price = readAliased<Decimal>(
    body, 'price', 'signalPrice', (v, p) => readDecimal(v, p, issues, { positive: true }), (a, b) => a.eq(b), issues,
  );

  const orderType = has(body, 'orderType') ? readEnum(body.orderType, 'orderType', issues, ORDER_TYPES) : 'market';
  const orderPrices: Partial<Record<(typeof ORDER_PRICE_FIELDS)[number], Decimal>> = {};
  for (const field of ORDER_PRICE_FIELDS) {
    if (has(body, field)) {
      const decimal = readDecimal(body[field], field, issues, { positive: true });
      if (decimal !== undefined) orderPrices[field] = decimal;
    }
  }
  if (orderType !== undefined) checkOrderPrices(body, orderType, issues);

  const timeInForce = has(body, 'timeInForce') && !isBlank(body.timeInForce)
    ? readEnum(body.timeInForce, 'timeInForce', issues, TIMES_IN_FORCE) : undefined;
  const extendedHours = has(body, 'extendedHours') ? readBoolean(body.extendedHours, 'extendedHours', issues) : undefined;
  const takeProfit = has(body, 'takeProfit') ? readTakeProfit(body.takeProfit, issues) : undefined;
  const stopLoss = has(body, 'stopLoss') ? readStopLoss(body.stopLoss, issues) : undefined;
  const id = has(body, 'id') && !isBlank(body.id) ? readText(body.id, 'id', issues, MAX_ID) : undefined;
  const time = has(body, 'time') ? readTime(body.time, 'time', issues) : undefined;
  const account = has(body, 'account') && !isBlank(body.account) ? readName(body.account, 'account', issues, MAX_NAME) : undefined;
  const extras = has(rawPayload, 'extras') ? readObject(rawPayload.extras, 'extras', issues) : undefined;

  if (action === 'update' && !has(body, 'stopLoss') && !has(body, 'takeProfit')) {
    issues.push({ path: 'action', message: 'an update moves the open position\'s stop or targets: give stopLoss, takeProfit or both' });
  }
  if (issues.length > 0 || ticker === undefined || action === undefined || orderType === undefined) {
    return { ok: false, error: 'invalid_signal', issues };
  }

  const alert: ParsedAlert = { strategy, ticker, symbol: ctx.resolveSymbol(strategy, ticker), action, orderType };
  if (sentiment !== undefined) alert.sentiment = sentiment;
  if (quantity !== undefined) alert.quantity = quantity;
  if (quantityType !== undefined) alert.quantityType = quantityType;
  if (price !== undefined) alert.price = price;
  Object.assign(alert, orderPrices);
  if (timeInForce !== undefined) alert.timeInForce = timeInForce;
  if (extendedHours !== undefined) alert.extendedHours = extendedHours;
  if (takeProfit !== undefined) alert.takeProfit = takeProfit;
  if (stopLoss !== undefined) alert.stopLoss = stopLoss;
  if (id !== undefined) alert.id = id;
  if (time !== undefined) alert.time = time;
  if (account !== undefined) alert.account = account;
  if (extras !== undefined) alert.extras = extras;

  const ignored = keys.ignored;
  const stale = staleness(alert, ctx);
  if (stale !== undefined) return { ok: false, error: 'stale_signal', ...stale, alert, rawPayload, ignored };

  const passphrase = extractPassphrase(body);
  return passphrase === undefined
    ? { ok: true, alert, rawPayload, ignored }
    : { ok: true, alert, passphrase, rawPayload, ignored };
}

/**
 * Entries and adds older than maxSignalAgeSeconds are stale: the market has moved on. Exits and cancels are
 * carried out however old. A `time` in the future is never stale: the sender's clock is ahead, and refusing
 * would stop every alert from that sender.
 */
function staleness(alert: ParsedAlert, ctx: ParseContext): { message: string; time: Date; ageSeconds: number; maxSignalAgeSeconds: number } | undefined {
  const max = ctx.maxSignalAgeSeconds;
  if (alert.time === undefined || !Number.isFinite(max) || max <= 0) return undefined;
  // Exits, cancels and updates (moving protection) are carried out however old: they only make a position safer or smaller.
  if (alert.action === 'exit' || alert.action === 'cancel' || alert.action === 'update') return undefined;
  const ageMs = ctx.now.getTime() - alert.time.getTime();
  if (ageMs <= max * 1000) return undefined;
  const ageSeconds = Math.floor(ageMs / 1000);
  return {
    message: `the alert fired at ${alert.time.toISOString()}, ${ageSeconds} s ago; ${alert.action === 'add' ? 'an add' : `an entry (${alert.action})`} older than ${max} s is refused (maxSignalAgeSeconds)`,
    time: alert.time, ageSeconds, maxSignalAgeSeconds: max,
  };
}
