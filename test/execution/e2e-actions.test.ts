// End to end, one row of PRODUCT.md's action × sentiment table at a time: an alert over HTTP → the real Redis lanes →
// the executor → the paper broker's orders with their stop and target → the SQLite journal. Each scenario trades its
// own ticker, so that many run against one daemon without meeting (symbols are independent).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as SqliteDatabase } from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon, type Role } from '../../src/main.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { Decimal } from '../../src/domain/money.ts';
import { openDatabase } from '../../src/store/db.ts';
import { AccountStateRepo } from '../../src/store/account-state-repo.ts';
import { dropRedisPrefix, REDIS_URL, tempDir, uniquePrefix } from '../helpers/env.ts';

const SECRET = 'e2e-actions-Secret-4b1d9e';
const silent = createLogger({ level: 'silent', destination: { write: () => undefined } });

// Slippage off and fixed quantities, so that every price and P&L below is a round number worked out by hand.
// `fees` charges 0.1 % of the notional per fill; `tiny` cannot afford a single share at 100.
const CONFIG = `
webhook:
  passphrase: \${WEBHOOK_PASSPHRASE}
  strategyBurst: 1000
accounts:
  paper: { broker: paper, slippagePercent: 0 }
  paper2: { broker: paper, slippagePercent: 0 }
  tiny: { broker: paper, slippagePercent: 0, startingCash: 50 }
  fees: { broker: paper, slippagePercent: 0, feeRate: "0.001" }
  haltable: { broker: paper, slippagePercent: 0 }
strategies:
  default:
    account: paper
  swing:
    account: paper
    allowShorts: true
    allowReversal: true
    pyramiding: { enabled: true, maxEntries: 3 }
    sizing: { mode: fixed_quantity, value: 10 }
  noreverse:
    account: paper
    allowShorts: true
    allowReversal: false
    sizing: { mode: fixed_quantity, value: 10 }
  fanout:
    subscriptions: [{ account: paper }, { account: paper2 }]
    sizing: { mode: fixed_quantity, value: 10 }
  fanpartial:
    subscriptions: [{ account: paper }, { account: tiny }]
    sizing: { mode: fixed_quantity, value: 10 }
  feed:
    account: fees
    sizing: { mode: fixed_quantity, value: 10 }
  haltme:
    account: haltable
    sizing: { mode: fixed_quantity, value: 10 }
`;

interface SignalRow { signal_id: string; status: string; reason: string | null; action: string; symbol: string | null }
interface ExecutionRow { account: string; status: string; reason: string | null }
interface OrderRow {
  id: number; client_order_id: string; signal_id: string | null; position_id: string | null; account: string; symbol: string;
  side: string; leg: string; type: string; quantity: string; limit_price: string | null; stop_price: string | null;
  status: string; filled_quantity: string; average_fill_price: string | null; reason: string | null;
}
interface PositionRow {
  id: string; account: string; strategy: string; symbol: string; side: string; quantity: string; average_entry_price: string;
  entry_fees: string; stop_price: string | null; target_price: string | null; status: string;
}
interface ClosedRow {
  position_id: string; side: string; quantity: string; entry_price: string; exit_price: string; realized_pnl: string;
  fees: string; exit_reason: string;
}
interface FillRow { order_id: number; side: string; quantity: string; price: string; fee: string }
interface EventRow { from_status: string | null; to_status: string }

/** What a test compares an order by: leg, side, type, quantity, prices, status (exact strings). */
interface OrderShape {
  leg: string; side: string; type: string; quantity: string; limit?: string | null; stop?: string | null; status: string;
  filled?: string; avg?: string | null;
}

function shape(order: OrderRow): OrderShape {
  return {
    leg: order.leg, side: order.side, type: order.type, quantity: order.quantity, limit: order.limit_price, stop: order.stop_price,
    status: order.status, filled: order.filled_quantity, avg: order.average_fill_price,
  };
}

/** An order as a test expects it; unset prices are null, and a filled order's fill is its quantity at `avg`. */
function expected(o: { leg: string; side: string; type?: string; quantity: string; limit?: string; stop?: string; status: string; avg?: string }): OrderShape {
  const filled = o.status === 'filled' ? o.quantity : '0';
  return {
    leg: o.leg, side: o.side, type: o.type ?? 'market', quantity: o.quantity, limit: o.limit ?? null, stop: o.stop ?? null,
    status: o.status, filled, avg: o.avg ?? null,
  };
}

const entry = (side: string, quantity: string, avg: string) => expected({ leg: 'entry', side, quantity, status: 'filled', avg });
const exit = (side: string, quantity: string, avg: string) => expected({ leg: 'exit', side, quantity, status: 'filled', avg });
const stop = (side: string, quantity: string, price: string, status = 'accepted') => expected({ leg: 'stop', side, type: 'stop', quantity, stop: price, status });
const target = (side: string, quantity: string, price: string, status = 'accepted') => expected({ leg: 'target', side, type: 'limit', quantity, limit: price, status });

/** One daemon, its files, and a reading connection on its journal. */
class Harness {
  readonly dir = tempDir('tw-e2e-actions');
  readonly prefix = uniquePrefix('e2e-actions');
  daemon: Daemon | undefined;
  journal: SqliteDatabase | undefined;
  private counter = 0;

  constructor(private readonly config: string) {
    writeFileSync(this.configFile, config);
  }

  get configFile(): string { return join(this.dir.path, 'tradewire.yaml'); }
  get databasePath(): string { return join(this.dir.path, 'trading.db'); }
  ledgerPath(account: string): string { return join(this.dir.path, `paper-${account}.db`); }

  async start(role: Role = 'all'): Promise<void> {
    this.daemon = await startDaemon({
      CONFIG_FILE: this.configFile, PORT: '0', HOST: '127.0.0.1', REDIS_URL, REDIS_PREFIX: this.prefix,
      DATABASE_PATH: this.databasePath, WEBHOOK_PASSPHRASE: SECRET,
    }, silent, role);
    this.journal ??= new Database(this.databasePath, { readonly: true });
  }

