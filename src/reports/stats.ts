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
  /** Mean P&L in R over the trades (positions) that had an initial stop; a scaled-out trade's parts count as one. */
  expectancyR?: Decimal | undefined;
  /** The trades the expectancy is measured on. */
  rTrades: number;
}

/** Exits grouped by why they happened: a scale-out's partial exits count one each, under their own reason. */
export interface ExitReasonStats {
  exitReason: string;
  exits: number;
  wins: number;
  winRatePct: Decimal;
  /** Mean R of these exits (each part against its share of the initial risk); undefined when none had a stop. */
  avgR?: Decimal | undefined;
}

/** One closed part in R: its net P&L over what it risked (|entry − initial stop| × its quantity). */
export function partR(trade: TradeRecord): Decimal | undefined {
  if (!trade.initialStop) return undefined;
  const risk = trade.entryPrice.minus(trade.initialStop).abs().mul(trade.quantity);
  return risk.gt(0) ? trade.realizedPnl.div(risk) : undefined;
}

/** Each position's P&L in R: the sum of its parts' net P&L over the risk of all it closed. */
export function tradeRs(trades: readonly TradeRecord[]): Decimal[] {
  const byPosition = new Map<string, { pnl: Decimal; risk: Decimal }>();
  for (const trade of trades) {
    if (!trade.initialStop) continue;
    const risk = trade.entryPrice.minus(trade.initialStop).abs().mul(trade.quantity);
    const sum = byPosition.get(trade.positionId) ?? { pnl: ZERO, risk: ZERO };
    byPosition.set(trade.positionId, { pnl: sum.pnl.plus(trade.realizedPnl), risk: sum.risk.plus(risk) });
  }
  return [...byPosition.values()].filter((t) => t.risk.gt(0)).map((t) => t.pnl.div(t.risk));
}

/** Win rate and mean R per exit reason, most frequent first. */
export function exitReasonStats(trades: readonly TradeRecord[]): ExitReasonStats[] {
  const reasons = [...new Set(trades.map((t) => t.exitReason))];
  return reasons.map((exitReason) => {
    const exits = trades.filter((t) => t.exitReason === exitReason);
    const wins = exits.filter((t) => t.realizedPnl.gt(0)).length;
    const rs = exits.flatMap((t) => partR(t) ?? []);
    return {
      exitReason, exits: exits.length, wins, winRatePct: new Decimal(wins).div(exits.length).mul(HUNDRED),
      avgR: rs.length > 0 ? rs.reduce((a, b) => a.plus(b), ZERO).div(rs.length) : undefined,
    };
  }).sort((a, b) => b.exits - a.exits || a.exitReason.localeCompare(b.exitReason));
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
  const rs = tradeRs(trades);
  return {
    strategy,
    expectancyR: rs.length > 0 ? sum(rs).div(rs.length) : undefined,
    rTrades: rs.length,
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
