// Positions in the journal: one live per account and symbol, one closer wins the claim, a close is one transaction.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Decimal } from '../../src/domain/money.ts';
import { InvariantError } from '../../src/domain/errors.ts';
import { openDatabase } from '../../src/store/db.ts';
import { PositionsRepo, type CloseRecord, type NewPosition } from '../../src/store/positions-repo.ts';
import { manualClock, tempJournal, type ManualClock, type TempJournal } from './journal-fixture.ts';

const d = (text: string) => new Decimal(text);

let journal: TempJournal;
let clock: ManualClock;
let positions: PositionsRepo;

function longAapl(overrides: Partial<NewPosition> = {}): NewPosition {
  return {
    id: 'POS-1', account: 'paper', strategy: 'alpha', symbol: 'AAPL', side: 'long', quantity: d('10'), averageEntryPrice: d('187.25'),
    entryFees: d('0.5'), stopPrice: d('183.5'), targetPrice: d('194.74'), protection: 'after_fill', status: 'open', tradingDay: '2026-01-05',
    ...overrides,
  };
}

const takeProfit: CloseRecord = {
  quantity: d('10'), entryPrice: d('187.25'), exitPrice: d('194.74'), realizedPnl: d('73.9'), realizedPnlPct: d('3.946595460614152202937249666'),
  fees: d('1'), exitReason: 'take_profit', tradingDay: '2026-01-05',
};

beforeEach(() => {
  clock = manualClock();
  journal = tempJournal(clock.now);
  positions = new PositionsRepo(journal.db, { now: clock.now });
});
afterEach(() => journal.cleanup());

describe('positions', () => {
  it('keeps one live position per account and symbol', () => {
    positions.open(longAapl());
    expect(() => positions.open(longAapl({ id: 'POS-2' }))).toThrow(/UNIQUE constraint failed/);
    expect(positions.open(longAapl({ id: 'POS-3', account: 'live' })).account).toBe('live');
    expect(positions.open(longAapl({ id: 'POS-4', symbol: 'MSFT' })).symbol).toBe('MSFT');
    expect(positions.findOpen('paper', 'AAPL')?.id).toBe('POS-1');
    expect(positions.listOpen('paper').map((p) => p.id)).toEqual(['POS-1', 'POS-4']);
    expect(positions.listOpen().map((p) => p.id)).toEqual(['POS-3', 'POS-1', 'POS-4']);
  });

  it('updates the fields that change while a position lives, clearing with null', () => {
    positions.open(longAapl({ status: 'opening' }));
    const updated = positions.update('POS-1', { status: 'open', quantity: d('15'), averageEntryPrice: d('187.5'), highWater: d('190.01'), targetPrice: null });
    expect(updated.status).toBe('open');
    expect(updated.quantity.toFixed()).toBe('15');
    expect(updated.highWater?.toFixed()).toBe('190.01');
    expect(updated.targetPrice).toBeUndefined();
    expect(updated.stopPrice?.toFixed()).toBe('183.5');
  });
});

describe('claimForClose', () => {
  it('lets only one of two claimants on two connections win', () => {
    positions.open(longAapl());
    const other = openDatabase(journal.path);
    try {
      const theirs = new PositionsRepo(other, { now: clock.now });
      const expires = new Date(clock.now().getTime() + 30_000);
      const results = [positions.claimForClose('POS-1', 'loop', expires), theirs.claimForClose('POS-1', 'exit-signal', expires)];
      expect(results).toEqual([true, false]);
      const position = theirs.findById('POS-1');
      expect(position?.status).toBe('closing');
      expect(position?.claimedBy).toBe('loop');
      expect(position?.claimExpiresAt?.toISOString()).toBe('2026-01-05T14:30:30.000Z');
    } finally {
      other.close();
    }
  });

  it('lets a claim be taken over once it has expired, not before', () => {
    positions.open(longAapl());
    expect(positions.claimForClose('POS-1', 'worker-a', new Date('2026-01-05T14:30:30.000Z'))).toBe(true);
    clock.set('2026-01-05T14:30:29.999Z');
    expect(positions.claimForClose('POS-1', 'worker-b', new Date('2026-01-05T14:31:00.000Z'))).toBe(false);
    clock.set('2026-01-05T14:30:30.001Z');
    expect(positions.claimForClose('POS-1', 'worker-b', new Date('2026-01-05T14:31:00.000Z'))).toBe(true);
    expect(positions.findById('POS-1')?.claimedBy).toBe('worker-b');
    // The first claimant, back from the dead, can no longer release what is not its claim.
    expect(positions.releaseClaim('POS-1', 'worker-a')).toBe(false);
    expect(positions.releaseClaim('POS-1', 'worker-b')).toBe(true);
    expect(positions.findById('POS-1')?.status).toBe('open');
  });

  it('never claims a position that is still opening, external or closed', () => {
    positions.open(longAapl({ status: 'opening' }));
    positions.open(longAapl({ id: 'EXT', symbol: 'TSLA', status: 'external' }));
    const later = new Date('2026-01-05T15:00:00.000Z');
    expect(positions.claimForClose('POS-1', 'x', later)).toBe(false);
    expect(positions.claimForClose('EXT', 'x', later)).toBe(false);
    positions.update('POS-1', { status: 'open' });
    positions.close('POS-1', takeProfit);
    expect(positions.claimForClose('POS-1', 'x', later)).toBe(false);
  });
});

