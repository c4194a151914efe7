// Trade statistics by strategy from the journal's closed trades and entry orders, in exact Decimal (formatting is the caller's).
import { Decimal, HUNDRED, ZERO } from '../domain/money.ts';
import { LIVE_STATUSES } from '../domain/order.ts';
import type { EntryRecord, TradeRecord } from './journal.ts';

export interface StrategyStats {
  /** The strategy's name, or '(all)' for the total row. */
  strategy: string;
  trades: number;
  wins: number;
  losses: number;
  /** Percent of trades with a positive net P&L; undefined without trades. */
  winRatePct?: Decimal | undefined;
  totalPnl: Decimal;
  avgPnl?: Decimal | undefined;
  grossWin: Decimal;
  /** The sum of the losing trades, as a positive amount. */
  grossLoss: Decimal;
  /** grossWin ÷ grossLoss; undefined when there is no loss (infinite, or nothing at all). */
  profitFactor?: Decimal | undefined;
  /** The deepest fall of the cumulative realized P&L from its running peak (the curve starts at 0), in money, ≥ 0. */
  maxDrawdown: Decimal;
  fees: Decimal;
  /** Entry orders that are filled or have ended (working ones are left out until they do). */
  entryOrders: number;
  /** Those of them with a fill. */
  filledEntries: number;
  fillRatePct?: Decimal | undefined;
  /** Filled entries whose alert had a price: the ones slippage is measured on. */
  slippageSamples: number;
  /** Mean of (fill − alert price) ÷ alert price × 100, signed so that worse for the trader is positive. */
  avgSlippagePct?: Decimal | undefined;
  /** Σ (fill − alert price) × filled quantity, signed the same way: what slippage cost, in money. */
  slippageCost: Decimal;
}

export const ALL = '(all)';

const WORKING: ReadonlySet<string> = new Set(['pending_submit', ...LIVE_STATUSES]);

/** Slippage of one filled entry against its alert's price, per unit; positive when the fill was worse for the trader. */
export function entrySlippage(entry: EntryRecord): { perUnit: Decimal; pct: Decimal } | undefined {
  if (!entry.alertPrice || !entry.averageFillPrice || entry.filledQuantity.lte(0) || entry.alertPrice.lte(0)) return undefined;
  const perUnit = entry.side === 'buy' ? entry.averageFillPrice.minus(entry.alertPrice) : entry.alertPrice.minus(entry.averageFillPrice);
  return { perUnit, pct: perUnit.div(entry.alertPrice).mul(HUNDRED) };
}

/** The largest peak-to-trough fall of the cumulative P&L of `pnls` taken in order, starting from 0. */
export function maxDrawdown(pnls: readonly Decimal[]): Decimal {
  let cumulative = ZERO;
  let peak = ZERO;
  let deepest = ZERO;
  for (const pnl of pnls) {
    cumulative = cumulative.plus(pnl);
    peak = Decimal.max(peak, cumulative);
    deepest = Decimal.max(deepest, peak.minus(cumulative));
  }
  return deepest;
}

function statsOf(strategy: string, trades: readonly TradeRecord[], entries: readonly EntryRecord[]): StrategyStats {
  const sum = (values: Decimal[]) => values.reduce((a, b) => a.plus(b), ZERO);
  const wins = trades.filter((t) => t.realizedPnl.gt(0));
  const losses = trades.filter((t) => t.realizedPnl.lt(0));
  const totalPnl = sum(trades.map((t) => t.realizedPnl));
  const grossWin = sum(wins.map((t) => t.realizedPnl));
  const grossLoss = sum(losses.map((t) => t.realizedPnl)).abs();
  const decided = entries.filter((e) => e.filledQuantity.gt(0) || !WORKING.has(e.status));
  const filled = decided.filter((e) => e.filledQuantity.gt(0));
  const slips = filled.flatMap((e) => {
    const slip = entrySlippage(e);
    return slip ? [{ ...slip, quantity: e.filledQuantity }] : [];
  });
  return {
    strategy,
    trades: trades.length,
    wins: wins.length,
    losses: losses.length,
    winRatePct: trades.length > 0 ? new Decimal(wins.length).div(trades.length).mul(HUNDRED) : undefined,
    totalPnl,
    avgPnl: trades.length > 0 ? totalPnl.div(trades.length) : undefined,
    grossWin,
    grossLoss,
    profitFactor: grossLoss.gt(0) ? grossWin.div(grossLoss) : undefined,
    maxDrawdown: maxDrawdown(trades.map((t) => t.realizedPnl)),
    fees: sum(trades.map((t) => t.fees)),
    entryOrders: decided.length,
    filledEntries: filled.length,
    fillRatePct: decided.length > 0 ? new Decimal(filled.length).div(decided.length).mul(HUNDRED) : undefined,
    slippageSamples: slips.length,
    avgSlippagePct: slips.length > 0 ? sum(slips.map((s) => s.pct)).div(slips.length) : undefined,
    slippageCost: sum(slips.map((s) => s.perUnit.mul(s.quantity))),
  };
}

/**
 * One row per strategy (by name) and a total row last. Trades must be in close order (loadTrades gives them so):
 * the drawdown follows that order.
 */
export function computeStats(trades: readonly TradeRecord[], entries: readonly EntryRecord[]): StrategyStats[] {
  const names = [...new Set([...trades.map((t) => t.strategy), ...entries.map((e) => e.strategy)])].sort();
  const rows = names.map((name) => statsOf(name, trades.filter((t) => t.strategy === name), entries.filter((e) => e.strategy === name)));
  return [...rows, statsOf(ALL, trades, entries)];
}