  async stopDaemon(): Promise<void> {
    await this.daemon?.stop();
    this.daemon = undefined;
  }

  /** Stops the daemon, deletes its Redis keys and its files. */
  async close(): Promise<void> {
    await this.stopDaemon();
    this.journal?.close();
    await dropRedisPrefix(this.prefix);
    this.dir.cleanup();
  }

  /** POSTs an alert (the secret and a unique id added) and returns the HTTP answer. */
  async send(alert: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
    if (!this.daemon) throw new Error('the daemon is not running');
    this.counter += 1;
    const response = await fetch(`${this.daemon.url}/webhook`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ passphrase: SECRET, id: `e2e-${this.counter}-${Date.now()}`, ...alert }),
    });
    return { status: response.status, body: await response.json() as Record<string, unknown> };
  }

  /** Sends an alert, expects the 202, and waits for the signal's final state in the journal. */
  async signal(alert: Record<string, unknown>): Promise<SignalRow> {
    const answer = await this.send(alert);
    expect(answer.status, JSON.stringify(answer.body)).toBe(202);
    expect(answer.body).toMatchObject({ status: 'queued', signalId: expect.any(String) as unknown });
    return this.outcome(answer.body.signalId as string);
  }

  /** Polls the journal until the signal has left 'queued' (every account's execution has ended). */
  async outcome(signalId: string, timeoutMs = 10_000): Promise<SignalRow> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const row = this.db().prepare('SELECT * FROM signals WHERE signal_id = ?').get(signalId) as SignalRow | undefined;
      if (row && row.status !== 'queued' && row.status !== 'received') return row;
      if (Date.now() > deadline) throw new Error(`signal ${signalId} still ${row?.status ?? 'not journalled'} after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 15));
    }
  }

  /** Polls for a signal the intake refused (journalled from the refusal stream), found by a condition on its row. */
  async outcomeWhere(condition: string, timeoutMs = 5_000): Promise<SignalRow> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const row = this.db().prepare(`SELECT * FROM signals WHERE ${condition} ORDER BY received_at DESC`).get() as SignalRow | undefined;
      if (row) return row;
      if (Date.now() > deadline) throw new Error(`no signal where ${condition} after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  db(): SqliteDatabase {
    if (!this.journal) throw new Error('no journal open');
    return this.journal;
  }

  executions(signalId: string): ExecutionRow[] {
    return this.db().prepare('SELECT account, status, reason FROM executions WHERE signal_id = ? ORDER BY account').all(signalId) as ExecutionRow[];
  }

  /** The orders a signal placed, in the order they were placed. */
  ordersOf(signalId: string): OrderRow[] {
    return this.db().prepare('SELECT * FROM executed_orders WHERE signal_id = ? ORDER BY id').all(signalId) as OrderRow[];
  }

  /** Every order in a symbol at an account, in the order they were placed. */
  orders(symbol: string, account = 'paper'): OrderRow[] {
    return this.db().prepare('SELECT * FROM executed_orders WHERE symbol = ? AND account = ? ORDER BY id').all(symbol, account) as OrderRow[];
  }

  /** The orders of a symbol that still rest, as shapes. */
  resting(symbol: string, account = 'paper'): OrderShape[] {
    return this.orders(symbol, account).filter((o) => ['accepted', 'submitted', 'partially_filled', 'held'].includes(o.status)).map(shape);
  }

  position(symbol: string, account = 'paper'): PositionRow | undefined {
    return this.db().prepare("SELECT * FROM positions WHERE symbol = ? AND account = ? AND status <> 'closed'").get(symbol, account) as PositionRow | undefined;
  }

  closed(symbol: string, account = 'paper'): ClosedRow[] {
    return this.db().prepare('SELECT * FROM closed_positions WHERE symbol = ? AND account = ? ORDER BY id').all(symbol, account) as ClosedRow[];
  }

  fills(orderId: number): FillRow[] {
    return this.db().prepare('SELECT order_id, side, quantity, price, fee FROM fills WHERE order_id = ? ORDER BY at, id').all(orderId) as FillRow[];
  }

  events(orderId: number): Array<[string | null, string]> {
    return (this.db().prepare('SELECT from_status, to_status FROM order_events WHERE order_id = ? ORDER BY id').all(orderId) as EventRow[])
      .map((e) => [e.from_status, e.to_status]);
  }
}

const LONG = { action: 'buy', sentiment: 'long' };
const SHORT = { action: 'sell', sentiment: 'short' };

