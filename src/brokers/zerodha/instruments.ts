// Kite's instruments dump (CSV per exchange) as instrument rules: tick size and lot size, cached a day; and the symbol forms.
import { InvalidSymbolError } from '../../domain/errors.ts';
import type { Instrument } from '../../domain/instrument.ts';
import { Decimal, ZERO, isDecimalText } from '../../domain/money.ts';
import type { KiteClient } from './client.ts';
import { BROKER } from './errors.ts';

export const EXCHANGES = ['NSE', 'BSE', 'NFO'] as const;
export type KiteExchange = typeof EXCHANGES[number];

export interface KiteSymbol {
  exchange: KiteExchange;
  tradingsymbol: string;
}

/** 'INFY' (on the account's exchange) or 'NFO:NIFTY26DECFUT'. */
export function parseSymbol(symbol: string, defaultExchange: KiteExchange): KiteSymbol {
  const colon = symbol.indexOf(':');
  if (colon < 0) return { exchange: defaultExchange, tradingsymbol: symbol.toUpperCase() };
  const exchange = symbol.slice(0, colon).toUpperCase();
  if (!(EXCHANGES as readonly string[]).includes(exchange)) {
    throw new InvalidSymbolError(`${BROKER}: ${symbol}: tradewire trades ${EXCHANGES.join(', ')} at Kite, not ${exchange}`, { broker: BROKER });
  }
  return { exchange: exchange as KiteExchange, tradingsymbol: symbol.slice(colon + 1).toUpperCase() };
}

/** The form tradewire reports a symbol in: bare on the account's exchange, EXCHANGE:TRADINGSYMBOL elsewhere. */
export function canonicalSymbol(exchange: string, tradingsymbol: string, defaultExchange: KiteExchange): string {
  return exchange === defaultExchange ? tradingsymbol : `${exchange}:${tradingsymbol}`;
}

export interface KiteInstrumentRow {
  tradingsymbol: string;
  exchange: string;
  instrumentType: string;
  segment: string;
  tickSize: Decimal;
  lotSize: Decimal;
}

/** One CSV line, with double-quoted fields (a name may hold a comma). */
function splitCsvLine(line: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i += 1) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') { field += '"'; i += 1; } else if (ch === '"') quoted = false; else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { fields.push(field); field = ''; } else field += ch;
  }
  fields.push(field);
  return fields;
}

/** The instruments CSV: columns found by their header names, so an added column does not shift the rest. */
export function parseInstrumentsCsv(text: string): KiteInstrumentRow[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = lines.shift();
  if (header === undefined) return [];
  const names = splitCsvLine(header).map((h) => h.trim());
  const col = (name: string): number => {
    const index = names.indexOf(name);
    if (index < 0) throw new Error(`${BROKER}: the instruments CSV has no ${name} column (header: ${header.slice(0, 200)})`);
    return index;
  };
  const at = { symbol: col('tradingsymbol'), exchange: col('exchange'), tick: col('tick_size'), lot: col('lot_size'), type: col('instrument_type'), segment: col('segment') };
  const rows: KiteInstrumentRow[] = [];
  for (const line of lines) {
    const f = splitCsvLine(line);
    const tick = (f[at.tick] ?? '').trim();
    const lot = (f[at.lot] ?? '').trim();
    if (!isDecimalText(tick) || !isDecimalText(lot)) continue;
    rows.push({
      tradingsymbol: (f[at.symbol] ?? '').trim(), exchange: (f[at.exchange] ?? '').trim(), instrumentType: (f[at.type] ?? '').trim(),
      segment: (f[at.segment] ?? '').trim(), tickSize: new Decimal(tick), lotSize: new Decimal(lot),
    });
  }
  return rows;
}

const DAY_MS = 24 * 3600_000;

/** The dump changes once a day (new contracts, expiries): each exchange's is fetched on first use and again after a day. */
export class KiteInstruments {
  private readonly byExchange = new Map<string, { at: number; rows: Map<string, KiteInstrumentRow> }>();
  private readonly loading = new Map<string, Promise<Map<string, KiteInstrumentRow>>>();

  constructor(private readonly client: KiteClient, private readonly now: () => number) {}

  /** Loads an exchange's list now (at connect), so a bad token or an unreachable API stops the start. */
  async load(exchange: KiteExchange): Promise<void> {
    await this.exchange(exchange);
  }

  async row(symbol: KiteSymbol): Promise<KiteInstrumentRow> {
    const rows = await this.exchange(symbol.exchange);
    const row = rows.get(symbol.tradingsymbol);
    if (!row) throw new InvalidSymbolError(`${BROKER}: ${symbol.exchange}:${symbol.tradingsymbol} is not in Kite's instruments list`, { broker: BROKER });
    return row;
  }

  /** The rules sizing works with: quantities in whole lots (an equity's lot is 1), prices on the tick. */
  toInstrument(row: KiteInstrumentRow, symbol: string, shortable: boolean): Instrument {
    const derivative = row.exchange === 'NFO' || row.segment.startsWith('NFO') || row.instrumentType === 'FUT' || row.instrumentType === 'CE' || row.instrumentType === 'PE';
    return {
      symbol,
      assetClass: derivative ? 'future' : 'equity',
      tickSize: row.tickSize,
      stepSize: row.lotSize,
      minQuantity: row.lotSize,
      minNotional: ZERO,
      lotSize: row.lotSize,
      shortable,
      fractionable: false,
      quoteCurrency: 'INR',
    };
  }

  private async exchange(exchange: string): Promise<Map<string, KiteInstrumentRow>> {
    const cached = this.byExchange.get(exchange);
    if (cached && this.now() - cached.at < DAY_MS) return cached.rows;
    let pending = this.loading.get(exchange);
    if (!pending) {
      pending = this.client.instrumentsCsv(exchange).then((text) => {
        const rows = new Map(parseInstrumentsCsv(text).map((r) => [r.tradingsymbol, r]));
        this.byExchange.set(exchange, { at: this.now(), rows });
        return rows;
      }).finally(() => { this.loading.delete(exchange); });
      this.loading.set(exchange, pending);
    }
    // A failed refresh keeps the rules already known rather than stopping trading on a symbol we know.
    if (cached) return pending.catch(() => cached.rows);
    return pending;
  }
}
