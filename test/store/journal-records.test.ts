// Signals, account state and equity snapshots in the journal, and exact decimal text through every repository.
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Decimal } from '../../src/domain/money.ts';
import { openDatabase } from '../../src/store/db.ts';
import { AccountStateRepo } from '../../src/store/account-state-repo.ts';
import { EquityRepo } from '../../src/store/equity-repo.ts';
import { OrdersRepo } from '../../src/store/orders-repo.ts';
import { PositionsRepo } from '../../src/store/positions-repo.ts';
import { SignalsRepo } from '../../src/store/signals-repo.ts';
import { manualClock, tempJournal, type ManualClock, type TempJournal } from './journal-fixture.ts';

const d = (text: string) => new Decimal(text);

let journal: TempJournal;
let clock: ManualClock;

beforeEach(() => {
  clock = manualClock('2026-01-05T14:30:00.000Z');
  journal = tempJournal(clock.now);
});
afterEach(() => journal.cleanup());

describe('signals', () => {
  it('journals a signal once, keeps its raw payload text exactly, and records its outcome', () => {
    const signals = new SignalsRepo(journal.db, { now: clock.now });
    const payload = '{"ticker":"NASDAQ:AAPL","action":"buy","quantity":0.12345678901234567891,"interval":"5"}';
    const base = { signalId: 'SIG-1', strategy: 'alpha', userId: 'ord-1 2026-01-05T14:30', ticker: 'NASDAQ:AAPL', symbol: 'AAPL',
      action: 'buy', sentiment: 'long', payload, receivedAt: clock.now(), status: 'received' as const, contentHash: 'abc' };
    expect(signals.insert(base)).toBe(true);
    expect(signals.insert({ ...base, status: 'queued' })).toBe(false);
    clock.advance(2000);
    signals.updateStatus('SIG-1', 'rejected', 'risk:max_positions');
    const stored = signals.findById('SIG-1');
    expect(stored).toMatchObject({ status: 'rejected', reason: 'risk:max_positions', payload, symbol: 'AAPL' });
    expect(stored?.updatedAt.toISOString()).toBe('2026-01-05T14:30:02.000Z');
    expect(() => signals.updateStatus('SIG-404', 'failed')).toThrow(/no signal SIG-404/);
    expect(() => signals.insert({ ...base, signalId: 'SIG-BAD', payload: 'not json' })).toThrow(/CHECK constraint/);
  });

  it('finds a strategy’s signals by the alert id within a window (the durable dedupe backstop)', () => {
    const signals = new SignalsRepo(journal.db, { now: clock.now });
    const at = (iso: string) => new Date(iso);
    signals.insert({ signalId: 'S1', strategy: 'alpha', userId: 'x', payload: '{}', receivedAt: at('2026-01-04T10:00:00.000Z'), status: 'executed' });
    signals.insert({ signalId: 'S2', strategy: 'alpha', userId: 'x', payload: '{}', receivedAt: at('2026-01-05T10:00:00.000Z'), status: 'executed' });
    signals.insert({ signalId: 'S3', strategy: 'beta', userId: 'x', payload: '{}', receivedAt: at('2026-01-05T11:00:00.000Z'), status: 'executed' });
    signals.insert({ signalId: 'S4', strategy: 'alpha', userId: 'y', payload: '{}', receivedAt: at('2026-01-05T11:00:00.000Z'), status: 'executed',
      contentHash: 'h1' });
    expect(signals.findByUserId('alpha', 'x', at('2026-01-04T14:30:00.000Z')).map((s) => s.signalId)).toEqual(['S2']);
    expect(signals.findByUserId('alpha', 'x', at('2026-01-01T00:00:00.000Z')).map((s) => s.signalId)).toEqual(['S1', 'S2']);
    expect(signals.findByContentHash('alpha', 'h1', at('2026-01-05T10:59:50.000Z')).map((s) => s.signalId)).toEqual(['S4']);
  });
});

describe('account state', () => {
  it('keeps a halt across a restart until resumed', () => {
    new AccountStateRepo(journal.db, { now: clock.now }).halt('paper', 'kill_switch: daily loss 5.2%', '2026-01-06');
    journal.db.close();

    const reopened = openDatabase(journal.path);
    try {
      const state = new AccountStateRepo(reopened, { now: clock.now });
      expect(state.get('paper')).toMatchObject({ halted: true, haltedReason: 'kill_switch: daily loss 5.2%', haltedUntilDay: '2026-01-06' });
      expect(state.isHalted('paper', '2026-01-05')).toBe(true);
      expect(state.isHalted('paper', '2026-01-06')).toBe(false);
      expect(state.isHalted('live', '2026-01-05')).toBe(false);
      state.halt('paper', 'manual');
      expect(state.isHalted('paper', '2099-01-01')).toBe(true);
      state.resume('paper');
      expect(state.get('paper')).toMatchObject({ halted: false, haltedReason: undefined, haltedUntilDay: undefined });
    } finally {
      reopened.close();
    }
  });

  it('records the equity a trading day starts with, without touching a halt', () => {
    const state = new AccountStateRepo(journal.db, { now: clock.now });
    state.halt('paper', 'manual');
    state.setDayStart('paper', '2026-01-05', d('100000.00'));
    const row = state.get('paper');
    expect(row?.halted).toBe(true);
    expect(row?.dayStartEquity?.toFixed()).toBe('100000');
    expect(row?.tradingDay).toBe('2026-01-05');
  });
});