describe('the action × sentiment table, end to end (one daemon, one ticker per scenario)', () => {
  const h = new Harness(CONFIG);

  beforeAll(async () => { await h.start(); });
  afterAll(async () => { await h.close(); });

  /** Opens a long (or a short) of 10 at 100 on `strategy` and checks it is there, protected at 98 / 104 (102 / 96). */
  async function open(ticker: string, side: 'long' | 'short', strategy = 'swing', account = 'paper'): Promise<PositionRow> {
    const s = await h.signal({ strategy, ticker, ...(side === 'long' ? LONG : SHORT), price: '100' });
    expect(s).toMatchObject({ status: 'executed', reason: null });
    const position = h.position(ticker, account);
    expect(position).toMatchObject({ side, quantity: '10', average_entry_price: '100', status: 'open' });
    return position as PositionRow;
  }

  describe('buy', () => {
    it('buy with sentiment long on flat opens a long with its stop and target, first cancelling the ticker\'s resting entry', async () => {
      const resting = await h.signal({ strategy: 'swing', ticker: 'NASDAQ:BLF', ...LONG, price: '100', orderType: 'limit', limitPrice: '50' });
      expect(resting).toMatchObject({ status: 'executed', reason: null });
      expect(h.ordersOf(resting.signal_id).map(shape)).toEqual([expected({ leg: 'entry', side: 'buy', type: 'limit', quantity: '10', limit: '50', status: 'accepted' })]);
      expect(h.position('BLF')).toBeUndefined();

      const s = await h.signal({ strategy: 'swing', ticker: 'NASDAQ:BLF', ...LONG, price: '100' });
      expect(s).toMatchObject({ status: 'executed', reason: null, symbol: 'BLF' });
      const placed = h.ordersOf(s.signal_id);
      expect(placed.map(shape)).toEqual([entry('buy', '10', '100'), stop('sell', '10', '98'), target('sell', '10', '104')]);
      expect(h.ordersOf(resting.signal_id)[0]?.status).toBe('cancelled');

      const position = h.position('BLF');
      expect(position).toMatchObject({ strategy: 'swing', side: 'long', quantity: '10', average_entry_price: '100', entry_fees: '0',
        stop_price: '98', target_price: '104', status: 'open' });
      expect(placed.every((o) => o.position_id === position?.id)).toBe(true);

      // The journal shows every status change, and the fill.
      const [entryOrder, stopOrder] = placed as [OrderRow, OrderRow];
      expect(h.events(entryOrder.id)).toEqual([[null, 'pending_submit'], ['pending_submit', 'submitted'], ['submitted', 'filled']]);
      expect(h.events(stopOrder.id)).toEqual([[null, 'pending_submit'], ['pending_submit', 'submitted'], ['submitted', 'accepted']]);
      expect(h.fills(entryOrder.id)).toEqual([{ order_id: entryOrder.id, side: 'buy', quantity: '10', price: '100', fee: '0' }]);
      const cancelled = h.ordersOf(resting.signal_id)[0] as OrderRow;
      expect(h.events(cancelled.id)).toEqual([[null, 'pending_submit'], ['pending_submit', 'submitted'], ['submitted', 'accepted'], ['accepted', 'cancelled']]);
    });

    it('buy with sentiment long on a long is refused no_op without pyramiding', async () => {
      const first = await h.signal({ strategy: 'default', ticker: 'BLL', ...LONG, price: '100', quantity: '5' });
      expect(first.status).toBe('executed');
      const again = await h.signal({ strategy: 'default', ticker: 'BLL', action: 'buy', price: '101', quantity: '5' });
      expect(again.status).toBe('rejected');
      expect(again.reason).toMatch(/^no_op/);
      expect(h.ordersOf(again.signal_id)).toEqual([]);
      expect(h.position('BLL')).toMatchObject({ quantity: '5', average_entry_price: '100' });
    });

    it('buy with sentiment long on a long adds when the strategy pyramids, protection resized to the new total', async () => {
      const position = await open('BLP', 'long');
      const s = await h.signal({ strategy: 'swing', ticker: 'BLP', action: 'buy', price: '102' });
      expect(s).toMatchObject({ status: 'executed', reason: null });
      expect(h.position('BLP')).toMatchObject({ id: position.id, quantity: '20', average_entry_price: '101', stop_price: '98', target_price: '104' });
      expect(h.ordersOf(s.signal_id).map(shape)).toEqual([entry('buy', '10', '102'), stop('sell', '20', '98'), target('sell', '20', '104')]);
      expect(h.resting('BLP')).toEqual([stop('sell', '20', '98'), target('sell', '20', '104')]);
      expect(h.orders('BLP').filter((o) => o.leg !== 'entry' && o.status === 'cancelled')).toHaveLength(2);
    });

    it('buy with sentiment long on a short closes the short, then opens a long when reversal is allowed, both protected', async () => {
      const short = await open('BLS', 'short');
      expect(h.resting('BLS')).toEqual([stop('buy', '10', '102'), target('buy', '10', '96')]);
      const s = await h.signal({ strategy: 'swing', ticker: 'BLS', ...LONG, price: '99' });
      expect(s).toMatchObject({ status: 'executed', reason: null });
      expect(h.ordersOf(s.signal_id).map(shape)).toEqual([
        exit('buy', '10', '99'), entry('buy', '10', '99'), stop('sell', '10', '97.02'), target('sell', '10', '102.96'),
      ]);
      expect(h.closed('BLS')).toEqual([expect.objectContaining({ position_id: short.id, side: 'short', quantity: '10', entry_price: '100', exit_price: '99',
        realized_pnl: '10', fees: '0', exit_reason: 'signal' })]);
      expect(h.position('BLS')).toMatchObject({ side: 'long', quantity: '10', average_entry_price: '99', stop_price: '97.02', target_price: '102.96' });
      expect(h.resting('BLS')).toEqual([stop('sell', '10', '97.02'), target('sell', '10', '102.96')]);
      // The short's protection was cancelled before its exit was sent.
      const shortProtection = h.orders('BLS').filter((o) => o.position_id === short.id && (o.leg === 'stop' || o.leg === 'target'));
      expect(shortProtection.map((o) => o.status)).toEqual(['cancelled', 'cancelled']);
      const exitOrder = h.ordersOf(s.signal_id)[0] as OrderRow;
      expect(Math.max(...shortProtection.map((o) => o.id))).toBeLessThan(exitOrder.id);
    });

    it('buy with sentiment long on a short only closes the short when the strategy does not reverse', async () => {
      await open('BLN', 'short', 'noreverse');
      const s = await h.signal({ strategy: 'noreverse', ticker: 'BLN', ...LONG, price: '99' });
      expect(s).toMatchObject({ status: 'executed', reason: null });
      expect(h.ordersOf(s.signal_id).map(shape)).toEqual([exit('buy', '10', '99')]);
      expect(h.position('BLN')).toBeUndefined();
      expect(h.closed('BLN')).toEqual([expect.objectContaining({ realized_pnl: '10', exit_reason: 'signal' })]);
      expect(h.resting('BLN')).toEqual([]);
    });

    it('buy with sentiment flat on a short closes the short (no new long)', async () => {
      await open('BFS', 'short');
      const s = await h.signal({ strategy: 'swing', ticker: 'BFS', action: 'buy', sentiment: 'flat', price: '101' });
      expect(s).toMatchObject({ status: 'executed', reason: null });
      expect(h.ordersOf(s.signal_id).map(shape)).toEqual([exit('buy', '10', '101')]);
      expect(h.position('BFS')).toBeUndefined();
      expect(h.closed('BFS')).toEqual([expect.objectContaining({ side: 'short', quantity: '10', exit_price: '101', realized_pnl: '-10', exit_reason: 'signal' })]);
      expect(h.resting('BFS')).toEqual([]);
    });

    it('buy with sentiment flat on flat or a long is refused no_op', async () => {
      const onFlat = await h.signal({ strategy: 'swing', ticker: 'BFF', action: 'buy', sentiment: 'flat', price: '100' });
      expect(onFlat.status).toBe('rejected');
      expect(onFlat.reason).toMatch(/^no_op/);
      await open('BFF', 'long');
      const onLong = await h.signal({ strategy: 'swing', ticker: 'BFF', action: 'buy', sentiment: 'flat', price: '100' });
      expect(onLong.status).toBe('rejected');
      expect(onLong.reason).toMatch(/^no_op/);
      expect(h.ordersOf(onLong.signal_id)).toEqual([]);
      expect(h.position('BFF')).toMatchObject({ quantity: '10' });
    });

    it('buy with sentiment short on a short reduces it by the quantity, protection resized; refused without a quantity', async () => {
      const short = await open('BSS', 'short');
      const s = await h.signal({ strategy: 'swing', ticker: 'BSS', action: 'buy', sentiment: 'short', quantity: '4', price: '99' });
      expect(s).toMatchObject({ status: 'executed', reason: null });
      expect(h.position('BSS')).toMatchObject({ id: short.id, side: 'short', quantity: '6', average_entry_price: '100' });
      expect(h.closed('BSS')).toEqual([expect.objectContaining({ quantity: '4', exit_price: '99', realized_pnl: '4', exit_reason: 'signal' })]);
      expect(h.resting('BSS')).toEqual([stop('buy', '6', '102'), target('buy', '6', '96')]);

      const missing = await h.signal({ strategy: 'swing', ticker: 'BSS', action: 'buy', sentiment: 'short', price: '99' });
      expect(missing.status).toBe('rejected');
      expect(missing.reason).toMatch(/^missing_quantity/);
      expect(h.position('BSS')).toMatchObject({ quantity: '6' });
    });

    it('buy with sentiment short on flat is refused no_op: nothing left to reduce', async () => {
      const s = await h.signal({ strategy: 'swing', ticker: 'BSF', action: 'buy', sentiment: 'short', quantity: '4', price: '99' });
      expect(s.status).toBe('rejected');
      expect(s.reason).toMatch(/^no_op/);
      expect(h.orders('BSF')).toEqual([]);
    });

    it('buy with sentiment short on a long is refused position_mismatch', async () => {
      await open('BSL', 'long');
      const s = await h.signal({ strategy: 'swing', ticker: 'BSL', action: 'buy', sentiment: 'short', quantity: '4', price: '99' });
      expect(s.status).toBe('rejected');
      expect(s.reason).toMatch(/^position_mismatch/);
      expect(h.ordersOf(s.signal_id)).toEqual([]);
      expect(h.position('BSL')).toMatchObject({ side: 'long', quantity: '10' });
    });
  });

  describe('sell', () => {
    it('sell with sentiment short on flat opens a short when the strategy allows shorts', async () => {
      const s = await h.signal({ strategy: 'swing', ticker: 'SSF', ...SHORT, price: '100' });
      expect(s).toMatchObject({ status: 'executed', reason: null });
      expect(h.ordersOf(s.signal_id).map(shape)).toEqual([entry('sell', '10', '100'), stop('buy', '10', '102'), target('buy', '10', '96')]);
      expect(h.position('SSF')).toMatchObject({ side: 'short', quantity: '10', average_entry_price: '100', stop_price: '102', target_price: '96' });
    });

    it('sell with sentiment short on flat is refused shorts_not_allowed when shorts are off, nothing placed', async () => {
      const s = await h.signal({ strategy: 'default', ticker: 'SSN', ...SHORT, price: '100', quantity: '5' });
      expect(s.status).toBe('rejected');
      expect(s.reason).toMatch(/^shorts_not_allowed/);
      expect(h.orders('SSN')).toEqual([]);
      expect(h.position('SSN')).toBeUndefined();
    });

    it('sell with sentiment short on a short is refused no_op without pyramiding, and adds with it', async () => {
      await open('SSS', 'short', 'noreverse');
      const noop = await h.signal({ strategy: 'noreverse', ticker: 'SSS', action: 'sell', price: '99' });
      expect(noop.status).toBe('rejected');
      expect(noop.reason).toMatch(/^no_op/);
      expect(h.ordersOf(noop.signal_id)).toEqual([]);

      await open('SSP', 'short');
      const add = await h.signal({ strategy: 'swing', ticker: 'SSP', ...SHORT, price: '98' });
      expect(add).toMatchObject({ status: 'executed', reason: null });
      expect(h.position('SSP')).toMatchObject({ side: 'short', quantity: '20', average_entry_price: '99', stop_price: '102', target_price: '96' });
      expect(h.resting('SSP')).toEqual([stop('buy', '20', '102'), target('buy', '20', '96')]);
    });

    it('sell with sentiment flat on a long closes the long and cancels its stop and target', async () => {
      const long = await open('SFL', 'long');
      const s = await h.signal({ strategy: 'swing', ticker: 'SFL', action: 'sell', sentiment: 'flat', price: '103' });
      expect(s).toMatchObject({ status: 'executed', reason: null });
      expect(h.ordersOf(s.signal_id).map(shape)).toEqual([exit('sell', '10', '103')]);
      expect(h.position('SFL')).toBeUndefined();
      expect(h.closed('SFL')).toEqual([expect.objectContaining({ position_id: long.id, side: 'long', quantity: '10', entry_price: '100',
        exit_price: '103', realized_pnl: '30', fees: '0', exit_reason: 'signal' })]);
      expect(h.orders('SFL').filter((o) => o.leg === 'stop' || o.leg === 'target').map((o) => o.status)).toEqual(['cancelled', 'cancelled']);
    });

    it('sell with sentiment flat and percent_of_position 50 on a long closes half, protection resized', async () => {
      const long = await open('SFP', 'long');
      const s = await h.signal({ strategy: 'swing', ticker: 'SFP', action: 'sell', sentiment: 'flat', quantity: '50', quantityType: 'percent_of_position', price: '101' });
      expect(s).toMatchObject({ status: 'executed', reason: null });
      expect(h.position('SFP')).toMatchObject({ id: long.id, quantity: '5', average_entry_price: '100' });
      expect(h.closed('SFP')).toEqual([expect.objectContaining({ quantity: '5', exit_price: '101', realized_pnl: '5' })]);
      expect(h.resting('SFP')).toEqual([stop('sell', '5', '98'), target('sell', '5', '104')]);
    });

    it('sell with no sentiment on a long closes it, then opens a short when reversal and shorts are allowed', async () => {
      await open('SNL', 'long');
      const s = await h.signal({ strategy: 'swing', ticker: 'SNL', action: 'sell', price: '101' });
      expect(s).toMatchObject({ status: 'executed', reason: null });
      expect(h.ordersOf(s.signal_id).map(shape)).toEqual([
        exit('sell', '10', '101'), entry('sell', '10', '101'), stop('buy', '10', '103.02'), target('buy', '10', '96.96'),
      ]);
      expect(h.closed('SNL')).toEqual([expect.objectContaining({ side: 'long', realized_pnl: '10' })]);
      expect(h.position('SNL')).toMatchObject({ side: 'short', quantity: '10', average_entry_price: '101' });
    });

    it('sell with no sentiment on a long only closes it when the strategy does not allow shorts, and says the short was skipped', async () => {
      const first = await h.signal({ strategy: 'default', ticker: 'SND', ...LONG, price: '100', quantity: '5' });
      expect(first.status).toBe('executed');
      const s = await h.signal({ strategy: 'default', ticker: 'SND', action: 'sell', price: '101' });
      expect(s).toMatchObject({ status: 'executed', reason: expect.stringMatching(/^reversal_skipped:shorts_disabled: /) });
      expect(h.ordersOf(s.signal_id).map(shape)).toEqual([exit('sell', '5', '101')]);
      expect(h.position('SND')).toBeUndefined();
      expect(h.closed('SND')).toEqual([expect.objectContaining({ realized_pnl: '5' })]);
    });

    it('sell with sentiment short on a long closes the long, then opens a short when reversal and shorts are allowed', async () => {
      await open('SSL', 'long');
      const s = await h.signal({ strategy: 'swing', ticker: 'SSL', ...SHORT, price: '99' });
      expect(s).toMatchObject({ status: 'executed', reason: null });
      expect(h.ordersOf(s.signal_id).map(shape)).toEqual([
        exit('sell', '10', '99'), entry('sell', '10', '99'), stop('buy', '10', '100.98'), target('buy', '10', '95.04'),
      ]);
      expect(h.closed('SSL')).toEqual([expect.objectContaining({ side: 'long', realized_pnl: '-10' })]);
      expect(h.position('SSL')).toMatchObject({ side: 'short', quantity: '10', average_entry_price: '99', stop_price: '100.98', target_price: '95.04' });
      expect(h.resting('SSL')).toEqual([stop('buy', '10', '100.98'), target('buy', '10', '95.04')]);
    });

    it('sell with sentiment short on a long only closes it when reversal is off', async () => {
      await open('SSR', 'long', 'noreverse');
      const s = await h.signal({ strategy: 'noreverse', ticker: 'SSR', ...SHORT, price: '99' });
      expect(s).toMatchObject({ status: 'executed', reason: null });
      expect(h.ordersOf(s.signal_id).map(shape)).toEqual([exit('sell', '10', '99')]);
      expect(h.position('SSR')).toBeUndefined();
      expect(h.resting('SSR')).toEqual([]);
    });

    it('sell with sentiment flat on flat or a short is refused no_op', async () => {
      const onFlat = await h.signal({ strategy: 'swing', ticker: 'SFF', action: 'sell', sentiment: 'flat', price: '100' });
      expect(onFlat.status).toBe('rejected');
      expect(onFlat.reason).toMatch(/^no_op/);
      await open('SFF', 'short');
      const onShort = await h.signal({ strategy: 'swing', ticker: 'SFF', action: 'sell', sentiment: 'flat', price: '100' });
      expect(onShort.status).toBe('rejected');
      expect(onShort.reason).toMatch(/^no_op/);
      expect(h.position('SFF')).toMatchObject({ side: 'short', quantity: '10' });
    });

    it('sell with sentiment long on a long reduces it by the quantity; refused without a quantity', async () => {
      await open('SLL', 'long');
      const s = await h.signal({ strategy: 'swing', ticker: 'SLL', action: 'sell', sentiment: 'long', quantity: '4', price: '102' });
      expect(s).toMatchObject({ status: 'executed', reason: null });
      // The journal ties the resized protection to the signal that caused it.
      expect(h.ordersOf(s.signal_id).map(shape)).toEqual([exit('sell', '4', '102'), stop('sell', '6', '98'), target('sell', '6', '104')]);
      expect(h.position('SLL')).toMatchObject({ quantity: '6', average_entry_price: '100' });
      expect(h.closed('SLL')).toEqual([expect.objectContaining({ quantity: '4', realized_pnl: '8' })]);
      expect(h.resting('SLL')).toEqual([stop('sell', '6', '98'), target('sell', '6', '104')]);

      const missing = await h.signal({ strategy: 'swing', ticker: 'SLL', action: 'sell', sentiment: 'long', price: '102' });
      expect(missing.status).toBe('rejected');
      expect(missing.reason).toMatch(/^missing_quantity/);
    });

    it('sell with sentiment long on flat is refused no_op: nothing left to reduce', async () => {
      const s = await h.signal({ strategy: 'swing', ticker: 'SLF', action: 'sell', sentiment: 'long', quantity: '4', price: '100' });
      expect(s.status).toBe('rejected');
      expect(s.reason).toMatch(/^no_op/);
      expect(h.orders('SLF')).toEqual([]);
    });

    it('sell with sentiment long on a short is refused position_mismatch', async () => {
      await open('SLS', 'short');
      const s = await h.signal({ strategy: 'swing', ticker: 'SLS', action: 'sell', sentiment: 'long', quantity: '4', price: '100' });
      expect(s.status).toBe('rejected');
      expect(s.reason).toMatch(/^position_mismatch/);
      expect(h.position('SLS')).toMatchObject({ side: 'short', quantity: '10' });
    });
  });

  describe('add, exit, cancel', () => {
    it('add on a long adds on its side, average price exact, protection resized; up to pyramiding.maxEntries', async () => {
      const long = await open('ADL', 'long');
      const s = await h.signal({ strategy: 'swing', ticker: 'ADL', action: 'add', price: '103' });
      expect(s).toMatchObject({ status: 'executed', reason: null });
      expect(h.position('ADL')).toMatchObject({ id: long.id, side: 'long', quantity: '20', average_entry_price: '101.5', stop_price: '98', target_price: '104' });
      expect(h.ordersOf(s.signal_id).map(shape)).toEqual([entry('buy', '10', '103'), stop('sell', '20', '98'), target('sell', '20', '104')]);

      const third = await h.signal({ strategy: 'swing', ticker: 'ADL', action: 'add', quantity: '10', price: '101' });
      expect(third.status).toBe('executed');
      expect(h.position('ADL')).toMatchObject({ quantity: '30', average_entry_price: new Decimal(1000).plus(1030).plus(1010).div(30).toFixed() });
      expect(h.resting('ADL')).toEqual([stop('sell', '30', '98'), target('sell', '30', '104')]);

      const fourth = await h.signal({ strategy: 'swing', ticker: 'ADL', action: 'add', price: '101' });
      expect(fourth.status).toBe('rejected');
      expect(fourth.reason).toMatch(/^risk:max_entries/);
      expect(h.position('ADL')).toMatchObject({ quantity: '30' });
    });

    it('add on a short adds on the short side', async () => {
      await open('ADS', 'short');
      const s = await h.signal({ strategy: 'swing', ticker: 'ADS', action: 'add', sentiment: 'long', price: '98' });
      expect(s).toMatchObject({ status: 'executed', reason: null });
      expect(h.position('ADS')).toMatchObject({ side: 'short', quantity: '20', average_entry_price: '99' });
      expect(h.resting('ADS')).toEqual([stop('buy', '20', '102'), target('buy', '20', '96')]);
    });

    it('add on flat is refused no_op', async () => {
      const s = await h.signal({ strategy: 'swing', ticker: 'ADF', action: 'add', price: '100' });
      expect(s.status).toBe('rejected');
      expect(s.reason).toMatch(/^no_op/);
      expect(h.orders('ADF')).toEqual([]);
    });

    it('exit on a long closes it and cancels its stop and target', async () => {
      await open('EXL', 'long');
      const s = await h.signal({ strategy: 'swing', ticker: 'EXL', action: 'exit', price: '99.5' });
      expect(s).toMatchObject({ status: 'executed', reason: null });
      expect(h.ordersOf(s.signal_id).map(shape)).toEqual([exit('sell', '10', '99.5')]);
      expect(h.closed('EXL')).toEqual([expect.objectContaining({ exit_price: '99.5', realized_pnl: '-5', exit_reason: 'signal' })]);
      expect(h.position('EXL')).toBeUndefined();
      expect(h.resting('EXL')).toEqual([]);
    });

    it('an exit whose price sets off the stop: the stop\'s close is booked as stop_loss, and the exit then meets a flat position (no_op)', async () => {
      const long = await open('EXT', 'long');
      // 97.5 is through the stop at 98: the paper broker fills the stop on this alert's price, before the exit is judged.
      const s = await h.signal({ strategy: 'swing', ticker: 'EXT', action: 'exit', price: '97.5' });
      expect(s.status).toBe('rejected');
      expect(s.reason).toMatch(/^no_op/);
      expect(h.ordersOf(s.signal_id)).toEqual([]);
      expect(h.position('EXT')).toBeUndefined();
      expect(h.closed('EXT')).toEqual([expect.objectContaining({ position_id: long.id, quantity: '10', exit_price: '97.5', realized_pnl: '-25',
        exit_reason: 'stop_loss' })]);
      expect(h.orders('EXT').map((o) => [o.leg, o.status])).toEqual([['entry', 'filled'], ['stop', 'filled'], ['target', 'cancelled']]);
    });

    it('exit on a short with percent_of_position 50 closes half, protection resized to what remains', async () => {
      const short = await open('EXS', 'short');
      const s = await h.signal({ strategy: 'swing', ticker: 'EXS', action: 'exit', quantity: '50', quantityType: 'percent_of_position', price: '97' });
      expect(s).toMatchObject({ status: 'executed', reason: null });
      expect(h.position('EXS')).toMatchObject({ id: short.id, side: 'short', quantity: '5' });
      expect(h.closed('EXS')).toEqual([expect.objectContaining({ quantity: '5', exit_price: '97', realized_pnl: '15' })]);
      expect(h.resting('EXS')).toEqual([stop('buy', '5', '102'), target('buy', '5', '96')]);
      // The resized legs carry new client ids (sequence 2) on the same position.
      const legs = h.orders('EXS').filter((o) => o.leg === 'stop');
      expect(new Set(legs.map((o) => o.client_order_id)).size).toBe(2);
      expect(legs.map((o) => o.status)).toEqual(['cancelled', 'accepted']);
    });

    it('exit on flat cancels the ticker\'s resting entry orders', async () => {
      const resting = await h.signal({ strategy: 'swing', ticker: 'EXF', ...LONG, price: '100', orderType: 'limit', limitPrice: '50' });
      expect(resting.status).toBe('executed');
      const s = await h.signal({ strategy: 'swing', ticker: 'EXF', action: 'exit', price: '100' });
      expect(s).toMatchObject({ status: 'executed', reason: null });
      expect(h.orders('EXF').map((o) => [o.leg, o.status])).toEqual([['entry', 'cancelled']]);
    });

    it('exit on flat with no open orders is refused no_op, nothing placed', async () => {
      const s = await h.signal({ strategy: 'swing', ticker: 'EXN', action: 'exit', price: '100' });
      expect(s.status).toBe('rejected');
      expect(s.reason).toMatch(/^no_op/);
      expect(h.orders('EXN')).toEqual([]);
    });

    it('cancel cancels a resting limit entry; the ticker stays flat', async () => {
      const resting = await h.signal({ strategy: 'swing', ticker: 'CNF', ...SHORT, price: '100', orderType: 'limit', limitPrice: '150' });
      expect(resting.status).toBe('executed');
      expect(h.resting('CNF')).toEqual([expected({ leg: 'entry', side: 'sell', type: 'limit', quantity: '10', limit: '150', status: 'accepted' })]);
      const s = await h.signal({ strategy: 'swing', ticker: 'CNF', action: 'cancel' });
      expect(s).toMatchObject({ status: 'executed', reason: null });
      expect(h.orders('CNF').map((o) => [o.leg, o.status])).toEqual([['entry', 'cancelled']]);
      expect(h.position('CNF')).toBeUndefined();
    });

    it('cancel on a long cancels its resting add entry; the position and its protection stay', async () => {
      const long = await open('CNL', 'long');
      const add = await h.signal({ strategy: 'swing', ticker: 'CNL', action: 'add', price: '100', orderType: 'limit', limitPrice: '60' });
      expect(add.status).toBe('executed');
      const s = await h.signal({ strategy: 'swing', ticker: 'CNL', action: 'cancel', price: '100' });
      expect(s).toMatchObject({ status: 'executed', reason: null });
      expect(h.ordersOf(add.signal_id).map((o) => [o.leg, o.status])).toEqual([['entry', 'cancelled']]);
      expect(h.position('CNL')).toMatchObject({ id: long.id, quantity: '10', stop_price: '98', target_price: '104' });
      expect(h.resting('CNL')).toEqual([stop('sell', '10', '98'), target('sell', '10', '104')]);
    });
  });

  describe('execution rules', () => {
    it('a stop on the wrong side of the entry (stopPrice above a buy) is rejected invalid, nothing placed', async () => {
      const s = await h.signal({ strategy: 'swing', ticker: 'INV', ...LONG, price: '100', stopLoss: { stopPrice: '105' } });
      expect(s.status).toBe('rejected');
      expect(s.reason).toMatch(/^invalid: stopLoss\.stopPrice/);
      expect(h.orders('INV')).toEqual([]);
      expect(h.position('INV')).toBeUndefined();
    });

    it('an entry whose time is older than maxSignalAgeSeconds gets 422 at intake and is journalled stale; an old exit is carried out', async () => {
      await open('OLD', 'long');
      const old = new Date(Date.now() - 120_000).toISOString();
      const answer = await h.send({ strategy: 'swing', ticker: 'OLD', action: 'add', price: '100', time: old });
      expect(answer.status).toBe(422);
      expect(answer.body).toMatchObject({ error: 'stale_signal' });
      const journalled = await h.outcomeWhere("action = 'add' AND ticker = 'OLD'");
      expect(journalled).toMatchObject({ status: 'stale' });
      expect(journalled.reason).toMatch(/^stale/);

      const exitSignal = await h.signal({ strategy: 'swing', ticker: 'OLD', action: 'exit', price: '101', time: old });
      expect(exitSignal).toMatchObject({ status: 'executed', reason: null });
      expect(h.position('OLD')).toBeUndefined();
      expect(h.closed('OLD')).toEqual([expect.objectContaining({ realized_pnl: '10' })]);
    });

    it('fees: each fill pays feeRate × notional, and the close nets the entry\'s and the exit\'s fees', async () => {
      const s = await h.signal({ strategy: 'feed', ticker: 'FEE', ...LONG, price: '100' });
      expect(s).toMatchObject({ status: 'executed', reason: null });
      const [entryOrder] = h.ordersOf(s.signal_id) as [OrderRow];
      expect(h.fills(entryOrder.id)).toEqual([{ order_id: entryOrder.id, side: 'buy', quantity: '10', price: '100', fee: '1' }]);
      expect(h.position('FEE', 'fees')).toMatchObject({ quantity: '10', average_entry_price: '100', entry_fees: '1' });

      const close = await h.signal({ strategy: 'feed', ticker: 'FEE', action: 'sell', sentiment: 'flat', price: '103' });
      expect(close.status).toBe('executed');
      const [exitOrder] = h.ordersOf(close.signal_id) as [OrderRow];
      expect(h.fills(exitOrder.id)).toEqual([{ order_id: exitOrder.id, side: 'sell', quantity: '10', price: '103', fee: '1.03' }]);
      expect(h.closed('FEE', 'fees')).toEqual([expect.objectContaining({ quantity: '10', entry_price: '100', exit_price: '103',
        fees: '2.03', realized_pnl: '27.97' })]);
    });

    it('fan-out: one signal, one execution per account, both executed, the signal executed', async () => {
      const s = await h.signal({ strategy: 'fanout', ticker: 'FAN', ...LONG, price: '100' });
      expect(s).toMatchObject({ status: 'executed', reason: null });
      expect(h.executions(s.signal_id)).toEqual([
        { account: 'paper', status: 'executed', reason: null }, { account: 'paper2', status: 'executed', reason: null },
      ]);
      for (const account of ['paper', 'paper2']) {
        expect(h.orders('FAN', account).map(shape)).toEqual([entry('buy', '10', '100'), stop('sell', '10', '98'), target('sell', '10', '104')]);
        expect(h.position('FAN', account)).toMatchObject({ quantity: '10', strategy: 'fanout' });
      }
    });

    it('fan-out: an account that cannot afford the entry leaves the signal partial, each execution with its own state', async () => {
      const s = await h.signal({ strategy: 'fanpartial', ticker: 'FPT', ...LONG, price: '100' });
      expect(s.status).toBe('partial');
      expect(s.reason).toMatch(/^tiny: risk:/);
      const [paper, tiny] = h.executions(s.signal_id) as [ExecutionRow, ExecutionRow];
      expect(paper).toEqual({ account: 'paper', status: 'executed', reason: null });
      expect(tiny).toMatchObject({ account: 'tiny', status: 'rejected' });
      expect(tiny.reason).toMatch(/^risk:/);
      expect(h.orders('FPT', 'tiny')).toEqual([]);
      expect(h.position('FPT', 'paper')).toMatchObject({ quantity: '10' });
      expect(h.position('FPT', 'tiny')).toBeUndefined();
    });

    it('a halt refuses entries and adds as halted; an exit still works', async () => {
      await open('HLA', 'long', 'haltme', 'haltable');
      const writer = openDatabase(h.databasePath);
      try {
        new AccountStateRepo(writer).halt('haltable', 'halted by the test');
      } finally {
        writer.close();
      }
      const entrySignal = await h.signal({ strategy: 'haltme', ticker: 'HLB', ...LONG, price: '100' });
      expect(entrySignal.status).toBe('halted');
      expect(entrySignal.reason).toBe('halted: halted by the test');
      expect(h.orders('HLB', 'haltable')).toEqual([]);

      const add = await h.signal({ strategy: 'haltme', ticker: 'HLA', action: 'add', price: '101' });
      expect(add.status).toBe('halted');
      expect(h.position('HLA', 'haltable')).toMatchObject({ quantity: '10' });

      const exitSignal = await h.signal({ strategy: 'haltme', ticker: 'HLA', action: 'exit', price: '101' });
      expect(exitSignal).toMatchObject({ status: 'executed', reason: null });
      expect(h.position('HLA', 'haltable')).toBeUndefined();
      expect(h.closed('HLA', 'haltable')).toEqual([expect.objectContaining({ realized_pnl: '10' })]);
    });
  });

  it('after all of it, the paper broker\'s own ledger agrees with the journal: positions and order states', async () => {
    await h.stopDaemon();
    for (const account of ['paper', 'paper2', 'fees', 'haltable']) {
      const ledger = new Database(h.ledgerPath(account), { readonly: true });
      try {
        const held = new Map((ledger.prepare('SELECT symbol, quantity FROM positions').all() as Array<{ symbol: string; quantity: string }>)
          .filter((p) => Number(p.quantity) !== 0).map((p) => [p.symbol, p.quantity]));
        const journalled = new Map((h.db().prepare("SELECT symbol, side, quantity FROM positions WHERE account = ? AND status <> 'closed'").all(account) as
          Array<{ symbol: string; side: string; quantity: string }>).map((p) => [p.symbol, p.side === 'short' ? `-${p.quantity}` : p.quantity]));
        expect(held, account).toEqual(journalled);

        const brokerStatus = new Map((ledger.prepare('SELECT client_order_id, status FROM orders').all() as Array<{ client_order_id: string; status: string }>)
          .map((o) => [o.client_order_id, o.status]));
        const journalStatus = new Map((h.db().prepare('SELECT client_order_id, status FROM executed_orders WHERE account = ?').all(account) as
          Array<{ client_order_id: string; status: string }>).map((o) => [o.client_order_id, o.status]));
        expect(brokerStatus, account).toEqual(journalStatus);
      } finally {
        ledger.close();
      }
    }
  });
});

