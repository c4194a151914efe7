// Where trading tells the notifier: an entry fill, a close with its P&L, a refusal that needs a person, the kill switch.
// Through ctx.notify on a real executor, journal and paper broker; the notifier itself is tested apart.
import { http, HttpResponse, delay } from 'msw';
import { afterEach, describe, expect, it } from 'vitest';
import { notificationsSchema } from '../../../src/config/schema.ts';
import { createLogger } from '../../../src/ops/logger.ts';
import { createNotifier } from '../../../src/ops/notify/notifier.ts';
import { useMswServer } from '../../helpers/msw.ts';
import { until } from '../../helpers/env.ts';
import { Decimal } from '../../../src/domain/money.ts';
import type { NotifyEvent } from '../../../src/ops/notify/events.ts';
import { renderEvent } from '../../../src/ops/notify/events.ts';
import { dailySummaryText } from '../../../src/ops/notify/daily-summary.ts';
import { KillSwitch } from '../../../src/portfolio/kill-switch.ts';
import { PositionManager } from '../../../src/portfolio/manager.ts';
import type { Broker } from '../../../src/brokers/broker.ts';
import { createHarness, overriding, type Harness } from '../../helpers/executor-harness.ts';

const CONFIG = `
accounts:
  paper:
    broker: paper
    slippagePercent: 0
    killSwitch: { maxDailyLossPercent: 5, flatten: true }
strategies:
  default:
    account: paper
    sizing: { mode: fixed_quantity, value: 500 }
    stopLoss: { percent: 15 }
    takeProfit: { percent: 50 }
`;

const server = useMswServer();

