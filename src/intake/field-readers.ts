// Readers for single alert values (decimals, enums, text, booleans, times): each pushes a human-readable issue or returns the value.
import { isLosslessNumber } from 'lossless-json';
import { Decimal, isDecimalText } from '../domain/money.ts';

/** One problem with an alert, named by its path in the body ('stopLoss.trailPercent', '' for the body itself). */
export interface Issue {
  path: string;
  message: string;
}

const PLACEHOLDER = /\{\{\s*[^{}]*\}\}/;

/** A short, safe rendering of what was sent, for messages: long strings are cut, objects named by kind. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') {
    const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
    return JSON.stringify(shown);
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (isLosslessNumber(value)) return value.value;
  if (typeof value === 'object') return 'an object';
  return String(value);
}

/** TradingView leaves a placeholder as written when it has nothing for it (a strategy placeholder in an indicator alert). */
function placeholderIn(text: string): string | undefined {
  return PLACEHOLDER.exec(text)?.[0];
}

function placeholderMessage(placeholder: string): string {
  return `contains ${placeholder}, which TradingView did not fill in (is that placeholder available in this kind of alert?)`;
}

export interface DecimalRules {
  /** Greater than zero (every quantity, price, amount and percent in an alert is). */
  positive?: boolean;
  /** At most this value (a percent of the position cannot exceed 100). */
  max?: Decimal;
}

/**
 * A number from its source text: a numeric string, a lossless number, or a JS safe integer. A fractional
 * JS number has already been through a float, so it is refused rather than silently rounded.
 */
const MAX_MAGNITUDE = new Decimal('1e15');
const MIN_MAGNITUDE = new Decimal('1e-12');

export function readDecimal(value: unknown, path: string, issues: Issue[], rules: DecimalRules = {}): Decimal | undefined {
  let text: string;
  if (typeof value === 'string') {
    text = value.trim();
  } else if (isLosslessNumber(value)) {
    text = value.value;
  } else if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      issues.push({ path, message: `${describeValue(value)} was read as a floating-point number, which may have changed it; send the number's text` });
      return undefined;
    }
    text = String(value);
  } else {
    issues.push({ path, message: `must be a number or a numeric string, not ${describeValue(value)}` });
    return undefined;
  }
  const placeholder = placeholderIn(text);
  if (placeholder !== undefined) {
    issues.push({ path, message: placeholderMessage(placeholder) });
    return undefined;
  }
  if (text === '') {
    issues.push({ path, message: 'is empty: expected a number' });
    return undefined;
  }
  if (!isDecimalText(text)) {
    issues.push({ path, message: `${describeValue(value)} is not a number` });
    return undefined;
  }
  const decimal = new Decimal(text);
  // Bounds no real price or quantity comes near, so an exponent typo (1e999, 1e-400) is refused, not traded.
  if (!decimal.isFinite() || decimal.abs().gt(MAX_MAGNITUDE) || (!decimal.isZero() && decimal.abs().lt(MIN_MAGNITUDE))) {
    issues.push({ path, message: `${describeValue(value)} is out of range (between 1e-12 and 1e15)` });
    return undefined;
  }
  if (rules.positive === true && !decimal.gt(0)) {
    issues.push({ path, message: `must be greater than 0, not ${text}` });
    return undefined;
  }
  if (rules.max !== undefined && decimal.gt(rules.max)) {
    issues.push({ path, message: `must be at most ${rules.max.toString()}, not ${text}` });
    return undefined;
  }
  return decimal;
}

/** One of a fixed set of words, case-insensitive ('BUY' is buy): TradingView placeholders and people vary in case. */
export function readEnum<const T extends readonly [string, ...string[]]>(
  value: unknown, path: string, issues: Issue[], values: T,
): T[number] | undefined {
  if (typeof value === 'string') {
    const placeholder = placeholderIn(value);
    if (placeholder !== undefined) {
      issues.push({ path, message: placeholderMessage(placeholder) });
      return undefined;
    }
  }
  const expected = `must be one of ${values.join(', ')}, not ${describeValue(value)}`;
  if (typeof value !== 'string') {
    issues.push({ path, message: expected });
    return undefined;
  }
  const word = value.trim().toLowerCase();
  if (!(values as readonly string[]).includes(word)) {
    issues.push({ path, message: expected });
    return undefined;
  }
  return word as T[number];
}

