// A venue's socket frame as JSON, numbers kept exact: a safe integer stays a number, anything else arrives as its text.
import { parse } from 'lossless-json';

function exactNumber(text: string): number | string {
  const n = Number(text);
  return Number.isSafeInteger(n) && /^-?\d+$/.test(text) ? n : text;
}

/** Undefined for text that is not JSON (counted as malformed by the caller, never thrown into the socket). */
export function parseWireJson(text: string): unknown {
  try {
    return parse(text, null, exactNumber);
  } catch {
    return undefined;
  }
}
