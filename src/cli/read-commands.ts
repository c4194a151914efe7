// `tradewire positions`, `trades` and `stats`: read the SQLite journal directly, read-only, with or without the daemon running.
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Database as SqliteDatabase } from 'better-sqlite3';
import { exitReasonTable, positionsTable, statsTable, tradesCsv, tradesTable, jsonReady } from '../reports/format.ts';
import { loadEntries, loadOpenPositions, loadTrades, sinceDays } from '../reports/journal.ts';
import { computeStats, exitReasonStats } from '../reports/stats.ts';
import { EXIT, type Output } from './output.ts';
import { renderTable } from './table.ts';

export interface ReadOptions {
  databasePath: string;
  json?: boolean | undefined;
  now?: (() => Date) | undefined;
}

/** Opens the journal read-only; undefined (after one line on stderr) when there is none to read. */
export function openJournalReadOnly(path: string, io: Output): SqliteDatabase | undefined {
  if (!existsSync(path)) {
    io.err(`tradewire: no journal at ${path}: start the daemon once, or point DATABASE_PATH (or --db, or --config) at it`);
    return undefined;
  }
  let db: SqliteDatabase;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    const tables = db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('closed_positions', 'positions', 'executed_orders', 'signals')").pluck().get();
    if (tables !== 4) {
      db.close();
      io.err(`tradewire: ${path} is not a tradewire journal (its tables are missing)`);
      return undefined;
    }
  } catch (error) {
    io.err(`tradewire: cannot read the journal ${path}: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
  return db;
}

function withJournal(options: ReadOptions, io: Output, read: (db: SqliteDatabase) => number): number {
  const db = openJournalReadOnly(options.databasePath, io);
  if (!db) return EXIT.failed;
  try {
    return read(db);
  } finally {
    db.close();
  }
}

interface AccountStateRow { account: string; halted: number; halted_reason: string | null; halted_until_day: string | null }

export function runPositions(options: ReadOptions & { account?: string | undefined }, io: Output): number {
  return withJournal(options, io, (db) => {
    const positions = loadOpenPositions(db, options.account);
    const states = (db.prepare('SELECT account, halted, halted_reason, halted_until_day FROM account_state WHERE halted = 1 ORDER BY account').all() as AccountStateRow[])
      .filter((s) => options.account === undefined || s.account === options.account);
    if (options.json) {
      io.out(JSON.stringify(jsonReady({
        positions, halted: states.map((s) => ({ account: s.account, reason: s.halted_reason ?? undefined, untilDay: s.halted_until_day ?? undefined })),
      }), null, 2));
      return EXIT.ok;
    }
    if (positions.length === 0) io.out('No open positions.');
    else for (const line of renderTable(positionsTable(positions))) io.out(line);
    for (const s of states) {
      io.out(`Account ${s.account} is HALTED${s.halted_until_day ? ` until ${s.halted_until_day}` : ''}: ${s.halted_reason ?? 'no reason given'} (tradewire resume --account ${s.account})`);
    }
    return EXIT.ok;
  });
}

export function runTrades(options: ReadOptions & { days?: number | undefined; strategy?: string | undefined; csv?: boolean | undefined }, io: Output): number {
  return withJournal(options, io, (db) => {
    const since = sinceDays(options.days, (options.now ?? (() => new Date()))());
    const trades = loadTrades(db, { since, strategy: options.strategy });
    if (options.csv) {
      for (const line of tradesCsv(trades)) io.out(line);
    } else if (options.json) {
      io.out(JSON.stringify(jsonReady({ since, trades }), null, 2));
    } else if (trades.length === 0) {
      io.out(`No closed trades${options.strategy ? ` for ${options.strategy}` : ''}${options.days !== undefined ? ` in the last ${options.days} day(s)` : ''}.`);
    } else {
      for (const line of renderTable(tradesTable(trades))) io.out(line);
    }
    return EXIT.ok;
  });
}

export function runStats(options: ReadOptions & { days?: number | undefined; strategy?: string | undefined }, io: Output): number {
  return withJournal(options, io, (db) => {
    const since = sinceDays(options.days, (options.now ?? (() => new Date()))());
    const trades = loadTrades(db, { since, strategy: options.strategy });
    const stats = computeStats(trades, loadEntries(db, { since, strategy: options.strategy }));
    const byExitReason = exitReasonStats(trades);
    if (options.json) {
      io.out(JSON.stringify(jsonReady({ since, stats, byExitReason }), null, 2));
      return EXIT.ok;
    }
    const period = options.days !== undefined ? `last ${options.days} day(s)` : 'all time';
    io.out(`Stats (${period}; P&L net of fees, in account currency; slippage of entry fills against the alert price, + is worse):`);
    // With one strategy the total row would repeat it.
    for (const line of renderTable(statsTable(stats.length === 2 ? stats.slice(0, 1) : stats))) io.out(line);
    if (byExitReason.length > 0) {
      io.out('');
      io.out('By exit reason (each partial exit of a scale-out counts once; R against the initial stop):');
      for (const line of renderTable(exitReasonTable(byExitReason))) io.out(line);
    }
    return EXIT.ok;
  });
}
