// Opens the SQLite journal: creates its directory, sets the pragmas, runs the versioned migrations, takes online backups; its files are private (0600).
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as SqliteDatabase } from 'better-sqlite3';
import { MIGRATIONS, type Migration } from './migrations.ts';

export type { SqliteDatabase };

/** The journal cannot be used as it is: newer than this code, or its history disagrees with the code's migrations. */
export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

export interface OpenDatabaseOptions {
  /** The migrations to run; the shipped list unless a test says otherwise. */
  migrations?: readonly Migration[];
  now?: () => Date;
}

export interface MigrateResult {
  /** Versions applied by this call, in order (empty when the journal was already current). */
  applied: number[];
  version: number;
}

function isInMemory(path: string): boolean {
  return path === ':memory:' || path === '' || path.startsWith('file:');
}

/**
 * Creates the folders of `dir` that are missing, each 0700 whatever the umask. Folders that exist are left as they are:
 * the journal's may be a shared one such as /tmp, which is not ours to close.
 */
export function makePrivateDirs(dir: string): void {
  const first = mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (first === undefined) return;
  for (let folder = dir; ; folder = dirname(folder)) {
    chmodSync(folder, 0o700);
    if (folder === first || dirname(folder) === folder) return;
  }
}

/**
 * Makes a SQLite file private before SQLite opens it: created empty with 0600 when missing (SQLite would create it 0644
 * under the usual umask), else set to 0600, which also fixes a file an older tradewire left readable. SQLite gives the
 * -wal and -shm files it creates later the main file's mode.
 */
export function makePrivateFile(path: string): void {
  // Never open a file that exists: closing any descriptor of a file drops every POSIX lock this process holds on it,
  // and another connection in this process (the other thread of role all) may hold SQLite's locks on it. Without its
  // shared lock, another process closing the journal takes it for the last user and deletes the live -wal under it.
  if (!existsSync(path)) {
    try {
      closeSync(openSync(path, 'wx', 0o600));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error; // created meanwhile by another opener: fine
    }
  }
  chmodSync(path, 0o600);
}

/** Sets the journal's companions (-wal, -shm, -journal) that exist to 0600: ones created before the main file was private. */
export function makeCompanionsPrivate(path: string): void {
  for (const suffix of ['-wal', '-shm', '-journal']) if (existsSync(`${path}${suffix}`)) chmodSync(`${path}${suffix}`, 0o600);
}

/**
 * The WAL's size, in pages (4 KB), at which a commit copies it back into the main file (SQLite's default is 1,000).
 * That checkpoint runs inside the commit that crosses the mark, on the committing thread, and fsyncs the WAL and the main
 * file there: at the default, draining 5,000 alerts made the execution thread wait on ~7 of those fsyncs a second
 * (strace; 57 in 8 s). Hot pages (the tables' last leaves, the indexes) are written into the WAL by nearly every commit,
 * and a checkpoint copies each page once however often it was written since the last: a WAL ten times longer costs ten
 * times fewer blocking checkpoints and far less copying, for up to ~40 MB of disk while busy (reset after each checkpoint).
 */
export const WAL_CHECKPOINT_PAGES = 10_000;

/** Checkpoints spaced out as above: for the journal and for the paper ledger, each written on the execution thread. */
export function spaceCheckpoints(db: SqliteDatabase): void {
  db.pragma(`wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
}

/** Opens (creating if needed) and migrates the journal at `path`; ':memory:' gives a private in-memory one. */
export function openDatabase(path: string, options: OpenDatabaseOptions = {}): SqliteDatabase {
  if (!isInMemory(path)) {
    makePrivateDirs(dirname(path));
    makePrivateFile(path);
  }
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    if (!isInMemory(path)) makeCompanionsPrivate(path);
    // NORMAL, not FULL: in WAL mode a NORMAL commit is written to the -wal file but not fsynced, so it survives a
    // process kill (the OS holds the pages) and only an OS crash or a power loss can drop the last commits. FULL paid an
    // fsync (~1.5 ms here) on every commit, ~20 per signal: the whole budget (issue 13). The one commit that must be on
    // disk before anything leaves the process is an order's write-ahead intent: the order tracker waits for the shared
    // DurabilityBarrier (durability.ts) before every broker call, so concurrent executions share one fsync (group commit).
    // Everything else a power loss can drop is either re-derived from the queued job (deterministic client ids) or read
    // back from the broker by reconciliation. README "The journal" has the table.
    db.pragma('synchronous = NORMAL');
    spaceCheckpoints(db);
    db.pragma('foreign_keys = ON');
    // Several processes (api, worker, monitor roles) share the file; a writer waits instead of failing.
    db.pragma('busy_timeout = 5000');
    migrate(db, options.migrations ?? MIGRATIONS, options.now);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

function checkMigrationList(migrations: readonly Migration[]): void {
  migrations.forEach((m, index) => {
    if (m.version !== index + 1) {
      throw new MigrationError(`migration list is out of order: position ${index + 1} holds version ${m.version} (${m.name})`);
    }
  });
}

/**
 * Applies the migrations the journal lacks, each in its own IMMEDIATE transaction (so two processes
 * starting together never apply one twice), and refuses a journal written by a newer tradewire.
 */
export function migrate(db: SqliteDatabase, migrations: readonly Migration[] = MIGRATIONS, now: () => Date = () => new Date()): MigrateResult {
  checkMigrationList(migrations);
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
  )`);
  const known = migrations.length;
  const appliedRows = () => db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all() as { version: number; name: string }[];

  const newest = appliedRows().at(-1)?.version ?? 0;
  if (newest > known) {
    throw new MigrationError(
      `the database ${db.name} is at schema version ${newest}, but this tradewire knows versions up to ${known}: ` +
      'run the newer tradewire that wrote it, or restore a backup taken before the upgrade',
    );
  }
  for (const row of appliedRows()) {
    const ours = migrations[row.version - 1];
    if (ours !== undefined && ours.name !== row.name) {
      throw new MigrationError(`the database ${db.name} has migration ${row.version} '${row.name}', this tradewire calls it '${ours.name}'`);
    }
  }

  const applied: number[] = [];
  const isApplied = db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').pluck();
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const migration of migrations) {
    const ran = db.transaction(() => {
      // Checked again inside the write lock: another process may have applied it meanwhile.
      if (isApplied.get(migration.version) !== undefined) return false;
      db.exec(migration.sql);
      record.run(migration.version, migration.name, now().toISOString());
      return true;
    }).immediate();
    if (ran) applied.push(migration.version);
  }
  return { applied, version: known };
}

/** The journal's schema version (0 for an empty file). */
export function schemaVersion(db: SqliteDatabase): number {
  const row = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
  if (row === undefined) return 0;
  return (db.prepare('SELECT MAX(version) FROM schema_migrations').pluck().get() as number | null) ?? 0;
}

/**
 * Copies the journal to `destination` while it stays in use. better-sqlite3's backup copies in pages
 * between turns of the event loop, so a large journal never blocks the loop long enough to stall a job's lock.
 */
export async function backupDatabase(db: SqliteDatabase, destination: string, pagesPerStep = 256): Promise<void> {
  makePrivateDirs(dirname(destination));
  // The copy holds every order and position: private from its first page on, not only once it is complete.
  makePrivateFile(destination);
  await db.backup(destination, { progress: () => pagesPerStep });
  chmodSync(destination, 0o600);
}
