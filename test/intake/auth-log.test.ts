// Failed authentications are logged without filling the disk: the first few per source and minute, then one count.
import { describe, expect, it } from 'vitest';
import { AuthFailureLog } from '../../src/intake/auth-log.ts';
import { MinuteCounter } from '../../src/intake/limits.ts';
import { createLogger } from '../../src/ops/logger.ts';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'trace', destination: { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>); } } });
  return { logger, lines };
}

const at = (minute: number, second = 0) => new Date(Date.UTC(2026, 11, 5, 8, minute, second));

describe('AuthFailureLog', () => {
  it('logs the first 5 failures of a source in a minute, one line saying the rest are counted, then one summary', () => {
    const { logger, lines } = capture();
    const log = new AuthFailureLog(logger, 'webhook.unauthorized', 'alert with a wrong or missing secret');
    for (let i = 0; i < 1000; i++) log.record('203.0.113.7', at(0, i % 60));
    for (let i = 0; i < 3; i++) log.record('198.51.100.1', at(0, 30));
    expect(lines.filter((l) => l.event === 'webhook.unauthorized' && l.source === '203.0.113.7')).toHaveLength(5);
    expect(lines.filter((l) => l.event === 'webhook.unauthorized' && l.source === '198.51.100.1')).toHaveLength(3);
    expect(lines.filter((l) => l.event === 'webhook.unauthorized_throttled')).toHaveLength(1);
    expect(lines.filter((l) => l.event === 'webhook.unauthorized_summary')).toHaveLength(0);
    const before = lines.length;
    log.record('203.0.113.7', at(1, 2));
    expect(lines.slice(before).map((l) => [l.event, l.source, l.failures, l.unlogged])).toEqual([
      ['webhook.unauthorized_summary', '203.0.113.7', 1000, 995],
      ['webhook.unauthorized', '203.0.113.7', undefined, undefined],
    ]);
    expect(lines.length).toBeLessThan(15);
  });

  it('flush logs the minute in progress', () => {
    const { logger, lines } = capture();
    const log = new AuthFailureLog(logger, 'admin.unauthorized', 'admin request with a wrong or missing token');
    for (let i = 0; i < 40; i++) log.record('203.0.113.9', at(5));
    log.flush();
    expect(lines.at(-1)).toMatchObject({ event: 'admin.unauthorized_summary', source: '203.0.113.9', failures: 40, unlogged: 35 });
  });
});

describe('MinuteCounter', () => {
  it('counts per key and minute, and past its key budget counts new keys together', () => {
    const counter = new MinuteCounter(3);
    expect([counter.add('a', at(0)), counter.add('a', at(0, 59)), counter.add('a', at(1))]).toEqual([1, 2, 1]);
    for (const key of ['b', 'c', 'd', 'e', 'f']) counter.add(key, at(1));
    expect(counter.get('d', at(1))).toBe(3);
    expect(counter.get('zzz', at(1))).toBe(3);
    expect(counter.get('a', at(1))).toBe(1);
  });
});
