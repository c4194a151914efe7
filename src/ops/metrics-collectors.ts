// The scrape-time readers of the execution side: positions, equity, P&L and halts from the journal and the loop, queue depths from Redis.
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { ZERO } from '../domain/money.ts';
import { tradingDay } from '../domain/trading-day.ts';
import type { BrokerRegistry } from '../brokers/registry.ts';
import type { ExecutionContext } from '../execution/context.ts';
import { reportsFeedStats } from '../market/price-feed.ts';
import { accountTimeZone } from '../execution/position-actions.ts';
import type { ManagerSnapshot } from '../portfolio/manager.ts';
import { laneQueueName } from '../queue/lanes.ts';
import type { Collector, TradewireMetrics } from './metrics.ts';

/**
 * Per account: open positions, halted or not, today's realized P&L, and (where the position loop runs here) the
 * unrealized P&L at its marks and the equity the kill switch sees; the loop's last tick. Gauges are cleared first, so
 * an account removed from the config leaves no stale series.
 */
export function accountCollector(metrics: TradewireMetrics, ctx: ExecutionContext, loop?: () => ManagerSnapshot): Collector {
  return () => {
    const now = ctx.now();
    const snapshot = loop?.();
    const unrealized = new Map(snapshot?.accounts.map((a) => [a.account, a.unrealizedPnl]));
    for (const gauge of [metrics.openPositions, metrics.halted, metrics.realizedPnl, metrics.unrealizedPnl, metrics.equity]) gauge.reset();
    for (const account of Object.keys(ctx.config().accounts)) {
      const day = tradingDay(now, accountTimeZone(ctx, account));
      const state = ctx.accountState.get(account);
      const realized = ctx.positions.closedOnDay(account, day).reduce((sum, c) => sum.plus(c.realizedPnl), ZERO);
      metrics.openPositions.set({ account }, ctx.positions.listOpen(account).length);
      metrics.halted.set({ account }, ctx.accountState.isHalted(account, day) ? 1 : 0);
      metrics.realizedPnl.set({ account }, realized.toNumber());
      const open = unrealized.get(account);
      if (open !== undefined) metrics.unrealizedPnl.set({ account }, open.toNumber());
      // The kill switch's base: what the account started the day with, plus what the day has made since.
      if (state?.dayStartEquity !== undefined && state.tradingDay === day) {
        const sinceStart = (open ?? ZERO).minus(state.dayStartUnrealized ?? ZERO);
        metrics.equity.set({ account }, state.dayStartEquity.plus(realized).plus(sinceStart).toNumber());
      }
    }
    if (snapshot?.lastTickMs !== undefined) metrics.loopTickSeconds.set(snapshot.lastTickMs / 1000);
    if (snapshot?.lastTickAt !== undefined) metrics.loopLastTick.set(snapshot.lastTickAt.getTime() / 1000);
  };
}

const STATES = ['waiting', 'active', 'delayed', 'failed', 'prioritized', 'waiting-children'] as const;

/**
 * The depth of every execution lane by state, and how long the oldest waiting job has waited.
 * Read through the side's own Redis client (fast-fail: a Redis that is down leaves the gauges out, never hangs a scrape).
 */
export function queueCollector(metrics: TradewireMetrics, options: { redis: Redis; prefix: string; laneCount: number; now?: () => number }): Collector & { close(): Promise<void> } {
  const names = [...Array.from({ length: options.laneCount }, (_, lane) => laneQueueName(lane))];
  const queues = names.map((name) => {
    const queue = new Queue(name, { connection: options.redis, prefix: options.prefix });
    queue.on('error', () => undefined);
    return queue;
  });
  const now = options.now ?? Date.now;
  const collect = async () => {
    const read = await Promise.all(queues.map(async (queue) => {
      const [counts, oldest] = await Promise.all([
        queue.getJobCounts(...STATES),
        // Ascending: the first waiting job is the one that has waited longest.
        queue.getJobs(['waiting'], 0, 0, true),
      ]);
      return { queue: queue.name, counts, oldest: oldest[0]?.timestamp };
    }));
    metrics.queueJobs.reset();
    metrics.queueOldestWaiting.reset();
    for (const { queue, counts, oldest } of read) {
      for (const state of STATES) metrics.queueJobs.set({ queue, state }, counts[state] ?? 0);
      metrics.queueOldestWaiting.set({ queue }, oldest === undefined ? 0 : Math.max(0, now() - oldest) / 1000);
    }
  };
  return Object.assign(collect, {
    async close() {
      // The connection is the side's own, shared: closing a queue leaves it open.
      await Promise.all(queues.map((q) => q.close()));
    },
  });
}

/** Each paper account priced from a market feed: how many of its symbols are stale now, and its feed's running counts. */
export function feedCollector(metrics: TradewireMetrics, brokers: BrokerRegistry): Collector {
  return () => {
    for (const gauge of [metrics.feedStaleSymbols, metrics.feedStaleEpisodes, metrics.feedMessages]) gauge.reset();
    for (const account of brokers.accounts()) {
      const broker = brokers.get(account);
      const stats = reportsFeedStats(broker) ? broker.feedStats() : undefined;
      if (stats === undefined) continue;
      const labels = { account, source: stats.source };
      metrics.feedStaleSymbols.set(labels, stats.stale);
      metrics.feedStaleEpisodes.set(labels, stats.staleEpisodes);
      metrics.feedMessages.set({ ...labels, kind: 'price' }, stats.prices);
      metrics.feedMessages.set({ ...labels, kind: 'malformed' }, stats.malformed);
      metrics.feedMessages.set({ ...labels, kind: 'disconnect' }, stats.disconnects);
    }
  };
}
