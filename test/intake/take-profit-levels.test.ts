// Scale-out levels in an alert and in the config: read exactly, refused by field, and carried through the queue unchanged.
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfigText } from '../../src/config/load.ts';
import type { TargetLevelSpec } from '../../src/domain/scale-out.ts';
import { alertFromJson, alertToJson } from '../../src/intake/alert-json.ts';
import { issuesOf, parseText } from './helpers.ts';

const BASE = '"passphrase": "s3cret", "ticker": "NASDAQ:AAPL", "action": "buy", "price": "100"';

function levelsOf(json: string): TargetLevelSpec[] {
  const result = parseText(`{${BASE}, "takeProfit": ${json}}`);
  if (!result.ok) throw new Error(JSON.stringify(issuesOf(result)));
  return result.alert.takeProfit as TargetLevelSpec[];
}

const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

describe('takeProfit as a list of levels in an alert', () => {
  it('reads percent, rMultiple, limitPrice and amount anchors with percent, absolute and "rest" sizes', () => {
    const levels = levelsOf('[{"percent": 1, "size": "50%"}, {"limitPrice": "103.5", "size": 2}, {"amount": "5", "size": "0.5"}, {"rMultiple": 3, "size": "rest"}]');
    expect(plain(levels)).toEqual([
      { percent: '1', size: { kind: 'percent', value: '50' } },
      { limitPrice: '103.5', size: { kind: 'quantity', value: '2' } },
      { amount: '5', size: { kind: 'quantity', value: '0.5' } },
      { rMultiple: '3', size: { kind: 'rest' } },
    ]);
  });

  it('keeps TradersPost\'s single takeProfit object as it was', () => {
    const result = parseText(`{${BASE}, "takeProfit": {"percent": "4"}}`);
    expect(result.ok && plain(result.alert.takeProfit)).toEqual({ percent: '4' });
  });

  it('refuses a level without a size, with two anchors, a typo, "rest" before the end, or a bad size, naming each', () => {
    const result = parseText(`{${BASE}, "takeProfit": [{"percent": 1}, {"percent": 1, "amount": 2, "size": "rest"}, {"percnt": 2, "size": "ten"}]}`);
    expect(result.ok).toBe(false);
    const paths = issuesOf(result).map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['takeProfit[0].size', 'takeProfit[1]', 'takeProfit[1].size', 'takeProfit.percnt', 'takeProfit[2]', 'takeProfit[2].size']));
  });

  it('travels through the queue job exactly', () => {
    const result = parseText(`{${BASE}, "takeProfit": [{"percent": "0.123456789012345678901", "size": "33.3%"}, {"rMultiple": 2, "size": "rest"}]}`);
    if (!result.ok) throw new Error('expected a valid alert');
    const back = alertFromJson(JSON.parse(JSON.stringify(alertToJson(result.alert))) as Record<string, unknown>);
    expect(plain(back.takeProfit)).toEqual(plain(result.alert.takeProfit));
    expect((back.takeProfit as TargetLevelSpec[])[0]?.percent?.toFixed()).toBe('0.123456789012345678901');
  });
});

const CONFIG = (strategy: string) => `
accounts:
  paper:
    broker: paper
strategies:
  default:
    account: paper
${strategy}
`;

describe('takeProfit levels and trade management in the config', () => {
  it('accepts a list of levels and the manage rules', () => {
    const { config } = parseConfigText(CONFIG(`    takeProfit:
      - { percent: 1, size: "50%" }
      - { percent: 2, size: "30%" }
      - { rMultiple: 3, size: rest }
    manage:
      breakeven: { afterTarget: 1, offsetPercent: "0.1" }
      trailAfter: { rMultiple: 1 }
      trailPercent: 1
      maxHoldMinutes: 240`), 'test.yaml', {});
    const strategy = config.strategies.default;
    expect(plain(strategy?.takeProfit)).toEqual([
      { percent: '1', size: { kind: 'percent', value: '50' } },
      { percent: '2', size: { kind: 'percent', value: '30' } },
      { rMultiple: '3', size: { kind: 'rest' } },
    ]);
    expect(strategy?.manage?.breakeven?.afterTarget).toBe(1);
    expect(strategy?.manage?.maxHoldMinutes).toBe(240);
  });

  it('refuses "rest" before the last level and a trail without its percent', () => {
    expect(() => parseConfigText(CONFIG(`    takeProfit:
      - { percent: 1, size: rest }
      - { percent: 2, size: "50%" }`), 'test.yaml', {})).toThrow(ConfigError);
    expect(() => parseConfigText(CONFIG(`    manage:
      trailAfter: { rMultiple: 1 }`), 'test.yaml', {})).toThrow(/trailAfter and trailPercent go together/);
  });
});