/** Non-empty text without control characters, trimmed, at most `max` characters. */
export function readText(value: unknown, path: string, issues: Issue[], max: number): string | undefined {
  if (typeof value === 'string') {
    const placeholder = placeholderIn(value);
    if (placeholder !== undefined) {
      issues.push({ path, message: placeholderMessage(placeholder) });
      return undefined;
    }
  }
  if (typeof value !== 'string') {
    issues.push({ path, message: `must be text, not ${describeValue(value)}` });
    return undefined;
  }
  const text = value.trim();
  const problem = text === '' ? 'is empty'
    : text.length > max ? `is longer than ${max} characters`
      // eslint-disable-next-line no-control-regex
      : /[\u0000-\u001f\u007f-\u009f]/.test(text) ? 'contains control characters' : undefined;
  if (problem) {
    issues.push({ path, message: problem });
    return undefined;
  }
  return text;
}

/** Format characters: zero-width space and joiners, bidi controls, soft hyphen, BOM, word joiner, tag characters. */
const FORMAT = /\p{Cf}/u;
/** Letters and marks that show as nothing: Hangul fillers, Khmer inherent vowels, the braille blank, the combining grapheme joiner. */
const BLANKS = new Set([0x034f, 0x115f, 0x1160, 0x17b4, 0x17b5, 0x2800, 0x3164, 0xffa0]);

/** The first character of `text` that shows as nothing (format characters, variation selectors, blanks), if any. */
function invisibleIn(text: string): string | undefined {
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (FORMAT.test(char) || BLANKS.has(code) || (code >= 0x180b && code <= 0x180f) || (code >= 0xfe00 && code <= 0xfe0f)
      || (code >= 0xe0100 && code <= 0xe01ef)) return char;
  }
  return undefined;
}

/** Scripts whose letters look alike across them; Chinese, Japanese and Korean count as one group (they mix in names). */
const SCRIPTS: ReadonlyArray<[string, RegExp]> = [
  ['Latin', /\p{Script=Latin}/u], ['Greek', /\p{Script=Greek}/u], ['Cyrillic', /\p{Script=Cyrillic}/u],
  ['Armenian', /\p{Script=Armenian}/u], ['Hebrew', /\p{Script=Hebrew}/u], ['Arabic', /\p{Script=Arabic}/u],
  ['Cherokee', /\p{Script=Cherokee}/u], ['Georgian', /\p{Script=Georgian}/u], ['Devanagari', /\p{Script=Devanagari}/u],
  ['Thai', /\p{Script=Thai}/u], ['CJK', /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\p{Script=Bopomofo}]/u],
];

/** The scripts of the letters in `text` ('Latin', 'Cyrillic', ...); ASCII text is Latin at most, without a look. */
function scriptsOf(text: string): string[] {
  if (!/[^\x20-\x7e]/.test(text)) return /[A-Za-z]/.test(text) ? ['Latin'] : [];
  return SCRIPTS.filter(([, pattern]) => pattern.test(text)).map(([name]) => name);
}

/**
 * A name that decides where an alert goes (ticker, symbol, strategy, account): readText, then Unicode NFKC (full-width
 * 'ＡＡＰＬ' is 'AAPL'), and refused when it holds an invisible character or letters of two scripts ('АAPL' with a
 * Cyrillic А), so a look-alike can never be a second name beside the real one.
 */
export function readName(value: unknown, path: string, issues: Issue[], max: number): string | undefined {
  const text = readText(value, path, issues, max);
  if (text === undefined) return undefined;
  const name = /^[\x20-\x7e]*$/.test(text) ? text : text.normalize('NFKC').trim();
  const invisible = invisibleIn(name);
  const scripts = scriptsOf(name);
  const problem = invisible !== undefined
    ? `contains an invisible character (U+${(invisible.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}): type the name without it`
    // eslint-disable-next-line no-control-regex
    : /[\u0000-\u001f\u007f-\u009f]/.test(name) ? 'contains control characters'
      : name === '' ? 'is empty'
        : scripts.length > 1 ? `mixes letters of ${scripts.join(' and ')} scripts: a look-alike of another name?` : undefined;
  if (problem) {
    issues.push({ path, message: problem });
    return undefined;
  }
  return name;
}

