import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { backupFileName, runBackup } from '../../src/jobs/backup.ts';
import { openDatabase, type SqliteDatabase } from '../../src/store/db.ts';
import { AccountStateRepo } from '../../src/store/account-state-repo.ts';
import { Decimal } from '../../src/domain/money.ts';
import { tempDir } from '../helpers/env.ts';

describe('the nightly backup', () => {
  let dir: ReturnType<typeof tempDir> | undefined;
  let db: SqliteDatabase | undefined;
  afterEach(() => { db?.close(); dir?.cleanup(); db = undefined; dir = undefined; });

  it('writes a readable copy of the journal, named for the day, while the journal stays open', async () => {
    dir = tempDir('tw-backup');
    db = openDatabase(join(dir.path, 'trading.db'));
    new AccountStateRepo(db).setDayStart('paper', '2026-11-23', new Decimal('100000.25'));
    const backups = join(dir.path, 'backups');

    const result = await runBackup(db, { dir: backups, keep: 7, now: new Date('2026-11-23T02:00:00Z') });
    expect(result.path).toBe(join(backups, 'trading-2026-11-23.db'));
    expect(readdirSync(backups)).toEqual(['trading-2026-11-23.db']); // no partial file left behind

    const copy = new Database(result.path, { readonly: true });
    try {
      expect(copy.prepare('SELECT day_start_equity FROM account_state WHERE account = ?').pluck().get('paper')).toBe('100000.25');
      expect(copy.prepare('SELECT MAX(version) FROM schema_migrations').pluck().get()).toBeGreaterThanOrEqual(1);
      expect(copy.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      copy.close();
    }
    // The journal is still usable after the copy.
    new AccountStateRepo(db).setDayStart('paper', '2026-11-24', new Decimal('1'));
  });

  it('keeps the newest `keep` backups and leaves other files alone; a second run on a day replaces that day\'s copy', async () => {
    dir = tempDir('tw-backup');
    db = openDatabase(join(dir.path, 'trading.db'));
    const backups = join(dir.path, 'backups');
    for (const day of ['2026-11-20', '2026-11-21', '2026-11-22']) await runBackup(db, { dir: backups, keep: 2, now: new Date(`${day}T02:00:00Z`) });
    writeFileSync(join(backups, 'notes.txt'), 'keep me');
    const last = await runBackup(db, { dir: backups, keep: 2, now: new Date('2026-11-23T02:00:00Z') });
    expect(last.removed).toEqual([join(backups, 'trading-2026-11-21.db')]);
    expect(readdirSync(backups).sort()).toEqual(['notes.txt', 'trading-2026-11-22.db', 'trading-2026-11-23.db']);

    const again = await runBackup(db, { dir: backups, keep: 2, now: new Date('2026-11-23T03:00:00Z') });
    expect(again.removed).toEqual([]);
    expect(existsSync(join(backups, backupFileName(new Date('2026-11-23T03:00:00Z'))))).toBe(true);
  });
});
