import { describe, expect, it } from 'vitest';
import type { TakeProfitSpec } from '../../src/domain/signal.ts';
import { parseAlert } from '../../src/intake/parse.ts';
import { extractPassphrase, stripSecret } from '../../src/intake/secret.ts';
import { NOW, context, issuesOf, parseObject, parseText, pathsOf } from './helpers.ts';

function accepted(result: ReturnType<typeof parseAlert>) {
  if (!result.ok) throw new Error(`expected ok, got ${JSON.stringify(result)}`);
  return result;
}

describe('TradersPost-style alerts parse unchanged', () => {
  it('an entry with a target and a trailing stop, every number a string from a placeholder', () => {
    const result = accepted(parseText(`{
      "ticker": "NASDAQ:AAPL", "action": "buy", "sentiment": "bullish", "quantity": "10", "price": "187.23",
      "takeProfit": {"limitPrice": "195"}, "stopLoss": {"type": "trailing_stop", "trailPercent": "1.5"}
    }`));
    const { alert } = result;
    expect(alert).toMatchObject({ strategy: 'default', ticker: 'NASDAQ:AAPL', symbol: 'AAPL', action: 'buy', sentiment: 'long', orderType: 'market' });
    expect(alert.quantity?.toString()).toBe('10');
    expect(alert.price?.toString()).toBe('187.23');
    expect((alert.takeProfit as TakeProfitSpec | undefined)?.limitPrice?.toString()).toBe('195');
    expect(alert.stopLoss?.type).toBe('trailing_stop');
    expect(alert.stopLoss?.trailPercent?.toString()).toBe('1.5');
    expect(result.ignored).toEqual([]);
  });

  it('a strategy exit with sentiment flat and a percent of the position', () => {
    const { alert } = accepted(parseText(
      '{"ticker":"BINANCE:BTCUSDT.P","action":"sell","sentiment":"flat","quantity":50,"quantityType":"percent_of_position","signalPrice":"64123.5"}',
    ));
    expect(alert).toMatchObject({ ticker: 'BINANCE:BTCUSDT.P', symbol: 'BTCUSDT.P', action: 'sell', sentiment: 'flat', quantityType: 'percent_of_position' });
    expect(alert.quantity?.toString()).toBe('50');
    expect(alert.price?.toString()).toBe('64123.5');
  });

  it('a limit entry with time in force, extended hours, id, time, account and extras', () => {
    const { alert } = accepted(parseText(JSON.stringify({
      ticker: 'AMEX:SPY', action: 'buy', sentiment: 'long', orderType: 'limit', limitPrice: '510.25', timeInForce: 'gtc',
      extendedHours: 'true', quantity: '2500', quantityType: 'dollar_amount', id: 'Long Entry-2026-11-23T14:59:30Z',
      time: '2026-11-23T14:59:30Z', account: 'alpaca-paper', extras: { note: 'breakout', level: 3 },
      stopLoss: { percent: '2' }, takeProfit: { percent: '4' },
    })));
    expect(alert).toMatchObject({
      orderType: 'limit', timeInForce: 'gtc', extendedHours: true, quantityType: 'dollar_amount',
      id: 'Long Entry-2026-11-23T14:59:30Z', account: 'alpaca-paper', extras: { note: 'breakout', level: '3' },
    });
    expect(alert.limitPrice?.toString()).toBe('510.25');
    expect(alert.time?.toISOString()).toBe('2026-11-23T14:59:30.000Z');
    expect(alert.stopLoss).toMatchObject({ type: 'stop' });
    expect(alert.stopLoss?.percent?.toString()).toBe('2');
    expect((alert.takeProfit as TakeProfitSpec | undefined)?.percent?.toString()).toBe('4');
  });

  it('exit, cancel and add, in any case, with symbol as the ticker alias', () => {
    for (const action of ['exit', 'CANCEL', 'Add']) {
      const { alert } = accepted(parseObject({ symbol: 'NYSE:F', action }));
      expect(alert.action).toBe(action.toLowerCase());
      expect(alert.ticker).toBe('NYSE:F');
    }
  });

  it('a sell short with bearish sentiment, a stop-limit protective stop and an amount target', () => {
    const { alert } = accepted(parseObject({
      ticker: 'COINBASE:ETHUSD', action: 'sell', sentiment: 'bearish', quantity: '0.5', quantityType: 'fixed_quantity',
      stopLoss: { type: 'stop_limit', stopPrice: '3150', limitPrice: '3160' }, takeProfit: { amount: '120' },
    }));
    expect(alert.sentiment).toBe('short');
    expect(alert.stopLoss?.type).toBe('stop_limit');
    expect(alert.stopLoss?.limitPrice?.toString()).toBe('3160');
    expect((alert.takeProfit as TakeProfitSpec | undefined)?.amount?.toString()).toBe('120');
  });

  it('every order type with the prices that go with it', () => {
    expect(accepted(parseObject({ ticker: 'X', action: 'buy', orderType: 'stop', stopPrice: '10' })).alert.stopPrice?.toString()).toBe('10');
    const stopLimit = accepted(parseObject({ ticker: 'X', action: 'buy', orderType: 'stop_limit', stopPrice: '10', limitPrice: '10.1' })).alert;
    expect([stopLimit.stopPrice?.toString(), stopLimit.limitPrice?.toString()]).toEqual(['10', '10.1']);
    expect(accepted(parseObject({ ticker: 'X', action: 'sell', orderType: 'trailing_stop', trailAmount: '0.5' })).alert.trailAmount?.toString()).toBe('0.5');
    expect(accepted(parseObject({ ticker: 'X', action: 'sell', orderType: 'TRAILING_STOP', trailPercent: '1' })).alert.orderType).toBe('trailing_stop');
  });

  it('an epoch-millisecond time, as number or text', () => {
    const ms = NOW.getTime() - 5_000;
    expect(accepted(parseText(`{"ticker":"X","action":"buy","time":${ms}}`)).alert.time?.getTime()).toBe(ms);
    expect(accepted(parseObject({ ticker: 'X', action: 'buy', time: String(ms) })).alert.time?.getTime()).toBe(ms);
  });

  it('a time with an offset is read in UTC', () => {
    expect(accepted(parseObject({ ticker: 'X', action: 'buy', time: '2026-11-23T16:59:45+02:00' })).alert.time?.toISOString()).toBe('2026-11-23T14:59:45.000Z');
  });
});