/** true or false, as JSON booleans or as the text 'true'/'false' (a placeholder renders text). */
export function readBoolean(value: unknown, path: string, issues: Issue[]): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const word = value.trim().toLowerCase();
    if (word === 'true') return true;
    if (word === 'false') return false;
  }
  issues.push({ path, message: `must be true or false, not ${describeValue(value)}` });
  return undefined;
}

/** A JSON object (not a list, not null). */
export function readObject(value: unknown, path: string, issues: Issue[]): Record<string, unknown> | undefined {
  if (isPlainObject(value)) return value;
  issues.push({ path, message: `must be an object ({...}), not ${describeValue(value)}` });
  return undefined;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || isLosslessNumber(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?([Zz]|[+-]\d{2}:?\d{2})$/;
const EPOCH_MS = /^\d+$/;
/** Epoch milliseconds below this are before 1973: such a value is epoch seconds sent by mistake. */
const EPOCH_MS_FLOOR = 100_000_000_000;

function readIsoTime(text: string, path: string, issues: Issue[]): Date | undefined {
  const match = ISO_8601.exec(text);
  if (!match) {
    const message = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(text)
      ? `${describeValue(text)} has no time zone: add 'Z' for UTC (TradingView's {{timenow}} has it)`
      : `${describeValue(text)} is not a time: expected ISO-8601 ('2024-05-01T14:30:00Z') or epoch milliseconds`;
    issues.push({ path, message });
    return undefined;
  }
  const [, y, mo, d, h, mi, s, frac, zone] = match;
  const year = Number(y), month = Number(mo), day = Number(d), hour = Number(h), minute = Number(mi), second = Number(s ?? '0');
  const ms = Number((frac ?? '0').padEnd(3, '0').slice(0, 3));
  const utc = new Date(Date.UTC(year, month - 1, day, hour, minute, second, ms));
  // Date.UTC rolls 30 February over into March; a time that does not come back unchanged does not exist.
  if (utc.getUTCFullYear() !== year || utc.getUTCMonth() !== month - 1 || utc.getUTCDate() !== day ||
      utc.getUTCHours() !== hour || utc.getUTCMinutes() !== minute || utc.getUTCSeconds() !== second) {
    issues.push({ path, message: `${describeValue(text)} is not a real date and time` });
    return undefined;
  }
  let offsetMinutes = 0;
  if (zone !== undefined && zone.toUpperCase() !== 'Z') {
    const digits = zone.replace(':', '');
    const zh = Number(digits.slice(1, 3)), zm = Number(digits.slice(3, 5));
    if (zh > 23 || zm > 59) {
      issues.push({ path, message: `${describeValue(text)} has an impossible time zone offset` });
      return undefined;
    }
    offsetMinutes = (digits.startsWith('-') ? -1 : 1) * (zh * 60 + zm);
  }
  return new Date(utc.getTime() - offsetMinutes * 60_000);
}

/** When the alert fired: ISO-8601 with a zone, or epoch milliseconds (number or text). */
export function readTime(value: unknown, path: string, issues: Issue[]): Date | undefined {
  let text: string;
  if (typeof value === 'string') text = value.trim();
  else if (isLosslessNumber(value)) text = value.value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) text = String(value);
  else {
    issues.push({ path, message: `must be an ISO-8601 time or epoch milliseconds, not ${describeValue(value)}` });
    return undefined;
  }
  const placeholder = placeholderIn(text);
  if (placeholder !== undefined) {
    issues.push({ path, message: placeholderMessage(placeholder) });
    return undefined;
  }
  if (text === '') {
    issues.push({ path, message: 'is empty: expected an ISO-8601 time or epoch milliseconds' });
    return undefined;
  }
  if (EPOCH_MS.test(text)) {
    const ms = Number(text);
    if (ms < EPOCH_MS_FLOOR) {
      issues.push({ path, message: `${text} looks like epoch seconds: send epoch milliseconds or an ISO-8601 time` });
      return undefined;
    }
    const date = new Date(ms);
    if (!Number.isSafeInteger(ms) || Number.isNaN(date.getTime())) {
      issues.push({ path, message: `${text} is out of range for a time` });
      return undefined;
    }
    return date;
  }
  return readIsoTime(text, path, issues);
}
