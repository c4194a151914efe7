// Binance signing: the HMAC over the exact query, timestamp and recvWindow placement, and the server clock's offset.
import { describe, expect, it } from 'vitest';
import { binanceSigner, ServerClock, signature } from '../../../src/brokers/binance/signer.ts';

const SECRET = 'test-secret-0123456789';

describe('signature', () => {
  it("matches the reference vectors (HEX of HMAC-SHA256 over the query string)", () => {
    expect(signature(SECRET, 'symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.010&newClientOrderId=bot-7f3a-entry&newOrderRespType=RESULT&recvWindow=5000&timestamp=1767225600000'))
      .toBe('011e889d87111ba379a404ee5c8fcfda6fbad399cd1f51c939b5c3eee1327511');
    expect(signature(SECRET, 'algoType=CONDITIONAL&symbol=BTCUSDT&side=SELL&type=STOP_MARKET&triggerPrice=58000&closePosition=true&workingType=MARK_PRICE&clientAlgoId=bot-7f3a-sl&recvWindow=5000&timestamp=1767225600050'))
      .toBe('0f73a1b5357b0b078eb41a3fad79e530a6307bf744950e2d6a4738db5b4f68e5');
  });

  it('the signer appends recvWindow, the server timestamp and the signature, and sets the key header', () => {
    const sign = binanceSigner({ apiKey: 'KEY', apiSecret: SECRET, recvWindowMs: 5000, serverNow: () => 1767225600000 });
    const url = new URL('https://fapi.binance.test/fapi/v1/order?symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.010&newClientOrderId=bot-7f3a-entry&newOrderRespType=RESULT');
    const signed = sign({ method: 'POST', url, headers: new Headers(), body: undefined });
    expect(signed.url.search).toBe('?symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.010&newClientOrderId=bot-7f3a-entry&newOrderRespType=RESULT' +
      '&recvWindow=5000&timestamp=1767225600000&signature=011e889d87111ba379a404ee5c8fcfda6fbad399cd1f51c939b5c3eee1327511');
    expect(signed.headers.get('X-MBX-APIKEY')).toBe('KEY');
  });

  it('signs the body too when there is one, and re-signing replaces the old signature', () => {
    const sign = binanceSigner({ apiKey: 'KEY', apiSecret: SECRET, recvWindowMs: 1000, serverNow: () => 42 });
    const once = sign({ method: 'POST', url: new URL('https://x.test/p?a=1'), headers: new Headers(), body: 'b=2' });
    expect(once.url.searchParams.get('signature')).toBe(signature(SECRET, 'a=1&recvWindow=1000&timestamp=42b=2'));
    const twice = sign(once);
    expect(twice.url.searchParams.getAll('signature')).toHaveLength(1);
  });
});

describe('ServerClock', () => {
  it("takes the offset against the round trip's midpoint", async () => {
    let local = 1_000_000;
    const clock = new ServerClock(() => local);
    // The request takes 200 ms; the server read its clock (1,010,100) in the middle of it.
    const offset = await clock.sync(async () => { local += 200; return 1_010_100; });
    expect(offset).toBe(1_010_100 - 1_000_100);
    expect(clock.now()).toBe(local + 10_000);
  });
});
