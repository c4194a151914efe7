// PositionManager.onOrderUpdate: a stream event gets the account a pass at once, never alongside a tick, and a burst shares one pass.
import { afterEach, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/brokers/broker.ts';
import { PositionManager } from '../../src/portfolio/manager.ts';
import { createHarness, overriding, type Harness } from '../helpers/executor-harness.ts';
import { until } from '../helpers/env.ts';

interface Rig {
  h: Harness;
  manager: PositionManager;
  /** Passes over the account (its one quote call each), those running now, and the most that ever ran at once. */
  counts: { passes: number; running: number; most: number };
  /** While set, each pass's quote call waits for it. */
  gate?: Promise<void> | undefined;
}

let r: Rig | undefined;
afterEach(async () => {
  await r?.manager.stop();
  await r?.h.close();
  r = undefined;
});

async function rig(intervalMs: number): Promise<Rig> {
  const counts = { passes: 0, running: 0, most: 0 };
  const state: { gate?: Promise<void> | undefined } = {};
  const h = await createHarness({
    wrap: (paper): Broker => overriding(paper, {
      quotes: async (symbols: string[]) => {
        counts.running += 1;
        counts.most = Math.max(counts.most, counts.running);
        try {
          await state.gate;
          return await paper.quotes(symbols);
        } finally {
          counts.running -= 1;
          counts.passes += 1;
        }
      },
    }),
  });
  await h.paper.updatePrice('AAPL', '100');
  expect(await h.executor.execute(h.job({ ticker: 'AAPL', action: 'buy', sentiment: 'long', price: '100' }))).toEqual({ status: 'executed' });
  const manager = new PositionManager(h.ctx, { intervalMs, db: h.db });
  const made: Rig = { h, manager, counts };
  Object.defineProperty(made, 'gate', { get: () => state.gate, set: (v: Promise<void> | undefined) => { state.gate = v; } });
  return made;
}

describe('position manager: order stream updates', () => {
  it('a stream update gets the account a pass at once, between ticks an hour apart', async () => {
    r = await rig(3_600_000);
    r.manager.start();
    await until('the first tick', () => (r?.manager.snapshot().ticks === 1 ? true : undefined));
    expect(r.counts.passes).toBe(1);
    await r.manager.onOrderUpdate('paper', 'tw-some-order');
    expect(r.counts.passes).toBe(2);
    // A stream's pass is not a tick: the loop's own schedule is untouched.
    expect(r.manager.snapshot().ticks).toBe(1);
  });

  it('waits for a tick in flight instead of running beside it, and a burst of updates shares one pass', async () => {
    r = await rig(3_600_000);
    let open: () => void = () => undefined;
    r.gate = new Promise<void>((resolve) => { open = resolve; });
    r.manager.start();
    await until('the first tick to be in its quote call', () => (r?.counts.running === 1 ? true : undefined));
    const updates = [r.manager.onOrderUpdate('paper', 'a'), r.manager.onOrderUpdate('paper', 'b'), r.manager.onOrderUpdate('paper', 'c')];
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(r.counts.running).toBe(1); // still only the tick
    r.gate = undefined;
    open();
    await Promise.all(updates);
    expect(r.counts.most).toBe(1);
    // The tick, then one pass for the three updates.
    expect(r.counts.passes).toBe(2);
  });

  it('updates read in the same turn (a fill and its account update) share one pass', async () => {
    r = await rig(3_600_000);
    r.manager.start();
    await until('the first tick', () => (r?.manager.snapshot().ticks === 1 ? true : undefined));
    await Promise.all([r.manager.onOrderUpdate('paper', 'fill'), r.manager.onOrderUpdate('paper'), r.manager.onOrderUpdate('paper', 'other')]);
    expect(r.counts.passes).toBe(2);
  });

  it('a tick asked for while a stream pass runs waits for it, then runs whole', async () => {
    r = await rig(3_600_000);
    r.manager.start();
    await until('the first tick', () => (r?.manager.snapshot().ticks === 1 ? true : undefined));
    let open: () => void = () => undefined;
    r.gate = new Promise<void>((resolve) => { open = resolve; });
    const update = r.manager.onOrderUpdate('paper');
    await until('the stream pass to be in its quote call', () => (r?.counts.running === 1 ? true : undefined));
    const tick = r.manager.tick();
    r.gate = undefined;
    open();
    await Promise.all([update, tick]);
    expect(r.counts.most).toBe(1);
    expect(r.counts.passes).toBe(3);
    expect(r.manager.snapshot().ticks).toBe(2);
  });

  it('does nothing once the loop is stopped', async () => {
    r = await rig(3_600_000);
    r.manager.start();
    await until('the first tick', () => (r?.manager.snapshot().ticks === 1 ? true : undefined));
    await r.manager.stop();
    await r.manager.onOrderUpdate('paper', 'late');
    expect(r.counts.passes).toBe(1);
  });
});
