// Report values for people (money to the cent, percents to two places, UTC times) and for scripts (exact decimal text, CSV).
import { Decimal } from '../domain/money.ts';
import type { OpenPositionRecord, OrderRecord, TradeRecord } from './journal.ts';
import type { ExitReasonStats, StrategyStats } from './stats.ts';

/** Money to the cent, half away from zero as a person rounds ('-0.00' never shows). */
export function cents(value: Decimal | undefined): string {
  if (value === undefined) return '-';
  const text = value.toDecimalPlaces(2, Decimal.ROUND_HALF_UP).toFixed(2);
  return text === '-0.00' ? '0.00' : text;
}

/** A percent to two places with its sign ('61.54%'); '-' when undefined. */
export function percent(value: Decimal | undefined): string {
  if (value === undefined) return '-';
  const text = value.toDecimalPlaces(2, Decimal.ROUND_HALF_UP).toFixed(2);
  return `${text === '-0.00' ? '0.00' : text}%`;
}

/** A ratio to two places; '-' when undefined. */
export function ratio(value: Decimal | undefined): string {
  return value === undefined ? '-' : value.toDecimalPlaces(2, Decimal.ROUND_HALF_UP).toFixed(2);
}

/** A price or quantity as stored: every digit, no exponent. */
export function exact(value: Decimal | undefined): string {
  return value === undefined ? '' : value.toFixed();
}

