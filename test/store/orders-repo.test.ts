// Orders in the journal: the write-ahead intent, state changes checked against the state machine, events, fills.
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Decimal } from '../../src/domain/money.ts';
import { InvariantError } from '../../src/domain/errors.ts';
import { OrdersRepo, type OrderIntent } from '../../src/store/orders-repo.ts';
import { SignalsRepo } from '../../src/store/signals-repo.ts';
import { manualClock, tempJournal, type ManualClock, type TempJournal } from './journal-fixture.ts';

const d = (text: string) => new Decimal(text);

let journal: TempJournal;
let clock: ManualClock;
let orders: OrdersRepo;

function entryIntent(overrides: Partial<OrderIntent> = {}): OrderIntent {
  return {
    clientOrderId: 'tw-en-0001', account: 'paper', strategy: 'alpha', symbol: 'AAPL', side: 'buy', leg: 'entry', type: 'limit',
    quantity: d('10'), limitPrice: d('187.25'), timeInForce: 'day', signalId: '01JSIGNAL0000000000000000A', ...overrides,
  };
}

beforeEach(() => {
  clock = manualClock();
  journal = tempJournal(clock.now);
  new SignalsRepo(journal.db, { now: clock.now }).insert({
    signalId: '01JSIGNAL0000000000000000A', strategy: 'alpha', payload: '{"action":"buy"}', receivedAt: clock.now(), status: 'queued',
  });
  orders = new OrdersRepo(journal.db, { now: clock.now });
});
afterEach(() => journal.cleanup());

describe('write-ahead intent', () => {
  it('is committed and visible from a second connection before the broker is called', async () => {
    const seenByBroker: unknown[] = [];
    const broker = {
      placeOrder: async (clientOrderId: string) => {
        const other = new Database(journal.path, { readonly: true });
        try {
          seenByBroker.push(other.prepare('SELECT status, quantity, limit_price FROM executed_orders WHERE client_order_id = ?').get(clientOrderId));
          seenByBroker.push(other.prepare(`SELECT e.from_status, e.to_status FROM order_events e JOIN executed_orders o ON o.id = e.order_id
            WHERE o.client_order_id = ?`).all(clientOrderId));
        } finally {
          other.close();
        }
        return { id: 'BRK-1' };
      },
    };

    const { order, created } = orders.recordIntent(entryIntent());
    expect(created).toBe(true);
    await broker.placeOrder(order.clientOrderId);

    expect(seenByBroker).toEqual([
      { status: 'pending_submit', quantity: '10', limit_price: '187.25' },
      [{ from_status: null, to_status: 'pending_submit' }],
    ]);
  });

  it('returns the journalled order unchanged when the same client id is recorded again (a re-delivered job)', () => {
    const first = orders.recordIntent(entryIntent());
    orders.updateFromBroker('tw-en-0001', { status: 'submitted', brokerOrderId: 'BRK-1' });
    const again = orders.recordIntent(entryIntent({ quantity: d('99') }));
    expect(again.created).toBe(false);
    expect(again.order.id).toBe(first.order.id);
    expect(again.order.status).toBe('submitted');
    expect(again.order.quantity.toFixed()).toBe('10');
    expect(orders.events('tw-en-0001')).toHaveLength(2);
  });

  it('hands back the order exactly as a read of the journal gives it, without reading it back', () => {
    const full = entryIntent({ stopPrice: d('186.5'), trailPercent: d('1.5'), executionId: undefined, parentClientOrderId: 'tw-en-0000' });
    const { order } = orders.recordIntent(full);
    const read = orders.findByClientOrderId(full.clientOrderId);
    expect(order).toEqual(read);
    expect(order.filledQuantity.toFixed()).toBe('0');
    expect(order.createdAt.getTime()).toBe(clock.now().getTime());
  });
});

