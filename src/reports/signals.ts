// Reads the latest signals from the journal with their outcome and reason, and each account's execution of them.
import type { Database } from 'better-sqlite3';

/** One account's execution of a signal (a signal fans out into one per subscribed account). */
export interface SignalExecutionRecord {
  account: string;
  status: string;
  reason?: string | undefined;
}

/** A journalled signal: what the alert asked for, where it ended and why. */
export interface SignalSummary {
  signalId: string;
  receivedAt: string;
  strategy: string;
  ticker?: string | undefined;
  symbol?: string | undefined;
  action?: string | undefined;
  sentiment?: string | undefined;
  status: string;
  reason?: string | undefined;
  executions: SignalExecutionRecord[];
}

interface SignalRow {
  signal_id: string; received_at: string; strategy: string; ticker: string | null; symbol: string | null; action: string | null;
  sentiment: string | null; status: string; reason: string | null;
}

interface ExecutionRow { signal_id: string; account: string; status: string; reason: string | null }

/** The most recent signals, newest first (received_at, then signal id, whose ULID orders signals of the same millisecond). */
export function loadRecentSignals(db: Database, options: { limit?: number; strategy?: string | undefined } = {}): SignalSummary[] {
  const rows = db.prepare(`
    SELECT signal_id, received_at, strategy, ticker, symbol, action, sentiment, status, reason FROM signals
    WHERE (@strategy IS NULL OR strategy = @strategy)
    ORDER BY received_at DESC, signal_id DESC LIMIT @limit`).all({ strategy: options.strategy ?? null, limit: options.limit ?? 50 }) as SignalRow[];
  if (rows.length === 0) return [];
  const executions = db.prepare(`
    SELECT signal_id, account, status, reason FROM executions
    WHERE signal_id IN (SELECT value FROM json_each(?)) ORDER BY account`).all(JSON.stringify(rows.map((r) => r.signal_id))) as ExecutionRow[];
  const bySignal = new Map<string, ExecutionRow[]>();
  for (const e of executions) bySignal.set(e.signal_id, [...bySignal.get(e.signal_id) ?? [], e]);
  return rows.map((r) => ({
    signalId: r.signal_id, receivedAt: r.received_at, strategy: r.strategy, ticker: r.ticker ?? undefined, symbol: r.symbol ?? undefined,
    action: r.action ?? undefined, sentiment: r.sentiment ?? undefined, status: r.status, reason: r.reason ?? undefined,
    executions: (bySignal.get(r.signal_id) ?? []).map((e) => ({ account: e.account, status: e.status, reason: e.reason ?? undefined })),
  }));
}