describe('maxExecutionDelaySeconds: an entry that waited too long in the queue', () => {
  const h = new Harness(`
webhook:
  passphrase: \${WEBHOOK_PASSPHRASE}
accounts:
  paper: { broker: paper, slippagePercent: 0 }
strategies:
  slow:
    account: paper
    maxExecutionDelaySeconds: 1
    sizing: { mode: fixed_quantity, value: 10 }
`);
  afterAll(async () => { await h.close(); });

  it('is refused stale when its turn comes, while an exit that waited as long is carried out', async () => {
    await h.start();
    const opened = await h.signal({ strategy: 'slow', ticker: 'DLX', ...LONG, price: '100' });
    expect(opened.status).toBe('executed');
    await h.stopDaemon();

    // Only the webhook runs: the alerts wait in their lanes until a worker comes.
    await h.start('api');
    const sentAt = Date.now();
    const late = await h.send({ strategy: 'slow', ticker: 'DLY', ...LONG, price: '100' });
    const lateExit = await h.send({ strategy: 'slow', ticker: 'DLX', action: 'exit', price: '101' });
    expect([late.status, lateExit.status]).toEqual([202, 202]);
    await h.stopDaemon();
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 1_100 - (Date.now() - sentAt))));

    await h.start('worker');
    const entrySignal = await h.outcome(late.body.signalId as string);
    expect(entrySignal.status).toBe('stale');
    expect(entrySignal.reason).toMatch(/^stale: waited \d+ s in the queue \(maxExecutionDelaySeconds 1\)/);
    expect(h.orders('DLY')).toEqual([]);

    const exitSignal = await h.outcome(lateExit.body.signalId as string);
    expect(exitSignal).toMatchObject({ status: 'executed', reason: null });
    expect(h.position('DLX')).toBeUndefined();
    expect(h.closed('DLX')).toEqual([expect.objectContaining({ quantity: '10', exit_price: '101', realized_pnl: '10', exit_reason: 'signal' })]);
  });
});