describe('updateFromBroker', () => {
  it('takes a step from the row an earlier step of the same commit wrote, and ends where reading it would', () => {
    orders.recordIntent(entryIntent());
    const other = orders.recordIntent(entryIntent({ clientOrderId: 'tw-en-0002' })).order;
    const final = orders.inOneCommit(() => {
      const submitted = orders.updateFromBroker('tw-en-0001', { status: 'submitted', brokerOrderId: 'BRK-1' });
      return orders.updateFromBroker('tw-en-0001', { status: 'filled', filledQuantity: d('10'), averageFillPrice: d('187.2') }, submitted);
    });
    expect(final).toEqual(orders.findByClientOrderId('tw-en-0001'));
    expect(final).toMatchObject({ status: 'filled', brokerOrderId: 'BRK-1' });
    expect(orders.events('tw-en-0001').map((e) => [e.fromStatus, e.toStatus])).toEqual([[undefined, 'pending_submit'], ['pending_submit', 'submitted'], ['submitted', 'filled']]);
    // Another order's row is never taken for this one's.
    expect(orders.updateFromBroker('tw-en-0001', { status: 'filled', reason: 'again' }, other).reason).toBe('again');
    expect(orders.updateFromBroker('tw-en-0002', { status: 'submitted' }, final)).toMatchObject({ clientOrderId: 'tw-en-0002', status: 'submitted' });
  });

  it('moves through the state machine and records an event for each change', () => {
    orders.recordIntent(entryIntent());
    clock.advance(1000);
    orders.updateFromBroker('tw-en-0001', { status: 'submitted', brokerOrderId: 'BRK-1' });
    orders.updateFromBroker('tw-en-0001', { status: 'accepted' });
    orders.updateFromBroker('tw-en-0001', { status: 'partially_filled', filledQuantity: d('3'), averageFillPrice: d('187.20') });
    orders.updateFromBroker('tw-en-0001', { status: 'partially_filled', filledQuantity: d('7'), averageFillPrice: d('187.22') });
    clock.advance(1000);
    const filled = orders.updateFromBroker('tw-en-0001', { status: 'filled', filledQuantity: d('10'), averageFillPrice: d('187.214') });

    expect(filled.status).toBe('filled');
    expect(filled.brokerOrderId).toBe('BRK-1');
    expect(filled.filledQuantity.toFixed()).toBe('10');
    expect(filled.averageFillPrice?.toFixed()).toBe('187.214');
    expect(filled.updatedAt.toISOString()).toBe('2026-01-05T14:30:02.000Z');
    expect(orders.events('tw-en-0001').map((e) => [e.fromStatus ?? null, e.toStatus])).toEqual([
      [null, 'pending_submit'],
      ['pending_submit', 'submitted'],
      ['submitted', 'accepted'],
      ['accepted', 'partially_filled'],
      ['partially_filled', 'partially_filled'],
      ['partially_filled', 'filled'],
    ]);
    expect(orders.events('tw-en-0001')[5]?.detail).toEqual({ filledQuantity: '10', averageFillPrice: '187.214' });
  });

  it('allows the same status with new fill data as a no-op for the status, and writes nothing for a report that changes nothing', () => {
    orders.recordIntent(entryIntent());
    orders.updateFromBroker('tw-en-0001', { status: 'submitted' });
    orders.updateFromBroker('tw-en-0001', { status: 'submitted', brokerOrderId: 'BRK-9' });
    orders.updateFromBroker('tw-en-0001', { status: 'submitted', brokerOrderId: 'BRK-9' });
    expect(orders.findByClientOrderId('tw-en-0001')?.brokerOrderId).toBe('BRK-9');
    expect(orders.events('tw-en-0001').map((e) => [e.fromStatus ?? null, e.toStatus])).toEqual([
      [null, 'pending_submit'], ['pending_submit', 'submitted'], ['submitted', 'submitted'],
    ]);
  });

  it('refuses an illegal transition and leaves the order and its history as they were', () => {
    orders.recordIntent(entryIntent());
    orders.updateFromBroker('tw-en-0001', { status: 'submitted', brokerOrderId: 'BRK-1' });
    orders.updateFromBroker('tw-en-0001', { status: 'filled', filledQuantity: d('10'), averageFillPrice: d('187.25') });
    const rowBefore = journal.db.prepare("SELECT * FROM executed_orders WHERE client_order_id = 'tw-en-0001'").get();
    const eventsBefore = journal.db.prepare('SELECT COUNT(*) FROM order_events').pluck().get();
    clock.advance(5000);

    expect(() => orders.updateFromBroker('tw-en-0001', { status: 'accepted', filledQuantity: d('10'), reason: 'late report' }))
      .toThrow(InvariantError);
    expect(() => orders.updateFromBroker('tw-en-0001', { status: 'cancelled', reason: 'late cancel' })).toThrow(/illegal order transition filled → cancelled/);

    expect(journal.db.prepare("SELECT * FROM executed_orders WHERE client_order_id = 'tw-en-0001'").get()).toEqual(rowBefore);
    expect(journal.db.prepare('SELECT COUNT(*) FROM order_events').pluck().get()).toBe(eventsBefore);
  });

  it('refuses pending_submit → cancelled (not in the table) before anything is written', () => {
    orders.recordIntent(entryIntent());
    expect(() => orders.updateFromBroker('tw-en-0001', { status: 'cancelled' })).toThrow(InvariantError);
    expect(orders.findByClientOrderId('tw-en-0001')?.status).toBe('pending_submit');
    expect(orders.events('tw-en-0001')).toHaveLength(1);
  });

  it('refuses a filled quantity that goes backwards (a stale report)', () => {
    orders.recordIntent(entryIntent());
    orders.updateFromBroker('tw-en-0001', { status: 'partially_filled', filledQuantity: d('6') });
    expect(() => orders.updateFromBroker('tw-en-0001', { status: 'partially_filled', filledQuantity: d('4') })).toThrow(/would go back from 6 to 4/);
    expect(orders.findByClientOrderId('tw-en-0001')?.filledQuantity.toFixed()).toBe('6');
  });

  it('refuses an order it never journalled', () => {
    expect(() => orders.updateFromBroker('tw-nope', { status: 'submitted' })).toThrow(/no journalled order tw-nope/);
  });
});

