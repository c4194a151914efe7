// Turns a webhook body (JSON, or JSON sent as text/plain) into a plain object whose numbers keep their source text.
import { parse } from 'lossless-json';
import type { Issue } from './field-readers.ts';

export type BodyResult =
  | { ok: true; body: Record<string, unknown> }
  | { ok: false; error: 'unsupported_media_type'; contentType: string | undefined }
  | { ok: false; error: 'invalid_signal'; issues: Issue[] };

/** The media type without parameters ('application/json; charset=utf-8' → 'application/json'), lower case. */
function mediaType(contentType: string | undefined): string | undefined {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  return type === '' ? undefined : type;
}

function invalid(message: string): BodyResult {
  return { ok: false, error: 'invalid_signal', issues: [{ path: '', message }] };
}

/** The deepest nesting of arrays and objects a body may have: alerts are flat, and deeper input only feeds recursion. */
export const MAX_NESTING_DEPTH = 32;

/** Whether the JSON text nests deeper than `limit`, counted in one pass before any recursive parser sees it. */
export function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * Parses the body of a webhook request. Only application/json and text/plain are read (anything else
 * is for the caller to answer 415). Numbers come back as their source text, never as JS numbers:
 * `0.12345678901234567891` stays exactly that on its way to Decimal. Duplicate keys are refused
 * (lossless-json does it), since two `passphrase` or two `action` keys have no honest reading.
 */
export function parseBody(raw: string | Buffer | Uint8Array, contentType: string | undefined): BodyResult {
  const type = mediaType(contentType);
  if (type !== 'application/json' && type !== 'text/plain') return { ok: false, error: 'unsupported_media_type', contentType };
  let text: string;
  if (typeof raw === 'string') {
    text = raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
  } else {
    try {
      text = utf8.decode(raw);
    } catch {
      return invalid('the body is not valid UTF-8 text');
    }
  }
  if (text.trim() === '') return invalid('the body is empty: the alert message must be a JSON object');
  if (nestsDeeperThan(text, MAX_NESTING_DEPTH)) {
    return invalid(`the body nests arrays or objects deeper than ${MAX_NESTING_DEPTH} levels: an alert is a flat JSON object`);
  }
  let value: unknown;
  try {
    value = parse(text, null, (numberText) => numberText);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    if (type === 'text/plain') {
      return invalid(
        `the alert message is not JSON (TradingView sends plain text when the message is not valid JSON; ` +
        `check its quotes, commas and braces): ${detail}`,
      );
    }
    return invalid(`the body is not valid JSON: ${detail}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return invalid(`the alert message must be a JSON object ({"ticker": ..., "action": ...}), not ${Array.isArray(value) ? 'a list' : 'a single value'}`);
  }
  return { ok: true, body: value as Record<string, unknown> };
}
