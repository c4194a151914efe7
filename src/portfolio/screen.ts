// The position loop's hot path in packed form: one account's marks and positions as typed arrays, so the per-tick
// pass over thousands of positions reads a few contiguous arrays instead of four objects per position.
import type { Decimal } from '../domain/money.ts';
import { approximate, quietBand, type FastLevels } from './fast-levels.ts';

/** A symbol's latest price, exact, and its slot in the account's mark table (where its double and tick live). */
export interface Mark {
  price: Decimal | undefined;
  /** Epoch ms, not the quote's Date: a number stays in the slot, where 10,000 Dates a tick would be kept alive until the next. */
  at: number;
  readonly slot: number;
}

/** One account's marks: the exact price on the Mark, its double and the tick that brought it in arrays by slot. */
export class MarkTable {
  readonly bySymbol = new Map<string, Mark>();
  /** The price as a double, for the screens only (never for a stored result). */
  fast = new Float64Array(64);
  /** The tick that last quoted the slot; -1 before its first quote. */
  tick = new Int32Array(64).fill(-1);

  /** The symbol's mark, created (unquoted) on first use; its slot never changes. */
  of(symbol: string): Mark {
    let mark = this.bySymbol.get(symbol);
    if (!mark) {
      mark = { price: undefined, at: 0, slot: this.bySymbol.size };
      if (mark.slot === this.fast.length) this.grow();
      this.bySymbol.set(symbol, mark);
    }
    return mark;
  }

  /** A quote for `mark` (one of this table's): the exact price (kept beside its double), when, and in which tick. */
  record(mark: Mark, price: Decimal, at: number, tick: number): void {
    mark.price = price;
    mark.at = at;
    this.fast[mark.slot] = approximate(price);
    this.tick[mark.slot] = tick;
  }

  private grow(): void {
    const fast = new Float64Array(this.fast.length * 2);
    fast.set(this.fast);
    const tick = new Int32Array(this.tick.length * 2).fill(-1);
    tick.set(this.tick);
    this.fast = fast;
    this.tick = tick;
  }
}

/** What the screen needs of a watched position; all of it fixed for the row's life except the levels (see refresh). */
export interface ScreenRow {
  position: { status: string };
  levels: FastLevels;
  /** Entry price and quantity as doubles, and the side's sign. */
  entry: number;
  quantity: number;
  sign: 1 | -1;
  mark: Mark;
}

/** The day's unrealized P&L in doubles over the book, with the magnitude that bounds their rounding (see KillSwitch.watch). */
export interface UnrealizedEstimate {
  unrealized: number;
  magnitude: number;
}

const OPEN = 0;
const OPENING = 1;
const CLOSING = 2;
const OTHER = 3;
const stateOf = (status: string): number => (status === 'open' ? OPEN : status === 'opening' ? OPENING : status === 'closing' ? CLOSING : OTHER);

/**
 * A book's positions as parallel arrays, in the book's order. Built when the book's membership or any row's status,
 * quantity or entry changes (the caller drops the screen then); a moved water mark updates its row in place.
 */
export class BookScreen<Row extends ScreenRow> {
  private readonly index = new Map<Row, number>();
  private readonly state: Uint8Array;
  private readonly slot: Int32Array;
  private readonly below: Float64Array;
  private readonly above: Float64Array;
  private readonly entry: Float64Array;
  private readonly quantity: Float64Array;
  private readonly sign: Float64Array;

  constructor(readonly rows: readonly Row[]) {
    const n = rows.length;
    this.state = new Uint8Array(n);
    this.slot = new Int32Array(n);
    this.below = new Float64Array(n);
    this.above = new Float64Array(n);
    this.entry = new Float64Array(n);
    this.quantity = new Float64Array(n);
    this.sign = new Float64Array(n);
    rows.forEach((row, i) => {
      this.index.set(row, i);
      this.state[i] = stateOf(row.position.status);
      this.slot[i] = row.mark.slot;
      this.entry[i] = row.entry;
      this.quantity[i] = row.quantity;
      this.sign[i] = row.sign;
      this.setBand(i, row.levels);
    });
  }

  /** A row's levels moved (its water mark): its quiet band follows. */
  refresh(row: Row): void {
    const i = this.index.get(row);
    if (i !== undefined) this.setBand(i, row.levels);
  }

  /**
   * The pass over every row, allocation-free for rows that need nothing: open positions quoted in `tick` whose price
   * left their quiet band go to `looks` (to be looked at exactly), closing ones to `closing`; and the estimate of
   * the book's unrealized P&L at its marks, over every quoted position but those still opening.
   */
  scan(marks: MarkTable, tick: number, looks: Row[], closing: Row[]): UnrealizedEstimate {
    const { state, slot, below, above, entry, quantity, sign, rows } = this;
    const fast = marks.fast;
    const quoted = marks.tick;
    let unrealized = 0;
    let magnitude = 0;
    for (let i = 0; i < state.length; i += 1) {
      const s = state[i] as number;
      if (s === CLOSING) closing.push(rows[i] as Row);
      const at = slot[i] as number;
      const seenTick = quoted[at] as number;
      if (s === OPENING || seenTick < 0) continue;
      const price = fast[at] as number;
      const e = entry[i] as number;
      const q = quantity[i] as number;
      unrealized += (price - e) * q * (sign[i] as number);
      magnitude += (Math.abs(price) + Math.abs(e)) * q;
      if (s === OPEN && seenTick === tick && (price <= (below[i] as number) || price >= (above[i] as number))) looks.push(rows[i] as Row);
    }
    return { unrealized, magnitude };
  }

  /** The estimate alone (a pass that looks at no tick's quotes). */
  estimate(marks: MarkTable): UnrealizedEstimate {
    return this.scan(marks, Number.NaN, [], []);
  }

  private setBand(i: number, levels: FastLevels): void {
    const band = quietBand(levels);
    this.below[i] = band.below;
    this.above[i] = band.above;
  }
}