describe('openOrders', () => {
  it('lists the non-terminal orders of an account, optionally of one symbol, intents included', () => {
    orders.recordIntent(entryIntent());
    orders.recordIntent(entryIntent({ clientOrderId: 'tw-st-0001', leg: 'stop', type: 'stop', side: 'sell', stopPrice: d('180'), limitPrice: undefined }));
    orders.recordIntent(entryIntent({ clientOrderId: 'tw-en-0002', symbol: 'MSFT' }));
    orders.recordIntent(entryIntent({ clientOrderId: 'tw-en-0003', symbol: 'MSFT' }));
    orders.recordIntent(entryIntent({ clientOrderId: 'tw-en-0004', account: 'live' }));
    orders.updateFromBroker('tw-st-0001', { status: 'held' });
    orders.updateFromBroker('tw-en-0003', { status: 'rejected', reason: 'insufficient_funds' });

    expect(orders.openOrders('paper').map((o) => o.clientOrderId)).toEqual(['tw-en-0001', 'tw-st-0001', 'tw-en-0002']);
    expect(orders.openOrders('paper', 'AAPL').map((o) => o.clientOrderId)).toEqual(['tw-en-0001', 'tw-st-0001']);
    expect(orders.openOrders('paper', 'AAPL')[1]?.stopPrice?.toFixed()).toBe('180');
    expect(orders.openOrders('live').map((o) => o.clientOrderId)).toEqual(['tw-en-0004']);
  });
});

describe('recordFill', () => {
  it('records a fill once per broker fill id, however often it is reported', () => {
    orders.recordIntent(entryIntent());
    const fill = {
      brokerFillId: 'T-1', clientOrderId: 'tw-en-0001', account: 'paper', symbol: 'AAPL', side: 'buy' as const,
      quantity: d('4'), price: d('187.2'), fee: d('0.0125'), feeCurrency: 'USD', at: clock.now(),
    };
    const first = orders.recordFill(fill);
    const second = orders.recordFill({ ...fill, quantity: d('999') });
    expect(first.inserted).toBe(true);
    expect(second.inserted).toBe(false);
    expect(second.fill.id).toBe(first.fill.id);
    expect(second.fill.quantity.toFixed()).toBe('4');
    expect(orders.fillsForOrder('tw-en-0001')).toHaveLength(1);
    expect(orders.fillsForOrder('tw-en-0001')[0]?.fee.toFixed()).toBe('0.0125');

    orders.recordFill({ ...fill, brokerFillId: 'T-2', quantity: d('6') });
    expect(orders.fillsForOrder('tw-en-0001').map((f) => f.quantity.toFixed())).toEqual(['4', '6']);
  });

  it('refuses a fill for an order it never journalled, or for another account', () => {
    orders.recordIntent(entryIntent());
    const fill = {
      brokerFillId: 'T-1', clientOrderId: 'tw-unknown', account: 'paper', symbol: 'AAPL', side: 'buy' as const,
      quantity: d('1'), price: d('1'), fee: d('0'), at: clock.now(),
    };
    expect(() => orders.recordFill(fill)).toThrow(/unknown order/);
    expect(() => orders.recordFill({ ...fill, clientOrderId: 'tw-en-0001', account: 'live' })).toThrow(/belongs to paper/);
    expect(journal.db.prepare('SELECT COUNT(*) FROM fills').pluck().get()).toBe(0);
  });
});