/** '2026-11-23T14:05:09.123Z' → '2026-11-23 14:05' (UTC). */
export function shortTime(iso: string): string {
  return iso.length >= 16 ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}` : iso;
}

/** A JSON-ready copy: Decimals become their exact text, undefined fields are dropped. */
export function jsonReady(value: unknown): unknown {
  if (Decimal.isDecimal(value)) return (value as Decimal).toFixed();
  if (Array.isArray(value)) return value.map(jsonReady);
  if (value instanceof Date) return value.toISOString();
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, jsonReady(v)]));
  }
  return value;
}

export interface Column {
  header: string;
  align?: 'left' | 'right';
}

export interface TableData {
  columns: Column[];
  rows: string[][];
}

export function tradesTable(trades: readonly TradeRecord[]): TableData {
  return {
    columns: [
      { header: 'CLOSED (UTC)' }, { header: 'STRATEGY' }, { header: 'ACCOUNT' }, { header: 'SYMBOL' }, { header: 'SIDE' },
      { header: 'QTY', align: 'right' }, { header: 'ENTRY', align: 'right' }, { header: 'EXIT', align: 'right' },
      { header: 'P&L', align: 'right' }, { header: 'P&L %', align: 'right' }, { header: 'FEES', align: 'right' }, { header: 'EXIT REASON' },
    ],
    rows: trades.map((t) => [
      shortTime(t.closedAt), t.strategy, t.account, t.symbol, t.side, exact(t.quantity), exact(t.entryPrice), exact(t.exitPrice),
      cents(t.realizedPnl), percent(t.realizedPnlPct), cents(t.fees), t.exitReason,
    ]),
  };
}

export function statsTable(stats: readonly StrategyStats[]): TableData {
  return {
    columns: [
      { header: 'STRATEGY' }, { header: 'TRADES', align: 'right' }, { header: 'WIN RATE', align: 'right' },
      { header: 'TOTAL P&L', align: 'right' }, { header: 'AVG P&L', align: 'right' }, { header: 'PROFIT FACTOR', align: 'right' },
      { header: 'MAX DRAWDOWN', align: 'right' }, { header: 'FILL RATE', align: 'right' }, { header: 'AVG SLIPPAGE', align: 'right' },
      { header: 'EXPECTANCY', align: 'right' },
    ],
    rows: stats.map((s) => [
      s.strategy, String(s.trades), percent(s.winRatePct), cents(s.totalPnl), cents(s.avgPnl),
      s.profitFactor !== undefined ? ratio(s.profitFactor) : s.grossWin.gt(0) ? 'inf' : '-',
      cents(s.maxDrawdown), s.fillRatePct === undefined ? '-' : `${percent(s.fillRatePct)} (${s.filledEntries}/${s.entryOrders})`,
      percent(s.avgSlippagePct), rMultipleText(s.expectancyR),
    ]),
  };
}

/** A multiple of R for display: two decimals and the unit ('+1.25 R'), '-' without one. */
export function rMultipleText(value: Decimal | undefined): string {
  if (value === undefined) return '-';
  const fixed = value.toDecimalPlaces(2, Decimal.ROUND_HALF_EVEN).toFixed(2);
  return `${value.gt(0) ? '+' : ''}${fixed} R`;
}

export function exitReasonTable(stats: readonly ExitReasonStats[]): TableData {
  return {
    columns: [{ header: 'EXIT REASON' }, { header: 'EXITS', align: 'right' }, { header: 'WIN RATE', align: 'right' }, { header: 'AVG R', align: 'right' }],
    rows: stats.map((s) => [s.exitReason, String(s.exits), percent(s.winRatePct), rMultipleText(s.avgR)]),
  };
}

export function positionsTable(positions: readonly OpenPositionRecord[]): TableData {
  return {
    columns: [
      { header: 'ACCOUNT' }, { header: 'STRATEGY' }, { header: 'SYMBOL' }, { header: 'SIDE' }, { header: 'QTY', align: 'right' },
      { header: 'ENTRY', align: 'right' }, { header: 'STOP', align: 'right' }, { header: 'TARGET', align: 'right' }, { header: 'STATUS' },
      { header: 'OPENED (UTC)' },
    ],
    rows: positions.map((p) => [
      p.account, p.strategy, p.symbol, p.side, exact(p.quantity), exact(p.averageEntryPrice),
      p.stopPrice ? exact(p.stopPrice) : p.trailPercent ? `trail ${exact(p.trailPercent)}%` : p.trailAmount ? `trail ${exact(p.trailAmount)}` : '-',
      p.targetPrice ? exact(p.targetPrice) : '-', p.status, shortTime(p.openedAt),
    ]),
  };
}

export function ordersTable(orders: readonly OrderRecord[]): TableData {
  return {
    columns: [
      { header: 'CREATED (UTC)' }, { header: 'ACCOUNT' }, { header: 'SYMBOL' }, { header: 'LEG' }, { header: 'SIDE' }, { header: 'TYPE' },
      { header: 'QTY', align: 'right' }, { header: 'PRICE', align: 'right' }, { header: 'FILLED', align: 'right' }, { header: 'STATUS' },
    ],
    rows: orders.map((o) => [
      shortTime(o.createdAt), o.account, o.symbol, o.leg, o.side, o.type, exact(o.quantity), exact(o.limitPrice ?? o.stopPrice) || '-',
      exact(o.filledQuantity), o.status,
    ]),
  };
}

const CSV_COLUMNS = ['id', 'position_id', 'account', 'strategy', 'symbol', 'side', 'quantity', 'entry_price', 'exit_price', 'realized_pnl',
  'realized_pnl_pct', 'fees', 'exit_reason', 'opened_at', 'closed_at', 'trading_day'] as const;

function csvCell(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** Trades as CSV (RFC 4180), exact values, one header line. */
export function tradesCsv(trades: readonly TradeRecord[]): string[] {
  return [CSV_COLUMNS.join(','), ...trades.map((t) => [
    String(t.id), t.positionId, t.account, t.strategy, t.symbol, t.side, exact(t.quantity), exact(t.entryPrice), exact(t.exitPrice),
    exact(t.realizedPnl), exact(t.realizedPnlPct), exact(t.fees), t.exitReason, t.openedAt, t.closedAt, t.tradingDay,
  ].map(csvCell).join(','))];
}
