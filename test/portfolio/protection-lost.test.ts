// A stop the broker took down to move and could not put back (ProtectionLostError): the position loop halts the account and says so.
import { afterEach, describe, expect, it } from 'vitest';
import { ProtectionLostError } from '../../src/domain/errors.ts';
import { Decimal } from '../../src/domain/money.ts';
import type { ExecutionContext } from '../../src/execution/context.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { PositionManager } from '../../src/portfolio/manager.ts';
import { createHarness, overriding, type Harness } from '../helpers/executor-harness.ts';

let h: Harness | undefined;
let manager: PositionManager | undefined;
afterEach(async () => { await manager?.stop(); await h?.close(); h = undefined; manager = undefined; });

describe('a moved stop the broker could not put back', () => {
  it('halts the account with the broker\'s account of what rests, and logs account.halted', async () => {
    let moves = 0;
    h = await createHarness({
      wrap: (paper) => overriding(paper, {
        modifyOrder: async () => {
          moves += 1;
          throw new ProtectionLostError('binance-usdm: AAPL STOP_MARKET tw-sl was cancelled to be moved and could not be placed again; tw-mv-1 rests in its place',
            { broker: 'binance-usdm' });
        },
      }),
    });
    const logs: Array<Record<string, unknown>> = [];
    const logger = createLogger({ level: 'info', destination: { write: (line: string) => { logs.push(JSON.parse(line) as Record<string, unknown>); } } });
    const ctx: ExecutionContext = { ...h.ctx, logger };
    const outcome = await h.executor.execute(h.job({ ticker: 'AAPL', action: 'buy', sentiment: 'long', price: '100', stopLoss: { stopPrice: '95' }, takeProfit: { limitPrice: '150' } }));
    expect(outcome).toEqual({ status: 'executed' });
    const position = ctx.positions.findOpen('paper', 'AAPL');
    if (!position) throw new Error('no position opened');
    // A trail kept as a fixed stop order: the loop moves the order up to the trail.
    ctx.positions.update(position.id, { trailAmount: new Decimal('5') });
    await h.paper.updatePrice('AAPL', '110');
    expect(ctx.accountState.get('paper')?.halted ?? false).toBe(false);

    manager = new PositionManager(ctx, { intervalMs: 20, db: h.db, fillTimeoutMs: 200 });
    await manager.tick();

    expect(moves).toBe(1);
    const state = ctx.accountState.get('paper');
    expect(state?.halted).toBe(true);
    expect(state?.haltedReason).toContain('tw-mv-1 rests in its place');
    expect(logs.find((l) => l.event === 'account.halted')).toMatchObject({ account: 'paper', level: 50 });
  });
});
