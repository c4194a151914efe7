// The execution's lease, taken in the admission's commit: a second run of the same job waits, then finds it finished.
import { afterEach, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../helpers/executor-harness.ts';

const BUY = { ticker: 'NASDAQ:AAPL', action: 'buy', sentiment: 'long', price: '100' };

describe('the execution lease', () => {
  let h: Harness | undefined;
  afterEach(async () => { await h?.close(); h = undefined; });

  it('is held from the admission on: the same job run twice at once places one entry and runs once', async () => {
    h = await createHarness();
    const job = h.job(BUY);
    const [first, second] = await Promise.all([h.executor.execute(job), h.executor.execute(job)]);
    expect([first, second]).toEqual([{ status: 'executed' }, undefined]);
    const entries = h.ctx.orders.ordersForSignal(job.signalId).filter((o) => o.leg === 'entry');
    expect(entries).toHaveLength(1);
    expect((await h.paper.positions()).map((p) => p.quantity.toFixed())).toEqual(['10']);
    const execution = h.ctx.executions.find(job.signalId, 'paper');
    expect(execution).toMatchObject({ status: 'executed' });
    expect(execution?.leaseOwner).toBeUndefined();
  });

  it('another holder is waited out; the run then takes the lease and executes', async () => {
    h = await createHarness();
    const job = h.job(BUY);
    h.ctx.signals.insert({ signalId: job.signalId, strategy: job.strategy, payload: job.rawPayload, receivedAt: new Date(job.receivedAt), status: 'queued' });
    const { execution } = h.ctx.executions.createOrGet({ signalId: job.signalId, account: 'paper', strategy: job.strategy });
    expect(h.ctx.executions.claimLease(execution.id, 'another-worker', 60_000)).toBe(true);
    const harness = h;
    setTimeout(() => { harness.ctx.executions.release(execution.id, 'another-worker'); }, 50);
    const outcome = await h.executor.execute(job);
    expect(outcome).toEqual({ status: 'executed' });
    expect(h.ctx.orders.ordersForSignal(job.signalId).filter((o) => o.leg === 'entry')).toHaveLength(1);
  });

  it('a finished execution delivered again runs nothing', async () => {
    h = await createHarness();
    const job = h.job(BUY);
    expect(await h.executor.execute(job)).toEqual({ status: 'executed' });
    const orders = h.ctx.orders.ordersForSignal(job.signalId).length;
    expect(await h.executor.execute(job)).toBeUndefined();
    expect(h.ctx.orders.ordersForSignal(job.signalId)).toHaveLength(orders);
    expect(h.ctx.signals.findById(job.signalId)?.status).toBe('executed');
  });
});