describe('close', () => {
  it('writes the closed trade and marks the position closed together, freeing the symbol', () => {
    clock.set('2026-01-05T14:30:00.000Z');
    positions.open(longAapl());
    positions.claimForClose('POS-1', 'loop', new Date('2026-01-05T16:00:00.000Z'));
    clock.set('2026-01-05T15:45:00.000Z');
    const closed = positions.close('POS-1', takeProfit);

    expect(closed).toMatchObject({ positionId: 'POS-1', account: 'paper', strategy: 'alpha', symbol: 'AAPL', side: 'long', exitReason: 'take_profit',
      tradingDay: '2026-01-05' });
    expect(closed.realizedPnl.toFixed()).toBe('73.9');
    expect(closed.realizedPnlPct?.toFixed()).toBe('3.946595460614152202937249666');
    expect(closed.openedAt.toISOString()).toBe('2026-01-05T14:30:00.000Z');
    expect(closed.closedAt.toISOString()).toBe('2026-01-05T15:45:00.000Z');
    const position = positions.findById('POS-1');
    expect(position?.status).toBe('closed');
    expect(position?.claimedBy).toBeUndefined();
    expect(positions.findOpen('paper', 'AAPL')).toBeUndefined();
    expect(positions.open(longAapl({ id: 'POS-2' })).id).toBe('POS-2');
  });

  it('refuses to close a position twice and writes nothing the second time', () => {
    positions.open(longAapl());
    positions.close('POS-1', takeProfit);
    expect(() => positions.close('POS-1', takeProfit)).toThrow(InvariantError);
    expect(journal.db.prepare('SELECT COUNT(*) FROM closed_positions').pluck().get()).toBe(1);
  });

  it('rolls the closed trade back when marking the position fails', () => {
    positions.open(longAapl());
    journal.db.exec(`CREATE TRIGGER refuse_close BEFORE UPDATE OF status ON positions WHEN NEW.status = 'closed'
      BEGIN SELECT RAISE(ABORT, 'disk says no'); END`);
    expect(() => positions.close('POS-1', takeProfit)).toThrow(/disk says no/);
    expect(journal.db.prepare('SELECT COUNT(*) FROM closed_positions').pluck().get()).toBe(0);
    expect(positions.findById('POS-1')?.status).toBe('open');
  });

  it('reduces a position: the part taken off is a closed trade, the rest stays open and unclaimed', () => {
    positions.open(longAapl());
    positions.claimForClose('POS-1', 'signal', new Date('2026-01-05T16:00:00.000Z'));
    positions.reduce('POS-1', { ...takeProfit, quantity: d('4'), realizedPnl: d('29.56'), exitReason: 'signal' }, d('6'));
    const position = positions.findById('POS-1');
    expect(position?.status).toBe('open');
    expect(position?.quantity.toFixed()).toBe('6');
    expect(position?.claimedBy).toBeUndefined();
    expect(positions.closedForPosition('POS-1').map((c) => [c.quantity.toFixed(), c.exitReason])).toEqual([['4', 'signal']]);
    expect(() => positions.reduce('POS-1', takeProfit, d('0'))).toThrow(/close it instead/);
  });

  it('a reduce writes the closed part, the quantity left and the entry fee left in one transaction', () => {
    const entryFees = positions.open(longAapl()).entryFees;
    positions.reduce('POS-1', { ...takeProfit, quantity: d('4'), realizedPnl: d('29.56'), exitReason: 'signal' }, d('6'), d('0.3'));
    expect(positions.findById('POS-1')?.entryFees.toFixed()).toBe('0.3');
    // A failing insert leaves the quantity and the fee where they were.
    journal.db.exec(`CREATE TRIGGER no_more_closes BEFORE INSERT ON closed_positions BEGIN SELECT RAISE(ABORT, 'disk says no'); END`);
    expect(() => positions.reduce('POS-1', { ...takeProfit, quantity: d('1'), exitReason: 'signal' }, d('5'), d('0.25'))).toThrow(/disk says no/);
    expect([positions.findById('POS-1')?.quantity.toFixed(), positions.findById('POS-1')?.entryFees.toFixed()]).toEqual(['6', '0.3']);
    expect(entryFees.toFixed()).toBe('0.5');
  });
});
