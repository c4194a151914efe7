// Test fixtures for the journal: a real SQLite file in a fresh temp directory, and a clock the test moves by hand.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type SqliteDatabase } from '../../src/store/db.ts';

export interface TempJournal {
  dir: string;
  path: string;
  db: SqliteDatabase;
  cleanup(): void;
}

export function tempJournal(now?: () => Date): TempJournal {
  const dir = mkdtempSync(join(tmpdir(), 'tw-store-'));
  const path = join(dir, 'data', 'trading.db');
  const db = openDatabase(path, now === undefined ? {} : { now });
  return {
    dir,
    path,
    db,
    cleanup: () => {
      if (db.open) db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ManualClock {
  now: () => Date;
  set(iso: string): void;
  advance(ms: number): void;
}

export function manualClock(startIso = '2026-01-05T14:30:00.000Z'): ManualClock {
  let current = new Date(startIso);
  return {
    now: () => new Date(current.getTime()),
    set: (iso) => { current = new Date(iso); },
    advance: (ms) => { current = new Date(current.getTime() + ms); },
  };
}