describe('numbers never pass through a float', () => {
  it('a 20-digit decimal reaches Decimal exactly, as a JSON number or as text', () => {
    const asNumber = accepted(parseText('{"ticker":"X","action":"buy","price":0.12345678901234567891,"quantity":123456789012.123456789}'));
    expect(asNumber.alert.price?.toString()).toBe('0.12345678901234567891');
    expect(asNumber.alert.quantity?.toString()).toBe('123456789012.123456789');
    expect(asNumber.rawPayload.price).toBe('0.12345678901234567891');
    const asText = accepted(parseText('{"ticker":"X","action":"buy","stopLoss":{"stopPrice":"0.12345678901234567891"}}'));
    expect(asText.alert.stopLoss?.stopPrice?.toString()).toBe('0.12345678901234567891');
  });

  it.each(['1e999', '1e16', '-1e400', '1e-13'])('a number out of any real range (%s) is refused, not traded', (text) => {
    const result = parseAlert({ ticker: 'X', action: 'buy', quantity: text, price: text }, context());
    expect(pathsOf(result)).toEqual(['quantity', 'price']);
  });

  it('a fractional JS number handed in directly is refused: it has already been through a float', () => {
    expect(pathsOf(parseAlert({ ticker: 'X', action: 'buy', price: 0.1 }, context()))).toEqual(['price']);
  });

  it.each(['abc', 'NaN', '1e', '', ' ', 'Infinity', '0x10', '1,5', '{{close}}'])('refuses the numeric text %j, naming its path', (text) => {
    const issues = issuesOf(parseObject({ ticker: 'X', action: 'buy', quantity: text, takeProfit: { percent: text } }));
    expect(issues.map((i) => i.path)).toEqual(['quantity', 'takeProfit.percent']);
  });

  it.each(['0', '-1', '-0.5'])('refuses %s where a positive number is needed', (text) => {
    const issues = issuesOf(parseObject({ ticker: 'X', action: 'buy', quantity: text }));
    expect(issues).toEqual([{ path: 'quantity', message: expect.stringMatching(/greater than 0/) }]);
  });

  it('explains an unrendered TradingView placeholder', () => {
    const issues = issuesOf(parseObject({ ticker: 'X', action: 'buy', quantity: '{{strategy.order.contracts}}' }));
    expect(issues[0]?.message).toMatch(/\{\{strategy\.order\.contracts\}\}.*did not fill in/);
  });
});

