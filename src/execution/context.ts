// What execution needs from the rest of tradewire, wired once in main.ts and passed down.
import type { BrokerRegistry } from '../brokers/registry.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../ops/logger.ts';
import type { NotifyEvent } from '../ops/notify/events.ts';
import type { AccountStateRepo } from '../store/account-state-repo.ts';
import type { ExecutionsRepo } from '../store/executions-repo.ts';
import type { OrdersRepo } from '../store/orders-repo.ts';
import type { PositionsRepo } from '../store/positions-repo.ts';
import type { SignalsRepo } from '../store/signals-repo.ts';
import type { OrderTracker } from './order-tracker.ts';
import type { RetryDeps } from './retry.ts';

export interface ExecutionContext {
  config: () => Config;
  brokers: BrokerRegistry;
  signals: SignalsRepo;
  executions: ExecutionsRepo;
  orders: OrdersRepo;
  positions: PositionsRepo;
  accountState: AccountStateRepo;
  tracker: OrderTracker;
  logger: Logger;
  now: () => Date;
  sleep: RetryDeps['sleep'];
  /** Who is acting, for leases and close claims ('worker-<pid>-<n>'). */
  owner: string;
  /** Tells the trader (Discord, Slack, Telegram): synchronous and never throws; absent, nothing is sent. */
  notify?: ((event: NotifyEvent) => void) | undefined;
}
