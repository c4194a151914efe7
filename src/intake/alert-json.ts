// The parsed alert in JSON form for queue jobs: decimals as their exact text, times as ISO-8601, and back.
import { Decimal } from '../domain/money.ts';
import { parseLevelSize, type LevelSize, type TargetLevelSpec } from '../domain/scale-out.ts';
import type { ParsedAlert } from './parse.ts';

const DECIMAL_KEYS = new Set(['quantity', 'price', 'limitPrice', 'stopPrice', 'trailAmount', 'trailPercent', 'percent', 'amount', 'rMultiple']);
const NESTED_KEYS = new Set(['takeProfit', 'stopLoss']);

/** A level's size as the text the alert would carry ("50%", "rest", "0.5"): parseLevelSize reads it back. */
function sizeText(size: LevelSize): string {
  return size.kind === 'rest' ? 'rest' : size.kind === 'percent' ? `${size.value.toFixed()}%` : size.value.toFixed();
}

function encode(value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined) continue;
    if (key === 'takeProfit' && Array.isArray(v)) {
      out[key] = (v as TargetLevelSpec[]).map(({ size, ...anchors }) => ({ ...encode(anchors), size: sizeText(size) }));
      continue;
    }
    if (Decimal.isDecimal(v)) out[key] = (v as Decimal).toString();
    else if (v instanceof Date) out[key] = v.toISOString();
    else if (NESTED_KEYS.has(key) && v !== null && typeof v === 'object') out[key] = encode(v as Record<string, unknown>);
    else out[key] = v;
  }
  return out;
}

function decode(value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (key === 'takeProfit' && Array.isArray(v)) {
      out[key] = (v as Array<Record<string, unknown>>).map(({ size, ...anchors }) => ({ ...decode(anchors), size: parseLevelSize(String(size)) }));
      continue;
    }
    if (DECIMAL_KEYS.has(key) && typeof v === 'string') out[key] = new Decimal(v);
    else if (key === 'time' && typeof v === 'string') out[key] = new Date(v);
    else if (NESTED_KEYS.has(key) && v !== null && typeof v === 'object') out[key] = decode(v as Record<string, unknown>);
    else out[key] = v;
  }
  return out;
}

export function alertToJson(alert: ParsedAlert): Record<string, unknown> {
  return encode(alert as unknown as Record<string, unknown>);
}

export function alertFromJson(json: Record<string, unknown>): ParsedAlert {
  return decode(json) as unknown as ParsedAlert;
}