describe('invalid alerts name every bad field', () => {
  it('lists every problem, not just the first', () => {
    const result = parseObject({
      action: 'bye', sentiment: 'sideways', quantity: 'ten', quantityType: 'shares', orderType: 'iceberg',
      timeInForce: 'forever', extendedHours: 'yes', time: 'yesterday', id: { nested: true }, account: true, extras: 'x',
    });
    expect(pathsOf(result).sort()).toEqual([
      'account', 'action', 'extendedHours', 'extras', 'id', 'orderType', 'quantity', 'quantityType', 'sentiment', 'ticker', 'time', 'timeInForce',
    ].sort());
    for (const issue of issuesOf(result)) expect(issue.message.length).toBeGreaterThan(5);
  });

  it('requires ticker and action', () => {
    expect(issuesOf(parseObject({}))).toEqual([
      { path: 'ticker', message: expect.stringMatching(/required/) },
      { path: 'action', message: expect.stringMatching(/required.*buy, sell, exit, cancel, add/) },
    ]);
  });

  it('says what the allowed values are', () => {
    expect(issuesOf(parseObject({ ticker: 'X', action: 'long' }))).toEqual([
      { path: 'action', message: 'must be one of buy, sell, exit, cancel, add, update, not "long"' },
    ]);
  });

  it.each([
    [{ orderType: 'limit' }, ['limitPrice']],
    [{ orderType: 'stop' }, ['stopPrice']],
    [{ orderType: 'stop_limit' }, ['limitPrice', 'stopPrice']],
    [{ orderType: 'stop_limit', stopPrice: '5' }, ['limitPrice']],
    [{ orderType: 'trailing_stop' }, ['trailPercent']],
    [{ orderType: 'trailing_stop', trailPercent: '1', trailAmount: '2' }, ['trailAmount']],
    [{ limitPrice: '10' }, ['limitPrice']],
    [{ orderType: 'limit', limitPrice: '10', stopPrice: '9' }, ['stopPrice']],
    [{ orderType: 'stop', stopPrice: '9', trailPercent: '1' }, ['trailPercent']],
  ])('order type rules: %j is refused at %j', (fields, paths) => {
    expect(pathsOf(parseObject({ ticker: 'X', action: 'buy', ...fields })).sort()).toEqual([...paths].sort());
  });

  it.each([
    [{}, ['takeProfit']],
    [{ limitPrice: '1', percent: '2' }, ['takeProfit']],
    [{ limitprice: '195' }, ['takeProfit.limitprice', 'takeProfit']],
    [{ percent: 'x' }, ['takeProfit.percent']],
  ])('takeProfit %j is refused at %j', (takeProfit, paths) => {
    expect(pathsOf(parseObject({ ticker: 'X', action: 'buy', takeProfit })).sort()).toEqual([...paths].sort());
  });

  it.each([
    [{}, ['stopLoss']],
    [{ stopPrice: '1', percent: '2' }, ['stopLoss']],
    [{ type: 'trailing_stop', stopPrice: '1' }, ['stopLoss.stopPrice']],
    [{ type: 'stop', trailPercent: '1' }, ['stopLoss.trailPercent']],
    [{ type: 'stop_limit', stopPrice: '1' }, ['stopLoss.limitPrice']],
    [{ type: 'stop', stopPrice: '1', limitPrice: '0.9' }, ['stopLoss.limitPrice']],
    [{ stopPrice: '1', limitPrice: '0.9' }, ['stopLoss.limitPrice']],
    [{ type: 'guaranteed', stopPrice: '1' }, ['stopLoss.type']],
    [{ percent: '2', trailingPercent: '1' }, ['stopLoss.trailingPercent']],
    [{ stopprice: '95' }, ['stopLoss.stopprice', 'stopLoss']],
    ['2%', ['stopLoss']],
  ])('stopLoss %j is refused at %j', (stopLoss, paths) => {
    expect(pathsOf(parseObject({ ticker: 'X', action: 'buy', stopLoss })).sort()).toEqual([...paths].sort());
  });

  it('a typo inside stopLoss is refused with a suggestion, never ignored', () => {
    const issues = issuesOf(parseObject({ ticker: 'X', action: 'buy', stopLoss: { stopPrice: '95', Type: 'stop' } }));
    expect(issues).toEqual([{ path: 'stopLoss.Type', message: "unknown key in stopLoss 'Type': did you mean 'type'?" }]);
  });

  it('refuses a percent of the position above 100', () => {
    expect(pathsOf(parseObject({ ticker: 'X', action: 'exit', quantity: '150', quantityType: 'percent_of_position' }))).toEqual(['quantity']);
  });

  it('refuses a quantityType without a quantity', () => {
    expect(pathsOf(parseObject({ ticker: 'X', action: 'buy', quantityType: 'fixed_quantity' }))).toEqual(['quantity']);
  });

  it('refuses aliases that disagree, and accepts them when they agree', () => {
    expect(pathsOf(parseObject({ ticker: 'AAPL', symbol: 'MSFT', action: 'buy' }))).toEqual(['symbol']);
    expect(pathsOf(parseObject({ ticker: 'AAPL', action: 'buy', price: '1.0', signalPrice: '2' }))).toEqual(['signalPrice']);
    expect(parseObject({ ticker: 'AAPL', action: 'buy', price: '1.0', signalPrice: '1' }).ok).toBe(true);
  });

  it.each([
    ['2026-11-23T14:59:30', /no time zone/],
    ['2026-02-30T10:00:00Z', /not a real date/],
    ['1700000000', /epoch seconds/],
    ['23/11/2026 14:59', /not a time/],
  ])('refuses the time %j', (time, message) => {
    expect(issuesOf(parseObject({ ticker: 'X', action: 'buy', time }))).toEqual([{ path: 'time', message: expect.stringMatching(message) }]);
  });

  it.each([
    ['ticker', 'NASDAQ AAPL'], ['ticker', ''], ['strategy', ''], ['sentiment', ''], ['quantityType', ''], ['orderType', ''], ['extendedHours', ''],
  ])('refuses %s = %j', (field, value) => {
    expect(pathsOf(parseObject({ ticker: 'X', action: 'buy', quantity: '1', [field]: value }))).toEqual([field]);
  });

  it('treats an empty id, account or timeInForce (a placeholder that rendered nothing) as absent', () => {
    const { alert } = accepted(parseObject({ ticker: 'X', action: 'buy', id: '', account: ' ', timeInForce: '' }));
    expect(alert.id).toBeUndefined();
    expect(alert.account).toBeUndefined();
    expect(alert.timeInForce).toBeUndefined();
  });

  it('refuses null for a field rather than guessing what it means', () => {
    expect(pathsOf(parseObject({ ticker: 'X', action: 'buy', stopLoss: null, quantity: null }))).toEqual(['quantity', 'stopLoss']);
  });

  it('refuses a body that is not an object', () => {
    for (const body of [null, [], 'buy', 5, undefined]) {
      expect(pathsOf(parseAlert(body, context()))).toEqual(['']);
    }
  });
});