describe('equity snapshots', () => {
  it('keeps one snapshot per account and day, the latest winning', () => {
    const equity = new EquityRepo(journal.db, { now: clock.now });
    equity.snapshot({ account: 'paper', tradingDay: '2026-01-05', equity: d('100000'), cash: d('100000'), realizedPnl: d('0'), unrealizedPnl: d('0') });
    clock.advance(60_000);
    equity.snapshot({ account: 'paper', tradingDay: '2026-01-05', equity: d('100073.355'), cash: d('98000.5'), realizedPnl: d('73.355'),
      unrealizedPnl: d('0') });
    equity.snapshot({ account: 'paper', tradingDay: '2026-01-06', equity: d('100083.36'), cash: d('100083.36'), realizedPnl: d('10.005'),
      unrealizedPnl: d('0') });
    equity.snapshot({ account: 'live', tradingDay: '2026-01-06', equity: d('5000'), cash: d('5000'), realizedPnl: d('0'), unrealizedPnl: d('0') });

    const days = equity.list('paper');
    expect(days.map((s) => [s.tradingDay, s.equity.toFixed(), s.at.toISOString()])).toEqual([
      ['2026-01-05', '100073.355', '2026-01-05T14:31:00.000Z'],
      ['2026-01-06', '100083.36', '2026-01-05T14:31:00.000Z'],
    ]);
    expect(equity.list('paper', { fromDay: '2026-01-06' }).map((s) => s.tradingDay)).toEqual(['2026-01-06']);
    expect(equity.list('paper', { toDay: '2026-01-05' }).map((s) => s.tradingDay)).toEqual(['2026-01-05']);
    expect(equity.get('paper', '2026-01-05')?.realizedPnl.toFixed()).toBe('73.355');
  });
});

describe('decimal text', () => {
  it('stores a Decimal sum exactly: 0.1 + 0.2 is 0.3, not 0.30000000000000004', () => {
    const positions = new PositionsRepo(journal.db, { now: clock.now });
    positions.open({ id: 'P', account: 'paper', strategy: 'alpha', symbol: 'ETHUSDT', side: 'long', quantity: d('0.1').plus(d('0.2')),
      averageEntryPrice: d('0.00000001'), status: 'open', tradingDay: '2026-01-05' });
    const raw = journal.db.prepare("SELECT quantity, average_entry_price, typeof(quantity) AS t FROM positions WHERE id = 'P'").get();
    expect(raw).toEqual({ quantity: '0.3', average_entry_price: '0.00000001', t: 'text' });
    expect(positions.findById('P')?.quantity.eq(d('0.3'))).toBe(true);
  });

  it('keeps a 30-digit quantity and price digit for digit, seen from a second connection too', () => {
    const orders = new OrdersRepo(journal.db, { now: clock.now });
    const quantity = '123456789012345.123456789012345';
    const price = '0.000000000000000000000000000001';
    orders.recordIntent({ clientOrderId: 'tw-big', account: 'paper', strategy: 'alpha', symbol: 'SHIBUSDT', side: 'buy', leg: 'entry', type: 'limit',
      quantity: d(quantity), limitPrice: d(price) });
    expect(orders.findByClientOrderId('tw-big')?.quantity.toFixed()).toBe(quantity);
    expect(orders.findByClientOrderId('tw-big')?.limitPrice?.toFixed()).toBe(price);
    const other = new Database(journal.path, { readonly: true });
    try {
      expect(other.prepare("SELECT quantity, limit_price FROM executed_orders WHERE client_order_id = 'tw-big'").get())
        .toEqual({ quantity, limit_price: price });
    } finally {
      other.close();
    }
  });

  it('refuses to store a number that is not finite', () => {
    const positions = new PositionsRepo(journal.db, { now: clock.now });
    expect(() => positions.open({ id: 'P', account: 'paper', strategy: 'alpha', symbol: 'X', side: 'long', quantity: d('1').div(0),
      averageEntryPrice: d('1'), status: 'open', tradingDay: '2026-01-05' })).toThrow(/non-finite/);
  });
});
