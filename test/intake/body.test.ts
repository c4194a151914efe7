import { describe, expect, it } from 'vitest';
import { parseBody } from '../../src/intake/body.ts';

describe('parseBody', () => {
  it('keeps a 20-digit decimal as its exact text', () => {
    const result = parseBody('{"price": 0.12345678901234567891, "quantity": 12345678901234567890123}', 'application/json');
    expect(result).toEqual({ ok: true, body: { price: '0.12345678901234567891', quantity: '12345678901234567890123' } });
  });

  it('reads a JSON message sent as text/plain, as TradingView sends some', () => {
    const result = parseBody(Buffer.from('{"ticker":"NASDAQ:AAPL","action":"buy"}'), 'text/plain; charset=utf-8');
    expect(result).toEqual({ ok: true, body: { ticker: 'NASDAQ:AAPL', action: 'buy' } });
  });

  it('accepts a content type with parameters and in another case', () => {
    expect(parseBody('{"a":1}', 'Application/JSON; charset=UTF-8').ok).toBe(true);
  });

  it('refuses a plain-text message that is not JSON, and says why TradingView sent it so', () => {
    const result = parseBody('BUY AAPL 10 @ 187.23', 'text/plain');
    expect(result.ok).toBe(false);
    if (result.ok || result.error !== 'invalid_signal') throw new Error('expected invalid_signal');
    expect(result.issues[0]?.message).toMatch(/not JSON.*plain text/);
  });

  it('refuses nesting deeper than 32 levels before parsing it, naming the limit; brackets inside strings do not count', () => {
    const deep = (n: number) => `{"a":${'['.repeat(n - 1)}${']'.repeat(n - 1)}}`;
    expect(parseBody(deep(32), 'application/json').ok).toBe(true);
    expect(parseBody(deep(33), 'application/json')).toMatchObject({ ok: false, error: 'invalid_signal', issues: [{ path: '', message: expect.stringContaining('32 levels') }] });
    expect(parseBody(deep(200_000), 'text/plain')).toMatchObject({ ok: false, error: 'invalid_signal', issues: [{ message: expect.stringContaining('32 levels') }] });
    expect(parseBody(`{"note":"${'['.repeat(100)}\\"{{{"}`, 'application/json')).toEqual({ ok: true, body: { note: `${'['.repeat(100)}"{{{` } });
  });

  it('refuses broken JSON sent as application/json', () => {
    const result = parseBody('{"ticker": "AAPL",}', 'application/json');
    expect(result).toMatchObject({ ok: false, error: 'invalid_signal', issues: [{ path: '', message: expect.stringMatching(/not valid JSON/) }] });
  });

  it.each([
    ['a list', '[{"action":"buy"}]'],
    ['a string', '"buy"'],
    ['a number', '42'],
    ['null', 'null'],
  ])('refuses %s at the top level', (_name, text) => {
    expect(parseBody(text, 'application/json')).toMatchObject({ ok: false, error: 'invalid_signal', issues: [{ message: expect.stringMatching(/JSON object/) }] });
  });

  it('refuses an empty body', () => {
    expect(parseBody('  ', 'application/json')).toMatchObject({ ok: false, error: 'invalid_signal', issues: [{ message: expect.stringMatching(/empty/) }] });
  });

  it('refuses duplicate keys: two passphrases or two actions have no honest reading', () => {
    expect(parseBody('{"action":"buy","action":"sell"}', 'application/json')).toMatchObject({ ok: false, error: 'invalid_signal' });
  });

  it('refuses bytes that are not UTF-8', () => {
    expect(parseBody(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 'application/json')).toMatchObject({ ok: false, error: 'invalid_signal' });
  });

  it('reads a body with a byte-order mark', () => {
    expect(parseBody(Buffer.from('\ufeff{"a":"b"}'), 'application/json')).toEqual({ ok: true, body: { a: 'b' } });
  });

  it.each([undefined, 'application/x-www-form-urlencoded', 'multipart/form-data'])('leaves content type %s to be answered 415', (type) => {
    expect(parseBody('{"a":1}', type)).toEqual({ ok: false, error: 'unsupported_media_type', contentType: type });
  });

  it('keeps a __proto__ key as a plain key, never as a prototype', () => {
    const result = parseBody('{"__proto__": {"polluted": true}}', 'application/json');
    if (!result.ok) throw new Error('expected ok');
    expect(Object.getPrototypeOf(result.body)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