describe('unknown fields', () => {
  it.each([
    ['StopLoss', 'stopLoss'], ['stoploss', 'stopLoss'], ['takeprofit', 'takeProfit'], ['quantitytype', 'quantityType'],
    ['quantty', 'quantity'], ['stopLos', 'stopLoss'], ['Ticker', 'ticker'], ['Price', 'price'], ['ordertype', 'orderType'],
    ['sentimen', 'sentiment'], ['Passphrase', 'passphrase'],
  ])('a near miss %s is refused with a suggestion of %s', (field, suggestion) => {
    const issues = issuesOf(parseObject({ ticker: 'X', action: 'buy', [field]: '1' }));
    expect(issues).toContainEqual({ path: field, message: `unknown field '${field}': did you mean '${suggestion}'?` });
  });

  it('ignores other unknown fields, keeps them in the raw payload and lists them', () => {
    const result = accepted(parseText('{"ticker":"X","action":"buy","interval":"15","exchange":"NASDAQ","side":"long","tp":1.5,"prices":"x","comment":"{{strategy.order.comment}}"}'));
    expect(result.ignored).toEqual(['interval', 'exchange', 'side', 'tp', 'prices', 'comment']);
    expect(result.rawPayload).toMatchObject({ interval: '15', exchange: 'NASDAQ', side: 'long', tp: '1.5' });
  });

  it.each(['optionType', 'expiration', 'intrinsicValue', 'strikeCount', 'strikesAway', 'strikePrice', 'OptionType', 'strikeprice'])(
    'an options field %s is unsupported, never traded as the underlying',
    (field) => {
      const result = parseObject({ ticker: 'X', action: 'buy', quantity: 'junk', [field]: 'call' });
      expect(result).toMatchObject({ ok: false, error: 'unsupported', field });
    },
  );
});

