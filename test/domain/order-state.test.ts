import { describe, expect, it } from 'vitest';
import { ALL_ORDER_STATUSES, canTransition, isTerminal, legalTransitions, transition, type OrderStatus } from '../../src/domain/order.ts';
import { InvariantError } from '../../src/domain/errors.ts';

// The lifecycle as ARCHITECTURE.md describes it, written out independently of the table in order.ts,
// so a change to the table that breaks the documented lifecycle fails here.
const DOCUMENTED: Array<[OrderStatus, OrderStatus]> = [
  ['pending_submit', 'submitted'], ['submitted', 'accepted'], ['accepted', 'partially_filled'], ['partially_filled', 'filled'],
  ['accepted', 'filled'], ['held', 'accepted'], ['submitted', 'held'],
  ['accepted', 'pending_cancel'], ['pending_cancel', 'cancelled'], ['pending_cancel', 'filled'],
  ['partially_filled', 'pending_cancel'], ['held', 'cancelled'], ['accepted', 'cancelled'], ['accepted', 'expired'],
  ['partially_filled', 'cancelled'], ['submitted', 'rejected'], ['accepted', 'replaced'], ['partially_filled', 'replaced'],
  ['submitted', 'unknown'], ['unknown', 'accepted'], ['unknown', 'filled'], ['unknown', 'rejected'], ['unknown', 'cancelled'],
];

describe('order state machine', () => {
  it.each(DOCUMENTED)('allows %s → %s', (from, to) => {
    expect(canTransition(from, to)).toBe(true);
    expect(transition(from, to)).toBe(to);
  });

  it('every transition in the table is accepted by transition()', () => {
    const all = legalTransitions();
    expect(all.length).toBeGreaterThan(DOCUMENTED.length);
    for (const [from, to] of all) expect(transition(from, to)).toBe(to);
  });

  it.each(['filled', 'cancelled', 'rejected', 'expired', 'replaced'] as OrderStatus[])('%s is terminal: no way out', (terminal) => {
    expect(isTerminal(terminal)).toBe(true);
    for (const to of ALL_ORDER_STATUSES) expect(canTransition(terminal, to)).toBe(false);
  });

  it.each([
    ['filled', 'accepted'], ['cancelled', 'filled'], ['rejected', 'submitted'], ['pending_submit', 'pending_cancel'],
    ['accepted', 'submitted'], ['held', 'rejected'], ['accepted', 'held'], ['partially_filled', 'accepted'],
  ] as Array<[OrderStatus, OrderStatus]>)('refuses %s → %s with an InvariantError naming both states', (from, to) => {
    expect(canTransition(from, to)).toBe(false);
    expect(() => transition(from, to, 'tw-en-abc')).toThrow(InvariantError);
    expect(() => transition(from, to, 'tw-en-abc')).toThrow(`${from} → ${to} for tw-en-abc`);
  });

  it('live states are not terminal', () => {
    for (const s of ['submitted', 'accepted', 'held', 'partially_filled', 'pending_cancel', 'unknown', 'pending_submit'] as OrderStatus[]) {
      expect(isTerminal(s)).toBe(false);
    }
  });
});
