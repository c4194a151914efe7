// The executions table: one row per signal and account, with the lease a job holds while it places orders.
import type { SqliteDatabase } from './db.ts';
import { prepared } from './statements.ts';
import { optionalTimeFrom, orNull, orUndefined, timeFrom, timeText } from './columns.ts';
import { InvariantError } from '../domain/errors.ts';

export type ExecutionStatus = 'queued' | 'running' | 'executed' | 'rejected' | 'failed' | 'stale' | 'halted';

export interface Execution {
  id: number;
  signalId: string;
  account: string;
  strategy: string;
  status: ExecutionStatus;
  reason?: string | undefined;
  leaseOwner?: string | undefined;
  leaseExpiresAt?: Date | undefined;
  createdAt: Date;
  updatedAt: Date;
}

interface ExecutionRow {
  id: number; signal_id: string; account: string; strategy: string; status: ExecutionStatus; reason: string | null;
  lease_owner: string | null; lease_expires_at: string | null; created_at: string; updated_at: string;
}

function fromRow(row: ExecutionRow): Execution {
  return {
    id: row.id,
    signalId: row.signal_id,
    account: row.account,
    strategy: row.strategy,
    status: row.status,
    reason: orUndefined(row.reason),
    leaseOwner: orUndefined(row.lease_owner),
    leaseExpiresAt: optionalTimeFrom(row.lease_expires_at),
    createdAt: timeFrom(row.created_at),
    updatedAt: timeFrom(row.updated_at),
  };
}

export class ExecutionsRepo {
  private readonly now: () => Date;

  constructor(private readonly db: SqliteDatabase, options: { now?: () => Date } = {}) {
    this.now = options.now ?? (() => new Date());
  }

  /**
   * Runs one step of an execution as one unit of work: every write inside it, through any repository on this journal's
   * connection (signals, executions, orders, positions), commits together, in one IMMEDIATE transaction, or not at all.
   */
  unitOfWork<T>(step: () => T): T {
    return this.db.transaction(step).immediate();
  }

  /** The execution of a signal at an account, created ('queued') on first sight; a re-delivered job gets the same row. */
  createOrGet(input: { signalId: string; account: string; strategy: string }): { execution: Execution; created: boolean } {
    const at = timeText(this.now());
    const result = prepared(this.db, `
      INSERT INTO executions (signal_id, account, strategy, status, created_at, updated_at)
      VALUES (?, ?, ?, 'queued', ?, ?)
      ON CONFLICT (signal_id, account) DO NOTHING`).run(input.signalId, input.account, input.strategy, at, at);
    const execution = this.find(input.signalId, input.account);
    if (execution === undefined) throw new InvariantError(`execution of ${input.signalId} at ${input.account} missing after insert`);
    return { execution, created: result.changes === 1 };
  }

  find(signalId: string, account: string): Execution | undefined {
    const row = prepared(this.db, 'SELECT * FROM executions WHERE signal_id = ? AND account = ?').get(signalId, account) as ExecutionRow | undefined;
    return row === undefined ? undefined : fromRow(row);
  }

  findById(id: number): Execution | undefined {
    const row = prepared(this.db, 'SELECT * FROM executions WHERE id = ?').get(id) as ExecutionRow | undefined;
    return row === undefined ? undefined : fromRow(row);
  }

  listBySignal(signalId: string): Execution[] {
    return (prepared(this.db, 'SELECT * FROM executions WHERE signal_id = ? ORDER BY id').all(signalId) as ExecutionRow[]).map(fromRow);
  }

  /**
   * Takes the lease for `ttlMs` when nobody holds it or the holder's lease has expired, in one UPDATE,
   * so of two runs of the same job exactly one gets it. True only for the winner. It does not look
   * at the status: a caller that loses, or wins a finished execution, reads the row and acts on that.
   */
  claimLease(executionId: number, owner: string, ttlMs: number, now: Date = this.now()): boolean {
    const result = prepared(this.db, `
      UPDATE executions SET lease_owner = @owner, lease_expires_at = @expires, updated_at = @now
      WHERE id = @id AND (lease_owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at < @now)`).run({
      id: executionId, owner, expires: timeText(new Date(now.getTime() + ttlMs)), now: timeText(now),
    });
    return result.changes === 1;
  }

  /** Extends a lease its owner still holds (not expired); false when it has lapsed or passed to another. */
  renewLease(executionId: number, owner: string, ttlMs: number, now: Date = this.now()): boolean {
    const result = prepared(this.db, `
      UPDATE executions SET lease_expires_at = @expires, updated_at = @now
      WHERE id = @id AND lease_owner = @owner AND lease_expires_at >= @now`).run({
      id: executionId, owner, expires: timeText(new Date(now.getTime() + ttlMs)), now: timeText(now),
    });
    return result.changes === 1;
  }

  /** The account's executions a live worker is running now (status running, lease not lapsed): what the kill switch waits for. */
  listRunning(account: string, now: Date = this.now()): Execution[] {
    return (prepared(this.db, `SELECT * FROM executions WHERE account = ? AND status = 'running' AND lease_expires_at >= ? ORDER BY id`)
      .all(account, timeText(now)) as ExecutionRow[]).map(fromRow);
  }

  /**
   * The symbols of an account that an execution is working on now (status running, lease not lapsed). The position loop
   * leaves them alone: the execution books and protects its own fills, and a crashed one's lease lapses within seconds.
   */
  busySymbols(account: string, now: Date = this.now()): Set<string> {
    const rows = prepared(this.db, `SELECT DISTINCT s.symbol FROM executions e JOIN signals s ON s.signal_id = e.signal_id
      WHERE e.account = ? AND e.status = 'running' AND e.lease_expires_at >= ? AND s.symbol IS NOT NULL`).pluck().all(account, timeText(now)) as string[];
    return new Set(rows);
  }

  /** Gives the lease up; only its owner can. */
  release(executionId: number, owner: string): boolean {
    const result = prepared(this.db, `
      UPDATE executions SET lease_owner = NULL, lease_expires_at = NULL, updated_at = ?
      WHERE id = ? AND lease_owner = ?`).run(timeText(this.now()), executionId, owner);
    return result.changes === 1;
  }

  setStatus(executionId: number, status: ExecutionStatus, reason?: string): void {
    const result = prepared(this.db, 'UPDATE executions SET status = ?, reason = ?, updated_at = ? WHERE id = ?')
      .run(status, orNull(reason), timeText(this.now()), executionId);
    if (result.changes !== 1) throw new InvariantError(`no execution ${executionId} to update`);
  }
}