describe('strategy', () => {
  it('defaults to default, takes the body, and lets the path win when they agree', () => {
    expect(accepted(parseObject({ ticker: 'X', action: 'buy' })).alert.strategy).toBe('default');
    expect(accepted(parseObject({ ticker: 'X', action: 'buy', strategy: 'momo' })).alert.strategy).toBe('momo');
    expect(accepted(parseObject({ ticker: 'X', action: 'buy' }, { pathStrategy: 'swing' })).alert.strategy).toBe('swing');
    expect(accepted(parseObject({ ticker: 'X', action: 'buy', strategy: 'swing' }, { pathStrategy: 'swing' })).alert.strategy).toBe('swing');
  });

  it('refuses a body strategy that differs from the path', () => {
    const issues = issuesOf(parseObject({ ticker: 'X', action: 'buy', strategy: 'momo' }, { pathStrategy: 'swing' }));
    expect(issues).toEqual([{ path: 'strategy', message: expect.stringMatching(/'swing'.*'momo'/) }]);
  });

  it('resolves the symbol through the strategy', () => {
    const { alert } = accepted(parseObject({ ticker: 'BINANCE:BTCUSDT.P', action: 'buy', strategy: 'crypto' }, {
      resolveSymbol: (strategy, ticker) => `${strategy}/${ticker === 'BINANCE:BTCUSDT.P' ? 'BTCUSDT' : ticker}`,
    }));
    expect(alert.symbol).toBe('crypto/BTCUSDT');
  });
});

describe('staleness', () => {
  const old = new Date(NOW.getTime() - 61_000).toISOString();

  it.each(['buy', 'sell', 'add'])('a %s older than maxSignalAgeSeconds is stale', (action) => {
    const result = parseObject({ ticker: 'X', action, time: old });
    expect(result).toMatchObject({ ok: false, error: 'stale_signal', ageSeconds: 61, maxSignalAgeSeconds: 60 });
    if (result.ok || result.error !== 'stale_signal') throw new Error('expected stale');
    expect(result.alert.ticker).toBe('X');
    expect(result.message).toMatch(/61 s ago/);
  });

  it.each(['exit', 'cancel'])('an old %s is never stale', (action) => {
    expect(parseObject({ ticker: 'X', action, time: '2020-01-01T00:00:00Z' }).ok).toBe(true);
  });

  it('an entry inside the window, without a time, or from a clock running ahead, is not stale', () => {
    expect(parseObject({ ticker: 'X', action: 'buy', time: new Date(NOW.getTime() - 60_000).toISOString() }).ok).toBe(true);
    expect(parseObject({ ticker: 'X', action: 'buy' }).ok).toBe(true);
    expect(parseObject({ ticker: 'X', action: 'buy', time: new Date(NOW.getTime() + 3_600_000).toISOString() }).ok).toBe(true);
  });

  it('an invalid alert is reported as invalid, not as stale', () => {
    expect(parseObject({ ticker: 'X', action: 'buy', quantity: 'x', time: old })).toMatchObject({ ok: false, error: 'invalid_signal' });
  });
});

