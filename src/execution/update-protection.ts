// `action: "update"`: the open position's stop or targets moved to the alert's, nothing traded, the position never unprotected.
import type { Broker } from '../brokers/broker.ts';
import type { Decimal } from '../domain/money.ts';
import type { ParsedAlert } from '../intake/parse.ts';
import { replaceStop, restingStop } from '../portfolio/stop-moves.ts';
import type { JournalOrder } from '../store/orders-repo.ts';
import type { Position } from '../store/positions-repo.ts';
import type { ExecutionContext } from './context.ts';
import type { ExecutionOutcome } from './executor.ts';
import { closingSide, idFor, levelIds, openingSide, placeTargets, protectionLegsFor, protectiveOrders } from './position-actions.ts';

export interface UpdateRequest {
  broker: Broker;
  alert: Pick<ParsedAlert, 'stopLoss' | 'takeProfit' | 'price'>;
  signalId: string;
}

/** How long the update holds the position's claim if its process dies midway. */
const CLAIM_MS = 30_000;

/**
 * Moves the position's protection to the alert's: the stop through a replace that keeps one resting at every moment
 * (replaceStop), the targets amended or replaced (a target never protects, so it may go before its successor rests).
 * Percent and amount anchors are measured from the price now; a stop on the wrong side of it is refused. The
 * position is claimed for the while, so the loop and an exit never act on it halfway through.
 */
export async function updateProtection(ctx: ExecutionContext, request: UpdateRequest, position: Position): Promise<ExecutionOutcome> {
  const { broker, alert } = request;
  const instrument = await broker.instrument(position.symbol);
  // Measured from the price now (the alert's, else a quote): a stop moved past the entry to lock in profit is fine, one through the price is not.
  const price = alert.price ?? (await broker.quotes([position.symbol])).get(position.symbol)?.last ?? position.averageEntryPrice;
  const legs = protectionLegsFor({ stopLoss: alert.stopLoss, takeProfit: alert.takeProfit }, {}, openingSide(position.side), price, instrument);
  if (!legs.ok) return { status: 'rejected', reason: `invalid: ${legs.issues}` };
  if (legs.stop && legs.stop.type !== 'stop') {
    return { status: 'rejected', reason: `unsupported: an update moves a fixed stop (stopPrice, percent or amount), not a ${legs.stop.type}` };
  }
  const newStop = legs.stop?.stopPrice;
  const restingTargets = protectiveOrders(ctx, position.id).filter((o) => o.leg === 'target');
  if (legs.levels && restingTargets.length === 0 && position.protection !== 'after_fill') {
    return { status: 'rejected', reason: `unsupported: ${broker.name} cannot rest scale-out targets; the levels the position opened with stay` };
  }

  const now = ctx.now();
  if (!ctx.positions.claimForClose(position.id, ctx.owner, new Date(now.getTime() + CLAIM_MS), now)) {
    return { status: 'failed', reason: 'position_busy: the position is being closed or changed' };
  }
  const tag = `update alert ${request.signalId}`;
  try {
    if (newStop) {
      const stop = restingStop(ctx, position.id);
      if (stop) await replaceStop(ctx, broker, position, stop, { stopPrice: newStop }, `${tag}: stop to ${newStop.toFixed()}`);
      ctx.positions.update(position.id, { stopPrice: newStop });
    }
    if (legs.target) {
      await moveSingleTarget(ctx, broker, position, restingTargets, legs.target.limitPrice, request.signalId, tag);
      ctx.positions.update(position.id, { targetPrice: legs.target.limitPrice });
    } else if (legs.levels) {
      for (const target of restingTargets) await ctx.tracker.cancel(broker, target.clientOrderId);
      const fresh = ctx.positions.findById(position.id) ?? position;
      await placeTargets(ctx, broker, instrument, fresh, legs, { stop: '', target: '', level: levelIds(broker, request.signalId, position.account) });
      ctx.positions.update(position.id, { targetPrice: null });
    }
  } catch (error) {
    return { status: 'failed', reason: `update_failed: ${error instanceof Error ? error.message : String(error)}` };
  } finally {
    ctx.positions.releaseClaim(position.id, ctx.owner);
  }
  ctx.logger.info({ event: 'position.updated', positionId: position.id, symbol: position.symbol, signalId: request.signalId,
    stopPrice: newStop?.toFixed(), targetPrice: legs.target?.limitPrice.toFixed(), levels: legs.levels?.length }, `${position.symbol}: protection updated by an alert`);
  return { status: 'executed' };
}

/** One target for the whole position: the one resting amended (or replaced), scale-out targets swapped for it. */
async function moveSingleTarget(
  ctx: ExecutionContext, broker: Broker, position: Position, resting: readonly JournalOrder[], limitPrice: Decimal, signalId: string, tag: string,
): Promise<void> {
  const [only] = resting;
  if (resting.length === 1 && only && only.level === undefined && broker.capabilities.amend) {
    await ctx.tracker.amend(broker, only.clientOrderId, { limitPrice }, `${tag}: target to ${limitPrice.toFixed()}`);
    return;
  }
  if (resting.length === 0 && position.protection !== 'after_fill') return; // watched by the loop: the position's price is enough
  for (const target of resting) await ctx.tracker.cancel(broker, target.clientOrderId);
  await ctx.tracker.place(broker, {
    clientOrderId: idFor(broker, { source: signalId, account: position.account, leg: 'target' }), account: position.account, strategy: position.strategy,
    symbol: position.symbol, side: closingSide(position.side), leg: 'target', type: 'limit', quantity: position.quantity, limitPrice, positionId: position.id,
    signalId, timeInForce: 'gtc', note: `${tag}: target to ${limitPrice.toFixed()}`,
  }, { reduceOnly: true });
}
