// The nightly backup: an online copy of the journal (better-sqlite3's paged backup) as trading-YYYY-MM-DD.db (0600, folder 0700), keeping the newest few.
import { chmodSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { SqliteDatabase } from '../store/db.ts';
import { backupDatabase, makePrivateDirs } from '../store/db.ts';

const BACKUP_NAME = /^trading-(\d{4}-\d{2}-\d{2})\.db$/;

export interface BackupResult {
  path: string;
  /** Older backups removed by the rotation. */
  removed: string[];
}

/** The backup file's name for an instant: the UTC date (backup.cron runs in UTC). */
export function backupFileName(now: Date): string {
  return `trading-${now.toISOString().slice(0, 10)}.db`;
}

/**
 * Copies the journal into `dir` while it stays in use, then keeps the `keep` newest backups. The copy is written under
 * a temporary name and renamed, so a crash mid-copy never leaves a half file under a backup's name; a second run on
 * the same day replaces that day's copy.
 */
export async function runBackup(db: SqliteDatabase, options: { dir: string; keep: number; now?: Date }): Promise<BackupResult> {
  const now = options.now ?? new Date();
  const path = join(options.dir, backupFileName(now));
  const partial = `${path}.partial`;
  rmSync(partial, { force: true });
  // The backups folder is tradewire's own: 0700 even when it existed before (an older tradewire made it 0755).
  makePrivateDirs(options.dir);
  chmodSync(options.dir, 0o700);
  await backupDatabase(db, partial);
  renameSync(partial, path);
  return { path, removed: rotateBackups(options.dir, options.keep) };
}

/** Removes all but the `keep` newest trading-YYYY-MM-DD.db files in `dir` (other files are left alone). */
export function rotateBackups(dir: string, keep: number): string[] {
  const backups = readdirSync(dir).filter((name) => BACKUP_NAME.test(name)).sort().reverse();
  const removed = backups.slice(Math.max(keep, 1)).map((name) => join(dir, name));
  for (const file of removed) rmSync(file, { force: true });
  // Backups an older tradewire wrote 0644 are kept private too.
  for (const name of backups.slice(0, Math.max(keep, 1))) chmodSync(join(dir, name), 0o600);
  return removed;
}