describe('the passphrase', () => {
  const body = { passphrase: 's3cret-value', ticker: 'NASDAQ:AAPL', action: 'buy', extras: { note: 'n' } };

  it('is extracted before validation, even from an invalid alert', () => {
    expect(extractPassphrase({ passphrase: 's3cret-value', action: 42 })).toBe('s3cret-value');
    expect(extractPassphrase({ action: 'buy' })).toBeUndefined();
    expect(extractPassphrase({ passphrase: { x: 1 } })).toBeUndefined();
    expect(extractPassphrase('passphrase')).toBeUndefined();
  });

  it('never appears in the alert or the raw payload, only on the result', () => {
    const result = accepted(parseObject(body));
    expect(result.passphrase).toBe('s3cret-value');
    expect(JSON.stringify(result.rawPayload)).not.toContain('s3cret-value');
    expect(JSON.stringify(result.alert)).not.toContain('s3cret-value');
    expect(result.rawPayload).toEqual({ ticker: 'NASDAQ:AAPL', action: 'buy', extras: { note: 'n' } });
  });

  it('is stripped under a misspelt name too, and never echoed in an issue', () => {
    expect(stripSecret({ Passphrase: 'a', passphrse: 'b', ticker: 'X' })).toEqual({ ticker: 'X' });
    const result = parseObject({ passPhrase: 's3cret-value', ticker: 'X', action: 'buy' });
    expect(JSON.stringify(result)).not.toContain('s3cret-value');
  });

  it('is absent from the result when the body has none (the secret came in the URL)', () => {
    expect('passphrase' in accepted(parseObject({ ticker: 'X', action: 'buy' }))).toBe(false);
  });
});

describe('look-alike names', () => {
  const ok = (result: ReturnType<typeof parseObject>) => {
    if (!result.ok) throw new Error(`expected ok, got ${JSON.stringify(result)}`);
    return result.alert;
  };

  it('normalizes tickers with NFKC: full-width AAPL is AAPL, whatever the exchange prefix', () => {
    expect(ok(parseObject({ ticker: 'ＡＡＰＬ', action: 'buy' }))).toMatchObject({ ticker: 'AAPL', symbol: 'AAPL' });
    expect(ok(parseObject({ ticker: 'ＮＡＳＤＡＱ：ＡＡＰＬ', action: 'buy' }))).toMatchObject({ ticker: 'NASDAQ:AAPL', symbol: 'AAPL' });
    expect(ok(parseObject({ symbol: 'ＢＴＣＵＳＤＴ', ticker: 'BTCUSDT', action: 'buy' }))).toMatchObject({ ticker: 'BTCUSDT' });
  });

  it('refuses zero-width, bidi and other invisible characters in a ticker, naming the field', () => {
    for (const ticker of ['AA\u200bPL', 'AAPL\u200d', '\u2060AAPL', 'AA\u00adPL', 'AA\ufeffPL', 'AAPL\u202e', 'AA\u034fPL', 'AA\u3164PL']) {
      const issues = issuesOf(parseObject({ ticker, action: 'buy' }));
      expect(issues.map((i) => i.path), JSON.stringify(ticker)).toEqual(['ticker']);
      expect(issues[0]?.message).toMatch(/invisible|control/);
    }
    expect(pathsOf(parseObject({ symbol: 'AA\u200bPL', action: 'buy' }))).toEqual(['symbol']);
  });

  it('refuses control characters, C1 ones included', () => {
    expect(pathsOf(parseObject({ ticker: 'AA\u0085PL', action: 'buy' }))).toEqual(['ticker']);
    expect(pathsOf(parseObject({ ticker: 'AA\u0007PL', action: 'buy' }))).toEqual(['ticker']);
  });

  it('refuses letters of two scripts in one name: Cyrillic А in AAPL', () => {
    const issues = issuesOf(parseObject({ ticker: '\u0410APL', action: 'buy' }));
    expect(issues).toEqual([{ path: 'ticker', message: expect.stringMatching(/scripts/) }]);
    expect(pathsOf(parseObject({ ticker: 'BTC\u0395TH', action: 'buy' }))).toEqual(['ticker']);
  });

  it('does the same for strategy and account names', () => {
    expect(ok(parseObject({ ticker: 'AAPL', action: 'buy', strategy: 'ｄｅｆａｕｌｔ', account: 'ｐａｐｅｒ' }))).toMatchObject({ strategy: 'default', account: 'paper' });
    expect(pathsOf(parseObject({ ticker: 'AAPL', action: 'buy', strategy: 'def\u200bault' }))).toEqual(['strategy']);
    expect(pathsOf(parseObject({ ticker: 'AAPL', action: 'buy', account: 'p\u0430per' }))).toEqual(['account']);
  });
});
