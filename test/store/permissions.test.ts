// The journal, its WAL and SHM, the paper ledger and the backups are private to tradewire's user: files 0600, folders 0700,
// whatever the umask. Run under umask 022, the usual default, where SQLite alone would write 0644.
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PaperLedger } from '../../src/brokers/paper/ledger.ts';
import { runBackup } from '../../src/jobs/backup.ts';
import { openDatabase } from '../../src/store/db.ts';
import { AccountStateRepo } from '../../src/store/account-state-repo.ts';
import { Decimal } from '../../src/domain/money.ts';
import { tempDir } from '../helpers/env.ts';

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

describe('file permissions under umask 022', () => {
  let saved: number;
  const dir = tempDir('tw-perms');
  beforeAll(() => { saved = process.umask(0o022); });
  afterAll(() => { process.umask(saved); dir.cleanup(); });

  it('a new journal is 0600 with its WAL and SHM, in a folder created 0700', () => {
    const path = join(dir.path, 'new', 'data', 'trading.db');
    const db = openDatabase(path);
    try {
      new AccountStateRepo(db).setDayStart('paper', '2026-12-05', new Decimal('1000'));
      expect([mode(path), mode(`${path}-wal`), mode(`${path}-shm`)]).toEqual(['600', '600', '600']);
      expect([mode(join(dir.path, 'new', 'data')), mode(join(dir.path, 'new'))]).toEqual(['700', '700']);
    } finally {
      db.close();
    }
  });

  it('a journal an older tradewire left 0644 is made 0600 when opened; a folder it did not create is left alone', () => {
    const folder = join(dir.path, 'old');
    mkdirSync(folder, { mode: 0o755 });
    const path = join(folder, 'trading.db');
    openDatabase(path).close();
    chmodSync(path, 0o644);
    const db = openDatabase(path);
    try {
      expect(mode(path)).toBe('600');
      expect(mode(folder)).toBe('755');
    } finally {
      db.close();
    }
  });

  it('backups are 0600 in a backups folder 0700, even one that was 0755', async () => {
    const db = openDatabase(join(dir.path, 'b', 'trading.db'));
    try {
      const fresh = await runBackup(db, { dir: join(dir.path, 'b', 'backups'), keep: 7, now: new Date('2026-12-05T02:30:00Z') });
      expect([mode(fresh.path), mode(join(dir.path, 'b', 'backups'))]).toEqual(['600', '700']);
      const open = join(dir.path, 'b', 'open-backups');
      mkdirSync(open, { mode: 0o755 });
      writeFileSync(join(open, 'trading-2026-12-04.db'), '', { mode: 0o644 });
      const again = await runBackup(db, { dir: open, keep: 7, now: new Date('2026-12-05T02:30:00Z') });
      expect([mode(again.path), mode(open), mode(join(open, 'trading-2026-12-04.db'))]).toEqual(['600', '700', '600']);
    } finally {
      db.close();
    }
  });

  it('the paper ledger is 0600 with its WAL and SHM, in a folder created 0700', () => {
    const path = join(dir.path, 'ledgers', 'paper.db');
    const ledger = PaperLedger.open(path);
    try {
      expect([mode(path), mode(`${path}-wal`), mode(`${path}-shm`), mode(join(dir.path, 'ledgers'))]).toEqual(['600', '600', '600', '700']);
    } finally {
      ledger.close();
    }
  });
});
