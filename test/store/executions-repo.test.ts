// Executions: one per signal and account, and the lease that keeps a second run of a job from placing orders.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/db.ts';
import { ExecutionsRepo } from '../../src/store/executions-repo.ts';
import { SignalsRepo } from '../../src/store/signals-repo.ts';
import { manualClock, tempJournal, type ManualClock, type TempJournal } from './journal-fixture.ts';

let journal: TempJournal;
let clock: ManualClock;
let executions: ExecutionsRepo;

beforeEach(() => {
  clock = manualClock('2026-01-05T14:30:00.000Z');
  journal = tempJournal(clock.now);
  new SignalsRepo(journal.db, { now: clock.now }).insert({ signalId: 'SIG-1', strategy: 'alpha', payload: '{}', receivedAt: clock.now(), status: 'queued' });
  executions = new ExecutionsRepo(journal.db, { now: clock.now });
});
afterEach(() => journal.cleanup());

describe('executions', () => {
  it('creates one execution per signal and account and returns it again on re-delivery', () => {
    const first = executions.createOrGet({ signalId: 'SIG-1', account: 'paper', strategy: 'alpha' });
    const again = executions.createOrGet({ signalId: 'SIG-1', account: 'paper', strategy: 'alpha' });
    const live = executions.createOrGet({ signalId: 'SIG-1', account: 'live', strategy: 'alpha' });
    expect(first.created).toBe(true);
    expect(again).toEqual({ execution: first.execution, created: false });
    expect(live.created).toBe(true);
    expect(executions.listBySignal('SIG-1').map((e) => [e.account, e.status])).toEqual([['paper', 'queued'], ['live', 'queued']]);
  });

  it('records the outcome with its reason', () => {
    const { execution } = executions.createOrGet({ signalId: 'SIG-1', account: 'paper', strategy: 'alpha' });
    executions.setStatus(execution.id, 'rejected', 'risk:max_positions');
    expect(executions.findById(execution.id)).toMatchObject({ status: 'rejected', reason: 'risk:max_positions' });
    expect(() => executions.setStatus(9999, 'failed')).toThrow(/no execution 9999/);
  });
});

describe('leases', () => {
  it('grants the lease to one of two runs on two connections; the other waits', () => {
    const { execution } = executions.createOrGet({ signalId: 'SIG-1', account: 'paper', strategy: 'alpha' });
    const other = openDatabase(journal.path);
    try {
      const theirs = new ExecutionsRepo(other, { now: clock.now });
      expect(executions.claimLease(execution.id, 'run-1', 30_000)).toBe(true);
      expect(theirs.claimLease(execution.id, 'run-2', 30_000)).toBe(false);
      // Strict: even the holder does not "claim" again; it renews.
      expect(executions.claimLease(execution.id, 'run-1', 30_000)).toBe(false);
      expect(theirs.findById(execution.id)).toMatchObject({ leaseOwner: 'run-1', leaseExpiresAt: new Date('2026-01-05T14:30:30.000Z') });
    } finally {
      other.close();
    }
  });

  it('passes an expired lease to the next claimant, and only the owner renews or releases', () => {
    const { execution } = executions.createOrGet({ signalId: 'SIG-1', account: 'paper', strategy: 'alpha' });
    expect(executions.claimLease(execution.id, 'run-1', 10_000)).toBe(true);
    clock.advance(9_000);
    expect(executions.renewLease(execution.id, 'run-1', 10_000)).toBe(true);
    clock.advance(9_000);
    expect(executions.claimLease(execution.id, 'run-2', 10_000)).toBe(false);
    clock.advance(1_001);
    expect(executions.renewLease(execution.id, 'run-1', 10_000)).toBe(false);
    expect(executions.claimLease(execution.id, 'run-2', 10_000)).toBe(true);
    expect(executions.release(execution.id, 'run-1')).toBe(false);
    expect(executions.release(execution.id, 'run-2')).toBe(true);
    expect(executions.findById(execution.id)?.leaseOwner).toBeUndefined();
    expect(executions.claimLease(execution.id, 'run-3', 10_000, clock.now())).toBe(true);
  });
});
