// The journal opens, migrates from empty, re-runs idempotently and refuses a database newer than the code.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { backupDatabase, migrate, MigrationError, openDatabase, schemaVersion } from '../../src/store/db.ts';
import { MIGRATIONS } from '../../src/store/migrations.ts';
import { manualClock } from './journal-fixture.ts';

const TABLES = ['account_state', 'closed_positions', 'equity_snapshots', 'executed_orders', 'executions', 'fills', 'funding_payments', 'order_events',
  'positions', 'schema_migrations', 'signals'];
const VIEWS = ['v_daily_pnl', 'v_initial_stops', 'v_level_fills', 'v_open_positions', 'v_strategy_stats', 'v_trades'];

let dirs: string[] = [];
function tempPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tw-migrate-'));
  dirs.push(dir);
  return join(dir, 'nested', 'data', 'trading.db');
}
afterEach(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs = [];
});

function objects(db: Database.Database, type: 'table' | 'view'): string[] {
  return (db.prepare("SELECT name FROM sqlite_master WHERE type = ? AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all(type) as string[]);
}

/** The newest schema version this tradewire knows; the tests add versions after it. */
const N = MIGRATIONS.length;

describe('openDatabase and migrate', () => {
  it('creates the parent directory and every table and view from an empty file', () => {
    const path = tempPath();
    const clock = manualClock('2026-02-01T08:00:00.000Z');
    const db = openDatabase(path, { now: clock.now });
    try {
      expect(existsSync(path)).toBe(true);
      expect(objects(db, 'table')).toEqual(TABLES);
      expect(objects(db, 'view')).toEqual(VIEWS);
      for (const view of VIEWS) expect(() => db.prepare(`SELECT * FROM ${view}`).all()).not.toThrow();
      expect(db.prepare('SELECT version, name, applied_at FROM schema_migrations').all())
        .toEqual([
          { version: 1, name: 'journal', applied_at: '2026-02-01T08:00:00.000Z' },
          { version: 2, name: 'day start unrealized', applied_at: '2026-02-01T08:00:00.000Z' },
          { version: 3, name: 'funding payments', applied_at: '2026-02-01T08:00:00.000Z' },
          { version: 4, name: 'trade management', applied_at: '2026-02-01T08:00:00.000Z' },
        ]);
      expect(schemaVersion(db)).toBe(MIGRATIONS.length);
    } finally {
      db.close();
    }
  });

  it('sets WAL, normal sync (fsyncs come from the durability barrier), foreign keys and a busy timeout', () => {
    const db = openDatabase(tempPath());
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('synchronous', { simple: true })).toBe(1);
      expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
      expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
      expect(() => db.prepare("INSERT INTO executions (signal_id, account, strategy, status, created_at, updated_at) VALUES ('nope', 'a', 's', 'queued', 't', 't')").run())
        .toThrow(/FOREIGN KEY/);
    } finally {
      db.close();
    }
  });

  it('applies nothing the second time: schema_migrations is unchanged', () => {
    const path = tempPath();
    const first = openDatabase(path, { now: manualClock('2026-02-01T08:00:00.000Z').now });
    const before = first.prepare('SELECT * FROM schema_migrations').all();
    first.close();

    const second = openDatabase(path, { now: manualClock('2026-03-01T08:00:00.000Z').now });
    try {
      expect(second.prepare('SELECT * FROM schema_migrations').all()).toEqual(before);
      expect(migrate(second)).toEqual({ applied: [], version: MIGRATIONS.length });
      expect(second.prepare('SELECT * FROM schema_migrations').all()).toEqual(before);
    } finally {
      second.close();
    }
  });

  it('applies only the missing migrations, each in its own transaction', () => {
    const path = tempPath();
    openDatabase(path).close();
    const next = [...MIGRATIONS, { version: N + 1, name: 'notes', sql: 'CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);' }];
    const db = new Database(path);
    try {
      expect(migrate(db, next).applied).toEqual([N + 1]);
      expect(objects(db, 'table')).toContain('notes');
      expect(migrate(db, next).applied).toEqual([]);
    } finally {
      db.close();
    }
  });

  it('rolls a failing migration back whole and leaves the version where it was', () => {
    const path = tempPath();
    openDatabase(path).close();
    const broken = [...MIGRATIONS, { version: N + 1, name: 'broken', sql: 'CREATE TABLE half_done (id INTEGER); SELECT * FROM no_such_table;' }];
    expect(() => openDatabase(path, { migrations: broken })).toThrow(/no_such_table/);
    const db = new Database(path);
    try {
      expect(objects(db, 'table')).not.toContain('half_done');
      expect(schemaVersion(db)).toBe(N);
    } finally {
      db.close();
    }
  });

  it('refuses a database written by a newer tradewire, with a clear error', () => {
    const path = tempPath();
    const db = openDatabase(path);
    db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from_the_future', '2027-01-01T00:00:00.000Z')").run(N + 1);
    db.close();
    expect(() => openDatabase(path)).toThrow(MigrationError);
    expect(() => openDatabase(path)).toThrow(`schema version ${N + 1}, but this tradewire knows versions up to ${N}`);
  });

  it('refuses a database whose migration history names differ from the code', () => {
    const path = tempPath();
    openDatabase(path).close();
    const renamed = [{ ...MIGRATIONS[0]!, name: 'something_else' }, ...MIGRATIONS.slice(1)];
    expect(() => openDatabase(path, { migrations: renamed })).toThrow(/has migration 1 'journal'/);
  });

  it('upgrades a version-1 journal in place: its rows stay, account_state gains day_start_unrealized', () => {
    const path = tempPath();
    const v1 = openDatabase(path, { migrations: MIGRATIONS.slice(0, 1) });
    v1.prepare("INSERT INTO account_state (account, halted, day_start_equity, trading_day, updated_at) VALUES ('paper', 0, '1000.5', '2026-11-20', 't')").run();
    v1.close();
    const db = openDatabase(path);
    try {
      expect(schemaVersion(db)).toBe(N);
      expect(db.prepare('SELECT account, day_start_equity, day_start_unrealized FROM account_state').all())
        .toEqual([{ account: 'paper', day_start_equity: '1000.5', day_start_unrealized: null }]);
    } finally {
      db.close();
    }
  });

  it('opens an in-memory journal too', () => {
    const db = openDatabase(':memory:');
    try {
      expect(objects(db, 'table')).toEqual(TABLES);
    } finally {
      db.close();
    }
  });

  it('backs up online to a file that opens as a current journal', async () => {
    const path = tempPath();
    const db = openDatabase(path);
    try {
      db.prepare("INSERT INTO account_state (account, halted, updated_at) VALUES ('paper', 1, '2026-01-01T00:00:00.000Z')").run();
      const copy = join(path, '..', '..', 'backups', 'trading-copy.db');
      await backupDatabase(db, copy);
      const restored = openDatabase(copy);
      try {
        expect(restored.prepare('SELECT account, halted FROM account_state').all()).toEqual([{ account: 'paper', halted: 1 }]);
        expect(schemaVersion(restored)).toBe(N);
      } finally {
        restored.close();
      }
    } finally {
      db.close();
    }
  });
});
