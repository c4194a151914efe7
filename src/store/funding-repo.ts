// Funding payments of perpetual futures: journalled once each, and charged to the position that held the symbol.
import type { SqliteDatabase } from './db.ts';
import { prepared } from './statements.ts';
import { decimalText, timeFrom, timeText } from './columns.ts';
import type { FundingPayment } from '../domain/order.ts';
import type { PositionsRepo } from './positions-repo.ts';

export class FundingRepo {
  constructor(private readonly db: SqliteDatabase, private readonly positions: PositionsRepo) {}

  /**
   * Books a payment: journalled, and when a position held the symbol, charged to its fees (a payment received
   * lowers them), so the trade's realized P&L is net of its funding. One transaction; a payment already booked is
   * left alone and false returned.
   */
  book(account: string, payment: FundingPayment, positionId: string | undefined): boolean {
    return this.db.transaction(() => {
      const inserted = prepared(this.db, `
        INSERT INTO funding_payments (account, broker_id, symbol, amount, asset, position_id, at) VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (account, broker_id) DO NOTHING`)
        .run(account, payment.id, payment.symbol, decimalText(payment.amount), payment.asset, positionId ?? null, timeText(payment.time)).changes === 1;
      if (inserted && positionId !== undefined) {
        const position = this.positions.findById(positionId);
        if (position) this.positions.update(positionId, { entryFees: position.entryFees.minus(payment.amount) });
      }
      return inserted;
    }).immediate();
  }

  /** When the newest booked payment of the account was settled: where the next read starts. */
  lastAt(account: string): Date | undefined {
    const at = prepared(this.db, 'SELECT MAX(at) FROM funding_payments WHERE account = ?').pluck().get(account) as string | null;
    return at === null ? undefined : timeFrom(at);
  }
}
