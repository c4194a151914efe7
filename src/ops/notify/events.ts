// The events tradewire tells a trader about, the config switch each answers to, and the one line each becomes.
import type { Decimal } from '../../domain/money.ts';
import type { ClosedPosition, Position } from '../../store/positions-repo.ts';

export type NotifyEvent =
  | { type: 'fill'; position: Pick<Position, 'account' | 'symbol' | 'side' | 'quantity' | 'averageEntryPrice' | 'strategy'> }
  | { type: 'close'; closed: Pick<ClosedPosition, 'account' | 'symbol' | 'side' | 'quantity' | 'exitPrice' | 'realizedPnl' | 'exitReason'> }
  /** An execution's end: only the ones that need a person (failed, halted, a protection or reversal problem) are sent. */
  | { type: 'execution'; signalId: string; account: string; symbol: string; status: string; reason?: string | undefined }
  | { type: 'halt'; account: string; reason: string }
  | { type: 'kill_switch'; account: string; reason: string; flatten: boolean }
  | { type: 'error'; message: string; account?: string | undefined }
  | { type: 'daily_summary'; text: string };

/** The per-channel switches of the config (`notifications.channels.<name>.events`). */
export const EVENT_SWITCHES = ['fills', 'closes', 'refusals', 'errors', 'killSwitch', 'dailySummary'] as const;
export type EventSwitch = (typeof EVENT_SWITCHES)[number];

/** What a trader reads, and which switch lets it through; undefined: nothing worth a message. */
export interface Rendered {
  switch: EventSwitch;
  line: string;
  /** Sent on its own rather than folded into a batch's first lines (the kill switch, the daily summary). */
  urgent?: boolean;
}

// Refusals a person must look at: the position was closed unprotected, a reversal did not complete, the account is halted.
const ATTENTION = /^(protection_failed|reversal_timeout|halted|position_not_held)\b/;

const money = (value: Decimal): string => (value.gte(0) ? `+${value.toFixed(2)}` : value.toFixed(2));

export function renderEvent(event: NotifyEvent): Rendered | undefined {
  switch (event.type) {
    case 'fill': {
      const p = event.position;
      return { switch: 'fills', line: `🟢 opened ${p.side} ${p.quantity.toFixed()} ${p.symbol} @ ${p.averageEntryPrice.toFixed()} (${p.account}, ${p.strategy})` };
    }
    case 'close': {
      const c = event.closed;
      const mark = c.realizedPnl.gte(0) ? '✅' : '🔻';
      return { switch: 'closes', line: `${mark} closed ${c.side} ${c.quantity.toFixed()} ${c.symbol} @ ${c.exitPrice.toFixed()} (${c.exitReason}, ${c.account}): P&L ${money(c.realizedPnl)}` };
    }
    case 'execution': {
      const reason = event.reason ?? '';
      const where = `${event.symbol} at ${event.account}, signal ${event.signalId}`;
      if (event.status === 'halted' || ATTENTION.test(reason)) return { switch: 'refusals', line: `⚠️ ${event.status}: ${where}: ${reason || event.status}` };
      if (event.status === 'failed') return { switch: 'errors', line: `❌ failed: ${where}: ${reason}` };
      return undefined;
    }
    case 'halt':
      return { switch: 'refusals', line: `⛔ entries halted at ${event.account}: ${event.reason}` };
    case 'kill_switch':
      return { switch: 'killSwitch', urgent: true, line: `🛑 KILL SWITCH at ${event.account}: ${event.reason}${event.flatten ? '; flattening' : ''}` };
    case 'error':
      return { switch: 'errors', line: `❌ ${event.account ? `${event.account}: ` : ''}${event.message}` };
    case 'daily_summary':
      return { switch: 'dailySummary', urgent: true, line: event.text };
  }
}
