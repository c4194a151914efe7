import { describe, expect, it } from 'vitest';
import { Decimal } from '../../src/domain/money.ts';
import { fastLevels, quietBand } from '../../src/portfolio/fast-levels.ts';
import { BookScreen, MarkTable, type ScreenRow } from '../../src/portfolio/screen.ts';

const d = (text: string): Decimal => new Decimal(text);

interface Row extends ScreenRow { id: string }

function row(marks: MarkTable, id: string, options: {
  symbol: string; status?: string; side?: 'long' | 'short'; entry: string; quantity: string; stop?: string; target?: string; trailPercent?: string; water?: string;
}): Row {
  const side = options.side ?? 'long';
  const levels = fastLevels({
    side, averageEntryPrice: d(options.entry), stopPrice: options.stop ? d(options.stop) : undefined, targetPrice: options.target ? d(options.target) : undefined,
    trailPercent: options.trailPercent ? d(options.trailPercent) : undefined,
    highWater: side === 'long' && options.water ? d(options.water) : undefined, lowWater: side === 'short' && options.water ? d(options.water) : undefined,
  } as Parameters<typeof fastLevels>[0]);
  return {
    id, position: { status: options.status ?? 'open' }, levels, entry: Number(options.entry), quantity: Number(options.quantity),
    sign: side === 'long' ? 1 : -1, mark: marks.of(options.symbol),
  };
}

const quote = (marks: MarkTable, symbol: string, price: string, tick: number): void => {
  marks.record(marks.of(symbol), d(price), 0, tick);
};

describe('quietBand: the prices where nothing can happen', () => {
  it('is open on a side without a level, and sits just inside the levels of a short', () => {
    const none = fastLevels({ side: 'long', averageEntryPrice: d('100') } as Parameters<typeof fastLevels>[0]);
    expect(quietBand(none)).toEqual({ below: -Infinity, above: Infinity });
    const short = fastLevels({ side: 'short', averageEntryPrice: d('100'), stopPrice: d('105'), targetPrice: d('90') } as Parameters<typeof fastLevels>[0]);
    const band = quietBand(short);
    expect(band.below).toBeGreaterThan(90);
    expect(band.below).toBeLessThan(90.0001);
    expect(band.above).toBeLessThan(105);
    expect(band.above).toBeGreaterThan(104.9999);
  });
});

describe('BookScreen: the per-tick pass in packed form', () => {
  it('looks only at open positions quoted this tick outside their band; lists closing ones; estimates in doubles', () => {
    const marks = new MarkTable();
    const rows = [
      row(marks, 'near-stop', { symbol: 'A', entry: '100', quantity: '10', stop: '95', target: '110' }),
      row(marks, 'quiet', { symbol: 'B', entry: '50', quantity: '4', stop: '45', target: '60' }),
      row(marks, 'short-at-target', { symbol: 'C', side: 'short', entry: '20', quantity: '100', stop: '22', target: '18' }),
      row(marks, 'closing', { symbol: 'B', status: 'closing', entry: '50', quantity: '2', stop: '45' }),
      row(marks, 'opening', { symbol: 'A', status: 'opening', entry: '100', quantity: '1000', stop: '1' }),
      row(marks, 'unquoted', { symbol: 'D', entry: '10', quantity: '1', stop: '11' }),
      row(marks, 'stale-quote', { symbol: 'E', entry: '10', quantity: '3', stop: '11' }),
    ];
    const screen = new BookScreen(rows);
    quote(marks, 'E', '9', 1);
    quote(marks, 'A', '95', 2);
    quote(marks, 'B', '51', 2);
    quote(marks, 'C', '18', 2);
    const looks: Row[] = [];
    const closing: Row[] = [];
    const estimate = screen.scan(marks, 2, looks, closing);
    expect(looks.map((r) => r.id)).toEqual(['near-stop', 'short-at-target']);
    expect(closing.map((r) => r.id)).toEqual(['closing']);
    // (95-100)·10 + (51-50)·4 + (20-18)·100 + (51-50)·2 + (9-10)·3, without the opening and the unquoted one.
    expect(estimate.unrealized).toBe(-50 + 4 + 200 + 2 - 3);
    expect(estimate.magnitude).toBe(195 * 10 + 101 * 4 + 38 * 100 + 101 * 2 + 19 * 3);
    expect(screen.estimate(marks)).toEqual(estimate);
  });

  it('follows a moved water mark once told (refresh), and only then', () => {
    const marks = new MarkTable();
    const trailing = row(marks, 'trail', { symbol: 'A', entry: '100', quantity: '1', trailPercent: '5', water: '100' });
    const screen = new BookScreen([trailing]);
    const looked = (price: string, tick: number): string[] => {
      quote(marks, 'A', price, tick);
      const looks: Row[] = [];
      screen.scan(marks, tick, looks, []);
      return looks.map((r) => r.id);
    };
    expect(looked('99', 1)).toEqual([]); // between the trail (95) and the high water (100)
    expect(looked('100.5', 2)).toEqual(['trail']); // a new high: the mark moves
    trailing.levels = fastLevels({ side: 'long', averageEntryPrice: d('100'), trailPercent: d('5'), highWater: d('100.5') } as Parameters<typeof fastLevels>[0]);
    expect(looked('95.2', 3)).toEqual([]); // not refreshed yet: the stale band (trail 95, from 100) calls 95.2 quiet...
    screen.refresh(trailing);
    expect(looked('95.2', 4)).toEqual(['trail']); // ...and with the new band (trail 95.475) it is below the trail
    expect(looked('100.2', 5)).toEqual([]);
  });

  it('MarkTable keeps every slot when it grows past its first arrays', () => {
    const marks = new MarkTable();
    for (let i = 0; i < 200; i += 1) quote(marks, `S${i}`, String(i + 1), 7);
    expect(marks.of('S0').slot).toBe(0);
    expect(marks.of('S199').slot).toBe(199);
    expect(marks.fast[0]).toBe(1);
    expect(marks.fast[199]).toBe(200);
    expect(marks.tick[150]).toBe(7);
    expect(marks.tick[200]).toBe(-1);
    expect(marks.of('S42').price?.toString()).toBe('43');
  });
});
