// The journal's durability: commits without an fsync each (synchronous = NORMAL), a shared fsync barrier before broker
// calls (group commit), locks that survive a second connection in the same process, and the risk check's day sums.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Decimal } from '../../src/domain/money.ts';
import { openDatabase } from '../../src/store/db.ts';
import { durabilityBarrier } from '../../src/store/durability.ts';
import { PositionsRepo, type CloseRecord, type NewPosition } from '../../src/store/positions-repo.ts';
import { manualClock, tempJournal, type TempJournal } from './journal-fixture.ts';

const SQLITE3 = spawnSync('sqlite3', ['-version']).status === 0;
const d = (text: string) => new Decimal(text);

let journal: TempJournal;
beforeEach(() => {
  journal = tempJournal(manualClock().now);
  journal.db.exec('CREATE TABLE IF NOT EXISTS t (n INTEGER)');
});
afterEach(() => journal.cleanup());

describe('the durability barrier', () => {
  it('gives executions waiting at once one fsync between them', async () => {
    const barrier = durabilityBarrier(journal.db);
    const before = barrier.fsyncCount;
    const waits: Array<Promise<void>> = [];
    for (let i = 0; i < 10; i++) {
      journal.db.prepare('INSERT INTO t (n) VALUES (?)').run(i);
      waits.push(barrier.sync());
    }
    await Promise.all(waits);
    // The first caller's fsync, then one more shared by the nine that came while it ran.
    expect(barrier.fsyncCount - before).toBe(2);
  });

  it('never lets a commit made during an fsync ride on it: its caller waits for the next one', async () => {
    const barrier = durabilityBarrier(journal.db);
    const before = barrier.fsyncCount;
    const first = barrier.sync();
    journal.db.prepare('INSERT INTO t (n) VALUES (1)').run();
    let secondDone = false;
    const second = barrier.sync().then(() => { secondDone = true; });
    await first;
    expect(barrier.fsyncCount - before).toBe(1);
    expect(secondDone).toBe(false);
    await second;
    expect(barrier.fsyncCount - before).toBe(2);
  });

  it('is the same barrier for every user of one connection, so their waits share fsyncs', () => {
    expect(durabilityBarrier(journal.db)).toBe(durabilityBarrier(journal.db));
  });
});

describe('a journal opened twice in one process (role all: the HTTP side and the execution thread)', () => {
  // The sqlite3 shell is what a user opens the journal with (README); better-sqlite3's build keeps the -wal on close anyway.
  it.skipIf(!SQLITE3)('keeps SQLite\'s locks: another process closing the journal does not delete the live -wal', () => {
    const second = openDatabase(journal.path);
    try {
      journal.db.prepare('INSERT INTO t (n) VALUES (42)').run();
      expect(existsSync(`${journal.path}-wal`)).toBe(true);
      // Another process (the CLI, sqlite3) opens and closes it. Without our shared lock it would take itself for the last
      // user, checkpoint and delete the -wal under our open connections.
      const child = spawnSync('sqlite3', [journal.path, 'SELECT count(*) FROM t'], { encoding: 'utf8' });
      expect(child.status, child.stderr).toBe(0);
      expect(existsSync(`${journal.path}-wal`)).toBe(true);
      journal.db.prepare('INSERT INTO t (n) VALUES (43)').run();
      expect(second.prepare('SELECT n FROM t ORDER BY n').pluck().all()).toEqual([42, 43]);
    } finally {
      second.close();
    }
  });
});

describe('the realized P&L of a day (every entry\'s risk check)', () => {
  const position = (id: string, symbol: string, day: string): NewPosition => ({
    id, account: 'paper', strategy: 'alpha', symbol, side: 'long', quantity: d('1'), averageEntryPrice: d('100'), entryFees: d('0'),
    protection: 'after_fill', status: 'open', tradingDay: day,
  });
  const closing = (pnl: string, day: string): CloseRecord => ({
    quantity: d('1'), entryPrice: d('100'), exitPrice: d('101'), realizedPnl: d(pnl), fees: d('0'), exitReason: 'signal', tradingDay: day,
  });

  it('sums exactly, counts trades closed after an earlier ask, and keeps days and accounts apart', () => {
    const positions = new PositionsRepo(journal.db);
    positions.open(position('P1', 'AAA', '2026-12-05'));
    positions.close('P1', closing('0.1', '2026-12-05'));
    positions.open(position('P2', 'BBB', '2026-12-05'));
    positions.close('P2', closing('0.2', '2026-12-05'));
    expect(positions.realizedOnDay('paper', '2026-12-05').toFixed()).toBe('0.3');
    positions.open(position('P3', 'CCC', '2026-12-05'));
    positions.close('P3', closing('-1.05', '2026-12-05'));
    positions.open(position('P4', 'DDD', '2026-12-04'));
    positions.close('P4', closing('7', '2026-12-04'));
    expect(positions.realizedOnDay('paper', '2026-12-05').toFixed()).toBe('-0.75');
    expect(positions.realizedOnDay('paper', '2026-12-04').toFixed()).toBe('7');
    expect(positions.realizedOnDay('live', '2026-12-05').toFixed()).toBe('0');
    // Another connection's closes count too (a second process, the CLI).
    const otherDb = openDatabase(journal.path);
    const other = new PositionsRepo(otherDb);
    other.open(position('P5', 'EEE', '2026-12-05'));
    other.close('P5', closing('0.75', '2026-12-05'));
    otherDb.close();
    expect(positions.realizedOnDay('paper', '2026-12-05').toFixed()).toBe('0');
    expect(positions.lastClosed('paper', 'CCC', 'alpha')?.realizedPnl.toFixed()).toBe('-1.05');
    expect(positions.lastClosed('paper', 'ZZZ', 'alpha')).toBeUndefined();
  });
});
