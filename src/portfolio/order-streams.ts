// Starts each account's broker order stream and hands its events to the position manager; polling stays the fallback.
import type { BrokerRegistry } from '../brokers/registry.ts';
import type { Backoff } from '../brokers/stream-socket.ts';
import type { OrderStream, StreamEvent } from '../brokers/order-stream.ts';
import type { Config } from '../config/schema.ts';
import type { OrderStatus } from '../domain/order.ts';
import type { Logger } from '../ops/logger.ts';

/** What the streams need of the position manager: a pass over one account now. */
export interface OrderUpdateSink {
  onOrderUpdate(account: string, clientOrderId?: string): Promise<void>;
}

export interface OrderStreams {
  /** The accounts whose stream runs. */
  accounts: readonly string[];
  stop(): Promise<void>;
}

export interface OrderStreamsOptions {
  backoff?: Backoff | undefined;
  pingIntervalMs?: number | undefined;
}

/** Order states that change nothing yet: an order on its way, resting, or on its way out. */
const QUIET: ReadonlySet<OrderStatus> = new Set(['pending_submit', 'submitted', 'accepted', 'held', 'pending_cancel']);

/** Only what changes a position or its protection is worth a pass: an order merely accepted is not. */
export function worthAPass(event: StreamEvent): boolean {
  if (event.kind === 'position') return event.reason !== 'FUNDING_FEE';
  return event.filledQuantity.gt(0) || !QUIET.has(event.status);
}

/**
 * One stream per account whose broker has one and whose config does not switch it off (`streams: false`). A fill
 * (or a cancel, an expiry, a position the venue changed) makes the manager look at that account at once, and every
 * (re)connect does too: that pass reads by REST what the stream may have missed while it was down.
 */
export function startOrderStreams(brokers: BrokerRegistry, manager: OrderUpdateSink, config: Pick<Config, 'accounts'>, logger: Logger,
  options: OrderStreamsOptions = {}): OrderStreams {
  const running: Array<{ account: string; stream: OrderStream }> = [];
  for (const account of brokers.accounts()) {
    const settings = config.accounts[account];
    if (!settings || !('streams' in settings) || settings.streams === false) continue;
    const broker = brokers.get(account);
    if (!broker.orderStream) continue;
    const stream = broker.orderStream({ logger, backoff: options.backoff, pingIntervalMs: options.pingIntervalMs });
    if (!stream) {
      logger.warn({ event: 'stream.unconfigured', account }, `account ${account}: baseUrl is set but streamUrl is not: no order stream, polling only`);
      continue;
    }
    stream.start({
      onConnected: () => {
        logger.info({ event: 'stream.resync', account }, `order stream for ${account} connected: resyncing by REST`);
        void manager.onOrderUpdate(account);
      },
      onEvent: (event) => {
        logger.debug({ event: 'stream.event', account, kind: event.kind, symbol: event.symbol,
          ...(event.kind === 'order' ? { clientOrderId: event.clientOrderId, status: event.status, venueEvent: event.event, filled: event.filledQuantity.toFixed() } : { reason: event.reason }) },
        'order stream event');
        if (worthAPass(event)) void manager.onOrderUpdate(account, event.kind === 'order' ? event.clientOrderId : undefined);
      },
    });
    running.push({ account, stream });
    logger.info({ event: 'stream.started', account, broker: broker.name }, `order stream started for ${account}`);
  }
  return {
    accounts: running.map((r) => r.account),
    async stop() {
      await Promise.allSettled(running.map((r) => r.stream.stop()));
    },
  };
}
