// A closer that books fills part-way through its close keeps its claim: no other closer acts between the two steps.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Decimal } from '../../src/domain/money.ts';
import { PositionsRepo, type CloseRecord } from '../../src/store/positions-repo.ts';
import { manualClock, tempJournal, type ManualClock, type TempJournal } from './journal-fixture.ts';

const d = (text: string) => new Decimal(text);
const stopPart: CloseRecord = {
  quantity: d('4'), entryPrice: d('100'), exitPrice: d('97'), realizedPnl: d('-12'), fees: d('0'), exitReason: 'stop_loss', tradingDay: '2026-01-05',
};

let journal: TempJournal;
let clock: ManualClock;
let positions: PositionsRepo;

beforeEach(() => {
  clock = manualClock();
  journal = tempJournal(clock.now);
  positions = new PositionsRepo(journal.db, { now: clock.now });
  positions.open({ id: 'POS-1', account: 'paper', strategy: 'alpha', symbol: 'AAPL', side: 'long', quantity: d('10'), averageEntryPrice: d('100'),
    status: 'open', tradingDay: '2026-01-05' });
});
afterEach(() => journal.cleanup());

describe('reduce by the claimant', () => {
  it('keeps the position closing under the same claim and expiry; another closer cannot claim it', () => {
    const expires = new Date(clock.now().getTime() + 60_000);
    expect(positions.claimForClose('POS-1', 'closer-a', expires)).toBe(true);
    positions.reduce('POS-1', stopPart, d('6'), d('0'), 'closer-a');
    const after = positions.findById('POS-1');
    expect([after?.status, after?.quantity.toFixed(), after?.claimedBy, after?.claimExpiresAt?.toISOString()]).toEqual(['closing', '6', 'closer-a', expires.toISOString()]);
    expect(positions.claimForClose('POS-1', 'closer-b', expires)).toBe(false);
    expect(positions.releaseClaim('POS-1', 'closer-a')).toBe(true);
    expect(positions.findById('POS-1')?.status).toBe('open');
  });

  it('releases the claim when someone other than the claimant books the reduce, as before', () => {
    expect(positions.claimForClose('POS-1', 'closer-a', new Date(clock.now().getTime() + 60_000))).toBe(true);
    positions.reduce('POS-1', stopPart, d('6'), d('0'), 'loop');
    const after = positions.findById('POS-1');
    expect([after?.status, after?.claimedBy]).toEqual(['open', undefined]);
    positions.reduce('POS-1', stopPart, d('2'));
    expect(positions.findById('POS-1')?.status).toBe('open');
  });
});
