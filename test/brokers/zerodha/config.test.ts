// A zerodha account's settings: the defaults a bare account gets, and the values Kite would refuse, refused at load.
import { describe, expect, it } from 'vitest';
import { accountSchema } from '../../../src/config/schema.ts';

const base = { broker: 'zerodha', apiKey: 'k', apiSecret: 's', accessToken: 't', live: true };

describe('zerodha account settings', () => {
  it('default to NSE delivery (CNC), Kite-chosen market protection and a 2 % GTT stop limit', () => {
    const account = accountSchema.parse(base);
    expect(account).toMatchObject({ exchange: 'NSE', product: 'CNC', marketProtection: -1 });
    expect(account.broker === 'zerodha' && account.gttStopLimitPercent.toFixed()).toBe('2');
  });

  it('take MIS or NRML, another exchange and a market protection cap', () => {
    expect(accountSchema.parse({ ...base, exchange: 'NFO', product: 'NRML', marketProtection: 5 })).toMatchObject({ exchange: 'NFO', product: 'NRML', marketProtection: 5 });
  });

  it('refuse market protection 0 (Kite refuses market orders without it), an unknown product, and trading without live: true', () => {
    expect(accountSchema.safeParse({ ...base, marketProtection: 0 }).success).toBe(false);
    expect(accountSchema.safeParse({ ...base, product: 'MTF' }).success).toBe(false);
    expect(accountSchema.safeParse({ ...base, exchange: 'MCX' }).success).toBe(false);
    expect(accountSchema.safeParse({ ...base, live: false }).success).toBe(false);
  });
});
