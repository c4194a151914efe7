// The demo (npm run demo): the bundled session through a real daemon gives the trades worked out by hand, then leaves nothing behind.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { DEMO_SESSION, readAlerts, readPrices, runDemo } from '../../scripts/demo.ts';
import { REDIS_URL } from '../helpers/env.ts';

function capture() {
  const lines: string[] = [];
  return { lines, out: (l: string) => { lines.push(l); }, err: (l: string) => { lines.push(`ERR ${l}`); } };
}

describe('npm run demo', () => {
  it('replays the session: entries, a signal exit, a reversal, stops, targets and a scale-out through the position loop, each to the cent', async () => {
    const io = capture();
    const result = await runDemo({ io, redisUrl: REDIS_URL });

    const trades = result.trades.map((t) => [t.symbol, t.side, t.quantity.toFixed(), t.entryPrice.toFixed(), t.exitPrice.toFixed(), t.exitReason]);
    expect(trades).toEqual([
      // The scaler strategy's 20 MSFT from 400.20: half at +1 % (404.20, filled at 404.50), 30 % at +2 % (408.20, filled at 408.60).
      ['MSFT', 'long', '10', '400.2', '404.5', 'take_profit'],
      ['MSFT', 'long', '6', '400.2', '408.6', 'take_profit'],
      // 10 % of 100,000 at 60,000 (+0.05 % slippage: 60,030), closed by the exit alert at 61,000 less slippage.
      ['BTCUSD', 'long', '0.16665', '60030', '60969.5', 'signal'],
      // Target 4 % above the 190.10 fill (197.70), reached when AAPL jumps to 198.10: a limit fills at the better price.
      ['AAPL', 'long', '52', '190.1', '198.1', 'take_profit'],
      // Stop 2 % below the 120.06 fill (117.66), gapped through at 117.50: filled at the gap price less slippage.
      ['NVDA', 'long', '83', '120.06', '117.44', 'stop_loss'],
      // After level 1 the stop went to breakeven plus 0.05 % (400.41); the last 4 are stopped there (400.30 less slippage).
      ['MSFT', 'long', '4', '400.2', '400.09', 'stop_loss'],
      // The sell alert while long closes the long and, shorts allowed, opens a short; the exit alert closes it.
      ['AAPL', 'long', '51', '195.1', '194.5', 'signal'],
      // 10 % of the equity then (MSFT's first two levels had added 90.60).
      ['BTCUSD', 'short', '0.16418', '61169.4', '58600', 'take_profit'],
      ['AAPL', 'short', '51', '194.5', '190.9', 'signal'],
    ]);
    // (198.10 − 190.10) × 52 − 2 × $1 fees; (117.44 − 120.06) × 83 − 2.
    expect(result.trades[3]?.realizedPnl.toFixed()).toBe('414');
    expect(result.trades[4]?.realizedPnl.toFixed()).toBe('-219.46');
    // (404.50 − 400.20) × 10 less the $1 exit fee and half the $1 entry fee; the narration says where the stop went.
    expect(result.trades[0]?.realizedPnl.toFixed()).toBe('41.5');
    expect(io.lines).toContain('14:32  MSFT       404.50  stop moved: target 1 filled: stop resized to the 10 left and moved to breakeven at 400.41');
    expect(result.refused).toEqual([]);

    // The report is the CLI's: the trades table, the stats by strategy, and no position left open.
    const report = io.lines.slice(io.lines.indexOf('$ tradewire trades'));
    expect(report[1]).toMatch(/^CLOSED \(UTC\)\s+STRATEGY\s+ACCOUNT\s+SYMBOL/);
    expect(report.filter((l) => /^\d{4}-\d\d-\d\d \d\d:\d\d\s+(default|scaler)\s+paper/.test(l))).toHaveLength(9);
    expect(report.find((l) => l.startsWith('default '))).toMatch(/^default\s+6\s+66\.67%\s+917\.95\s+152\.99\s+4\.64\s+252\.06\s+100\.00% \(6\/6\)\s+0\.05%\s+\+0\.77 R$/);
    // The scale-out as one trade in R: (41.50 + 49.10 − 1.64) over 20 × 8.00 risked.
    expect(report.find((l) => l.startsWith('scaler '))).toMatch(/\+0\.56 R$/);
    expect(report.find((l) => l.startsWith('take_profit '))).toMatch(/^take_profit\s+4\s+100\.00%\s+\+1\.43 R$/);
    expect(report.at(-1)).toBe('No open positions.');
    expect(io.lines.filter((l) => l.startsWith('ERR'))).toEqual([]);

    // Nothing is left behind: neither the temporary journal nor a Redis key.
    expect(io.lines[0]).toContain(result.dir);
    expect(existsSync(result.dir)).toBe(false);
    const redis = new Redis(REDIS_URL);
    try {
      expect(result.prefix).toMatch(/^tradewire-demo-[0-9a-f]{12}$/);
      expect(await redis.keys(`${result.prefix}:*`)).toEqual([]);
    } finally {
      redis.disconnect();
    }
  }, 60_000);

  it('a malformed session file stops the demo with the file and line, before anything starts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tw-demo-bad-'));
    try {
      cpSync(DEMO_SESSION, dir, { recursive: true });
      const prices = join(dir, 'prices.csv');
      writeFileSync(prices, `${readFileSync(prices, 'utf8').trimEnd()}\n2026-01-05T14:50:00Z,AAPL,abc\n`);
      expect(() => readPrices(prices)).toThrow(/prices\.csv:72: expected time,symbol,price/);
      const alerts = join(dir, 'alerts.jsonl');
      writeFileSync(alerts, '{"time": "2026-01-05T14:30:00Z", "alert": {}}\n');
      expect(() => readAlerts(alerts)).toThrow(/alerts\.jsonl:1: symbol/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
