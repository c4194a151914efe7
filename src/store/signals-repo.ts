// The signals table: every alert that passed authentication, with its final state and reason.
import type { SqliteDatabase } from './db.ts';
import { prepared } from './statements.ts';
import { orNull, orUndefined, timeFrom, timeText } from './columns.ts';
import { InvariantError } from '../domain/errors.ts';

export type SignalStatus = 'received' | 'queued' | 'executed' | 'partial' | 'rejected' | 'failed' | 'duplicate' | 'stale' | 'halted';

export interface NewSignalRecord {
  signalId: string;
  strategy: string;
  /** The alert's own `id` (its idempotency key), when it had one. */
  userId?: string | undefined;
  ticker?: string | undefined;
  symbol?: string | undefined;
  action?: string | undefined;
  sentiment?: string | undefined;
  /** The raw alert as JSON text, secret already removed; text so that its numbers keep every digit. */
  payload: string;
  receivedAt: Date;
  status: SignalStatus;
  reason?: string | undefined;
  contentHash?: string | undefined;
}

export interface SignalRecord extends NewSignalRecord {
  updatedAt: Date;
}

interface SignalRow {
  signal_id: string; strategy: string; user_id: string | null; ticker: string | null; symbol: string | null;
  action: string | null; sentiment: string | null; payload: string; received_at: string; status: SignalStatus;
  reason: string | null; content_hash: string | null; updated_at: string;
}

function fromRow(row: SignalRow): SignalRecord {
  return {
    signalId: row.signal_id,
    strategy: row.strategy,
    userId: orUndefined(row.user_id),
    ticker: orUndefined(row.ticker),
    symbol: orUndefined(row.symbol),
    action: orUndefined(row.action),
    sentiment: orUndefined(row.sentiment),
    payload: row.payload,
    receivedAt: timeFrom(row.received_at),
    status: row.status,
    reason: orUndefined(row.reason),
    contentHash: orUndefined(row.content_hash),
    updatedAt: timeFrom(row.updated_at),
  };
}

export class SignalsRepo {
  private readonly now: () => Date;

  constructor(private readonly db: SqliteDatabase, options: { now?: () => Date } = {}) {
    this.now = options.now ?? (() => new Date());
  }

  /**
   * Journals a signal. Returns false (and changes nothing) when the signal id is already there:
   * a re-delivered job journals its signal again harmlessly.
   */
  insert(signal: NewSignalRecord): boolean {
    const result = prepared(this.db, `
      INSERT INTO signals (signal_id, strategy, user_id, ticker, symbol, action, sentiment, payload, received_at, status, reason, content_hash, updated_at)
      VALUES (@signalId, @strategy, @userId, @ticker, @symbol, @action, @sentiment, @payload, @receivedAt, @status, @reason, @contentHash, @updatedAt)
      ON CONFLICT (signal_id) DO NOTHING`).run({
      signalId: signal.signalId,
      strategy: signal.strategy,
      userId: orNull(signal.userId),
      ticker: orNull(signal.ticker),
      symbol: orNull(signal.symbol),
      action: orNull(signal.action),
      sentiment: orNull(signal.sentiment),
      payload: signal.payload,
      receivedAt: timeText(signal.receivedAt),
      status: signal.status,
      reason: orNull(signal.reason),
      contentHash: orNull(signal.contentHash),
      updatedAt: timeText(this.now()),
    });
    return result.changes === 1;
  }

  /** Records where a signal stands; an unknown signal id is a programming error. */
  updateStatus(signalId: string, status: SignalStatus, reason?: string): void {
    const result = prepared(this.db, 'UPDATE signals SET status = ?, reason = ?, updated_at = ? WHERE signal_id = ?')
      .run(status, orNull(reason), timeText(this.now()), signalId);
    if (result.changes !== 1) throw new InvariantError(`no signal ${signalId} to update`);
  }

  findById(signalId: string): SignalRecord | undefined {
    const row = prepared(this.db, 'SELECT * FROM signals WHERE signal_id = ?').get(signalId) as SignalRow | undefined;
    return row === undefined ? undefined : fromRow(row);
  }

  /** Signals of a strategy carrying the alert id `userId`, received at or after `since`: the durable dedupe backstop. */
  findByUserId(strategy: string, userId: string, since: Date): SignalRecord[] {
    const rows = prepared(this.db, 'SELECT * FROM signals WHERE strategy = ? AND user_id = ? AND received_at >= ? ORDER BY received_at, signal_id')
      .all(strategy, userId, timeText(since)) as SignalRow[];
    return rows.map(fromRow);
  }

  /** Signals of a strategy with the same content hash received at or after `since` (alerts without an id). */
  findByContentHash(strategy: string, contentHash: string, since: Date): SignalRecord[] {
    const rows = prepared(this.db, 'SELECT * FROM signals WHERE strategy = ? AND content_hash = ? AND received_at >= ? ORDER BY received_at, signal_id')
      .all(strategy, contentHash, timeText(since)) as SignalRow[];
    return rows.map(fromRow);
  }
}
