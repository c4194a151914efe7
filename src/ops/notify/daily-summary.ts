// The daily summary's text: today's closed trades (UTC day) from the journal, and what is still open.
import type { Database } from 'better-sqlite3';
import { loadTrades } from '../../reports/journal.ts';
import { computeStats, ALL } from '../../reports/stats.ts';
import type { PositionsRepo } from '../../store/positions-repo.ts';

export function dailySummaryText(db: Database, positions: Pick<PositionsRepo, 'listOpen'>, now: Date): string {
  const day = now.toISOString().slice(0, 10);
  const trades = loadTrades(db, { since: new Date(`${day}T00:00:00.000Z`) });
  const stats = computeStats(trades, []);
  const all = stats.find((s) => s.strategy === ALL) ?? stats[0];
  const open = positions.listOpen().length;
  const head = `📊 Daily summary ${day} (UTC)`;
  if (!all || all.trades === 0) return `${head}\nNo trades closed today. Open positions: ${open}.`;
  const perStrategy = stats.filter((s) => s.strategy !== ALL).map((s) => `  ${s.strategy}: ${s.trades} trade(s), P&L ${s.totalPnl.toFixed(2)}`);
  return [head, `Closed trades: ${all.trades} (${all.wins} won, ${all.losses} lost)`, `Realized P&L: ${all.totalPnl.toFixed(2)} (fees ${all.fees.toFixed(2)})`,
    ...(perStrategy.length > 1 ? perStrategy : []), `Open positions: ${open}`].join('\n');
}
