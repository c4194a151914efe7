// The trading day of an instant in an account's time zone ('2026-11-23'): day boundaries for P&L, halts and snapshots.
const formatters = new Map<string, Intl.DateTimeFormat>();

export function tradingDay(now: Date, timeZone: string): string {
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    formatters.set(timeZone, format);
  }
  return format.format(now);
}
