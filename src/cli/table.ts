// A small table formatter for the CLI: aligned columns under a header rule, numbers right-aligned.
import type { TableData } from '../reports/format.ts';

export function renderTable(table: TableData): string[] {
  const widths = table.columns.map((c, i) => Math.max(c.header.length, ...table.rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells
    .map((cell, i) => (table.columns[i]?.align === 'right' ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
    .join('  ').trimEnd();
  return [line(table.columns.map((c) => c.header)), widths.map((w) => '-'.repeat(w)).join('  '), ...table.rows.map(line)];
}
