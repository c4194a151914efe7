// The funding job: each futures account's funding payments since the last one booked, charged to the positions' fees.
import type { ExecutionContext } from '../execution/context.ts';
import type { FundingRepo } from '../store/funding-repo.ts';

export interface FundingRun {
  account: string;
  booked: number;
}

/** How far back the first run looks when nothing is booked yet and no position is open: Binance keeps 7 days. */
const FIRST_LOOK_BACK_MS = 24 * 3600_000;

/**
 * Reads every account whose broker reports funding (Binance USD-M) and books what is new. A payment goes to the
 * tradewire position that held its symbol when it was settled; with none it is journalled alone. Idempotent: a
 * payment is booked once, whoever runs the job and however often.
 */
export async function bookFunding(ctx: ExecutionContext, funding: FundingRepo): Promise<FundingRun[]> {
  const runs: FundingRun[] = [];
  for (const account of ctx.brokers.accounts()) {
    const broker = ctx.brokers.get(account);
    if (!broker.fundingPayments) continue;
    const open = ctx.positions.listOpen(account);
    const oldestOpen = open.reduce<number | undefined>((min, p) => (min === undefined || p.openedAt.getTime() < min ? p.openedAt.getTime() : min), undefined);
    const since = funding.lastAt(account) ?? new Date(oldestOpen ?? ctx.now().getTime() - FIRST_LOOK_BACK_MS);
    let booked = 0;
    for (const payment of await broker.fundingPayments(since)) {
      const held = ctx.positions.findOpen(account, payment.symbol);
      const position = held && held.openedAt.getTime() <= payment.time.getTime() ? held : undefined;
      if (funding.book(account, payment, position?.id)) {
        booked += 1;
        ctx.logger.info({ event: 'funding.booked', account, symbol: payment.symbol, amount: payment.amount.toFixed(), asset: payment.asset, positionId: position?.id },
          `funding ${payment.amount.toFixed()} ${payment.asset} on ${payment.symbol}${position ? '' : ' (no tradewire position held it)'}`);
      }
    }
    runs.push({ account, booked });
  }
  return runs;
}
