import { describe, expect, it } from 'vitest';
import { clientOrderId, isOwnClientOrderId, pooledRandom, signalIdFactory } from '../../src/domain/ids.ts';
import {
  BrokerError, DuplicateClientOrderIdError, InsufficientFundsError, InvalidOrderError, NetworkError, RateLimitError, TimeoutError,
  AuthenticationError, isRetryable,
} from '../../src/domain/errors.ts';

const BINANCE = { maxLength: 36, alphabet: '.A-Z:/a-z0-9_-' };
const KITE = { maxLength: 20, alphabet: 'A-Za-z0-9' };

describe('client order ids', () => {
  it('are deterministic per signal, account and leg', () => {
    const a = clientOrderId({ source: '01JABCDEF', account: 'paper', leg: 'entry' }, BINANCE);
    expect(clientOrderId({ source: '01JABCDEF', account: 'paper', leg: 'entry' }, BINANCE)).toBe(a);
    expect(clientOrderId({ source: '01JABCDEF', account: 'paper', leg: 'stop' }, BINANCE)).not.toBe(a);
    expect(clientOrderId({ source: '01JABCDEF', account: 'live', leg: 'entry' }, BINANCE)).not.toBe(a);
    expect(clientOrderId({ source: '01JABCDEF', account: 'paper', leg: 'entry', sequence: 2 }, BINANCE)).not.toBe(a);
  });

  it('fit Binance limits and carry the prefix', () => {
    const id = clientOrderId({ source: '01JABCDEFGHJKMNPQRSTVWXYZ0', account: 'binance-main', leg: 'target' }, BINANCE);
    expect(id.length).toBeLessThanOrEqual(36);
    expect(id).toMatch(/^[.A-Z:/a-z0-9_-]{1,36}$/);
    expect(isOwnClientOrderId(id)).toBe(true);
  });

  it('fit a 20-character alphanumeric limit (Kite tag)', () => {
    const id = clientOrderId({ source: '01JABCDEFGHJKMNPQRSTVWXYZ0', account: 'kite', leg: 'entry' }, KITE);
    expect(id.length).toBeLessThanOrEqual(20);
    expect(id).toMatch(/^[A-Za-z0-9]+$/);
  });

  it('a Kite tag (letters and digits only) still carries the prefix and the leg, and is recognised as ours', () => {
    const stop = clientOrderId({ source: '01JABCDEFGHJKMNPQRSTVWXYZ0', account: 'kite', leg: 'stop', sequence: 2 }, KITE);
    expect(stop).toMatch(/^twst[0-9a-f]{16}$/);
    expect(isOwnClientOrderId(stop)).toBe(true);
    expect(clientOrderId({ source: '01JABCDEFGHJKMNPQRSTVWXYZ0', account: 'kite', leg: 'target' }, KITE)).toMatch(/^twta[0-9a-f]{16}$/);
    // A tag someone else chose is not taken for ours.
    expect(isOwnClientOrderId('twstrategy1')).toBe(false);
    expect(isOwnClientOrderId('connecttestorder1')).toBe(false);
  });

  it('an id without our prefix is not ours', () => {
    expect(isOwnClientOrderId('web-12345')).toBe(false);
  });
});

describe('error tree', () => {
  it('transient errors are retryable, rejections are not', () => {
    expect(isRetryable(new NetworkError('reset', { broker: 'x' }))).toBe(true);
    expect(isRetryable(new TimeoutError('slow', { broker: 'x' }))).toBe(true);
    expect(isRetryable(new InsufficientFundsError('no money', { broker: 'x' }))).toBe(false);
    expect(isRetryable(new AuthenticationError('bad key', { broker: 'x' }))).toBe(false);
    expect(isRetryable(new Error('plain'))).toBe(false);
  });

  it('keeps the vendor code and message and the kind for the recorded reason', () => {
    const e = new DuplicateClientOrderIdError('seen', { broker: 'binance-usdm', code: -4116, vendorMessage: 'ClientOrderId is duplicated.' });
    expect(e).toBeInstanceOf(InvalidOrderError);
    expect(e).toBeInstanceOf(BrokerError);
    expect(e.code).toBe(-4116);
    expect(e.vendorMessage).toBe('ClientOrderId is duplicated.');
    expect(e.kind).toBe('duplicate_client_order_id');
    expect(e.name).toBe('DuplicateClientOrderIdError');
  });

  it('a rate limit carries Retry-After', () => {
    const e = new RateLimitError('slow down', { broker: 'alpaca', retryAfterMs: 1500 });
    expect(e.retryAfterMs).toBe(1500);
    expect(e.retryable).toBe(true);
  });
});

describe('signal ids', () => {
  it('are ULIDs that sort in the order they were made, within one millisecond and across', () => {
    const next = signalIdFactory();
    const ids = [next(1_700_000_000_000), next(1_700_000_000_000), next(1_700_000_000_000), next(1_700_000_000_001)];
    for (const id of ids) expect(id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('draw their randomness evenly from the pool: every one of the 32 characters appears, none dominates', () => {
    const next = signalIdFactory();
    const counts = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      // A new millisecond each time, so the random part is fresh rather than incremented.
      for (const ch of next(1_700_000_000_000 + i * 7).slice(10)) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    }
    expect(counts.size).toBe(32);
    const expected = (2000 * 16) / 32;
    for (const count of counts.values()) expect(Math.abs(count - expected)).toBeLessThan(expected * 0.25);
  });

  it('pooledRandom refills its pool and stays in [0, 1)', () => {
    const random = pooledRandom(8);
    const values = Array.from({ length: 100 }, () => random());
    expect(values.every((v) => v >= 0 && v < 1)).toBe(true);
    expect(new Set(values).size).toBeGreaterThan(20);
  });
});