describe('notifications from trading', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  async function harness(): Promise<{ h: Harness; events: NotifyEvent[] }> {
    h = await createHarness({ configText: CONFIG });
    const events: NotifyEvent[] = [];
    h.ctx.notify = (event) => { events.push(event); };
    return { h, events };
  }

  it('an entry fill and the exit that closes it, with the realized P&L', async () => {
    const { h: t, events } = await harness();
    expect(await t.executor.execute(t.job({ ticker: 'AAPL', action: 'buy', sentiment: 'long', price: '100', id: 'n-1' }))).toEqual({ status: 'executed' });
    await t.paper.updatePrice('AAPL', '104');
    expect(await t.executor.execute(t.job({ ticker: 'AAPL', action: 'sell', sentiment: 'flat', price: '104', id: 'n-2' }))).toEqual({ status: 'executed' });
    const lines = events.map(renderEvent).filter((r) => r !== undefined);
    expect(lines.map((r) => r.switch)).toEqual(['fills', 'closes']);
    expect(lines[0]?.line).toBe('🟢 opened long 500 AAPL @ 100 (paper, default)');
    expect(lines[1]?.line).toBe('✅ closed long 500 AAPL @ 104 (signal, paper): P&L +2000.00');
    // The daily summary reads the same journal.
    const summary = dailySummaryText(t.db, t.ctx.positions, new Date());
    expect(summary).toContain('Closed trades: 1 (1 won, 0 lost)');
    expect(summary).toContain('Realized P&L: 2000.00');
    expect(summary).toContain('Open positions: 0');
    expect(dailySummaryText(t.db, t.ctx.positions, new Date(Date.now() + 86_400_000))).toContain('No trades closed today. Open positions: 0.');
  });

  it('an alert refused because the account is halted is a refusal that needs attention', async () => {
    const { h: t, events } = await harness();
    t.ctx.accountState.halt('paper', 'maintenance');
    expect(await t.executor.execute(t.job({ ticker: 'AAPL', action: 'buy', sentiment: 'long', price: '100', id: 'n-3' }))).toEqual({ status: 'halted', reason: 'halted: maintenance' });
    const rendered = events.map(renderEvent).filter((r) => r !== undefined);
    expect(rendered).toEqual([{ switch: 'refusals', line: expect.stringContaining('⚠️ halted: AAPL at paper') as unknown }]);
  });

  it('the kill switch trip, then the positions it flattens', async () => {
    const { h: t, events } = await harness();
    expect(await t.executor.execute(t.job({ ticker: 'AAPL', action: 'buy', sentiment: 'long', price: '100', id: 'n-4' }))).toEqual({ status: 'executed' });
    events.length = 0;
    const ks = new KillSwitch(t.ctx);
    expect((await ks.evaluate('paper', { marks: new Map([['AAPL', new Decimal('100')]]) })).tripped).toBe(false); // the day's base
    await t.paper.updatePrice('AAPL', '89');
    const result = await ks.evaluate('paper', { marks: new Map([['AAPL', new Decimal('89')]]) });
    expect(result.tripped).toBe(true);
    expect(events.map((e) => e.type)).toEqual(['kill_switch', 'close']);
    expect(renderEvent(events[0] as NotifyEvent)).toMatchObject({ switch: 'killSwitch', urgent: true, line: expect.stringMatching(/^🛑 KILL SWITCH at paper: kill_switch: day loss 5500/) as unknown });
  });

  it('the position loop failing is told once when it starts and once when it works again, not on every tick', async () => {
    let down = false;
    h = await createHarness({ configText: CONFIG, wrap: (paper) => overriding(paper, {
      quotes: async (symbols: string[]) => { if (down) throw new Error('broker unreachable (ECONNREFUSED)'); return paper.quotes(symbols); },
    } as Partial<Broker>) });
    const events: NotifyEvent[] = [];
    h.ctx.notify = (event) => { events.push(event); };
    expect(await h.executor.execute(h.job({ ticker: 'AAPL', action: 'buy', sentiment: 'long', price: '100', id: 'n-6' }))).toEqual({ status: 'executed' });
    const manager = new PositionManager(h.ctx, { intervalMs: 1000, db: h.db });
    await manager.tick();
    events.length = 0;
    down = true;
    for (let i = 0; i < 5; i++) await manager.tick();
    down = false;
    await manager.tick();
    await manager.tick();
    expect(events).toEqual([
      { type: 'error', account: 'paper', message: 'the position loop is failing: broker unreachable (ECONNREFUSED)' },
      { type: 'error', account: 'paper', message: 'the position loop works again' },
    ]);
  });

  it('a trade with a notifier whose service hangs takes no longer than one without', async () => {
    const discord = 'https://discord.com/api/webhooks/9/hanging-webhook';
    let arrived = 0;
    server.use(http.post(discord, async () => { arrived += 1; await delay('infinite'); return new HttpResponse(null, { status: 204 }); }));
    h = await createHarness({ configText: CONFIG });
    const t = h;
    const trade = async (n: number) => {
      const began = performance.now();
      expect(await t.executor.execute(t.job({ ticker: 'MSFT', action: 'buy', sentiment: 'long', price: '300', id: `hang-${n}-in` }))).toEqual({ status: 'executed' });
      expect(await t.executor.execute(t.job({ ticker: 'MSFT', action: 'sell', sentiment: 'flat', price: '300', id: `hang-${n}-out` }))).toEqual({ status: 'executed' });
      return performance.now() - began;
    };
    await trade(0); // warm-up
    const without = Math.min(await trade(1), await trade(2));
    const notifier = createNotifier(notificationsSchema.parse({ dailySummaryAt: 'off', channels: { ops: { type: 'discord', webhookUrl: discord, batchWindowMs: 0 } } }),
      { logger: createLogger({ level: 'silent', destination: { write: () => undefined } }) });
    notifier.start();
    t.ctx.notify = notifier.notify;
    try {
      const withHanging = Math.min(await trade(3), await trade(4));
      await until('the first message reaches the hanging service', () => (arrived > 0 ? true : undefined));
      await trade(5);
      expect(arrived).toBe(1); // the first message is still waiting for an answer; the rest are queued behind it
      // The last trade's fill and close at least wait behind it (earlier trades' messages too, when the executor's own
      // awaits let the first send start before they were batched with it): queued, not sent alongside, not dropped.
      expect(notifier.stats().ops?.queued).toBeGreaterThanOrEqual(2);
      expect(withHanging).toBeLessThan(without * 2 + 50);
    } finally {
      await notifier.stop();
    }
  });

  it('without a notifier nothing changes', async () => {
    h = await createHarness({ configText: CONFIG });
    expect(h.ctx.notify).toBeUndefined();
    expect(await h.executor.execute(h.job({ ticker: 'AAPL', action: 'buy', sentiment: 'long', price: '100', id: 'n-5' }))).toEqual({ status: 'executed' });
  });
});
