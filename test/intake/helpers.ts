// Shared test helpers for the intake parser: a context with a fixed clock and a simple symbol map.
import type { ParseContext, ParseResult } from '../../src/intake/parse.ts';
import { parseAlert } from '../../src/intake/parse.ts';
import { parseBody } from '../../src/intake/body.ts';

export const NOW = new Date('2026-11-23T15:00:00.000Z');

export function context(overrides: Partial<ParseContext> = {}): ParseContext {
  return {
    now: NOW,
    maxSignalAgeSeconds: 60,
    // Unmapped tickers lose their exchange prefix, as the config's symbol map does.
    resolveSymbol: (_strategy, ticker) => ticker.split(':').pop() ?? ticker,
    ...overrides,
  };
}

/** Parses a JSON text the way the webhook will: body first, then the alert. */
export function parseText(text: string, overrides: Partial<ParseContext> = {}, contentType = 'application/json'): ParseResult {
  const body = parseBody(text, contentType);
  if (!body.ok) throw new Error(`body did not parse: ${JSON.stringify(body)}`);
  return parseAlert(body.body, context(overrides));
}

export function parseObject(obj: Record<string, unknown>, overrides: Partial<ParseContext> = {}): ParseResult {
  return parseText(JSON.stringify(obj), overrides);
}

/** The issues of a refused alert, or a failure naming what came back instead. */
export function issuesOf(result: ParseResult): { path: string; message: string }[] {
  if (result.ok || result.error !== 'invalid_signal') throw new Error(`expected invalid_signal, got ${JSON.stringify(result)}`);
  return result.issues;
}

export function pathsOf(result: ParseResult): string[] {
  return issuesOf(result).map((issue) => issue.path);
}
