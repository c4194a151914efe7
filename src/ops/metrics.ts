// Prometheus metrics (prom-client): the families, this thread's registry, and the merge of the execution thread's into a scrape.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { decodeTime } from 'ulid';

/** A registry's content as plain data: what crosses the thread boundary (src/runtime/protocol.ts). */
export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** Which event loop a series describes: the process's main one (HTTP, or everything outside role all) or the execution thread's. */
export type ThreadName = 'main' | 'execution';

/** Reads state into the gauges just before a scrape (positions, equity, queues); may be slow, never on a hot path. */
export type Collector = () => Promise<void> | void;

/** Latency buckets, in seconds, from sub-millisecond intake to a slow broker. */
const FAST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const BROKER_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** A collector that takes longer than this is left out of the scrape it was asked for: a scrape never hangs on Redis. */
const COLLECT_TIMEOUT_MS = 2000;

/**
 * Every family tradewire exports, on one registry. Observing one is a counter or histogram update, nothing more; the
 * gauges that describe state (positions, equity, queues, the kill switch) are read by collectors at scrape time.
 */
export class TradewireMetrics {
  readonly registry = new Registry();
  private readonly collectors = new Set<Collector>();
  private readonly loopDelay: IntervalHistogram;

  /** Alerts by where they were decided (intake: the webhook's answer; execution: the job's end), outcome and reason. */
  readonly signals = new Counter({
    name: 'tradewire_signals_total', help: 'Signals by stage (intake, execution), outcome and reason',
    labelNames: ['stage', 'outcome', 'reason'] as const, registers: [this.registry],
  });
  readonly webhookSeconds = new Histogram({
    name: 'tradewire_webhook_duration_seconds', help: 'Time from a webhook request to its answer, by HTTP status',
    labelNames: ['status'] as const, buckets: FAST_BUCKETS, registers: [this.registry],
  });
  readonly alertToOrderSeconds = new Histogram({
    name: 'tradewire_alert_to_order_seconds', help: 'Time from an alert\'s arrival to its entry order accepted by the broker',
    labelNames: ['account'] as const, buckets: [...FAST_BUCKETS, 5, 10, 30, 60], registers: [this.registry],
  });
  readonly brokerRequests = new Counter({
    name: 'tradewire_broker_requests_total', help: 'HTTP calls to brokers by broker, endpoint (method and path template) and outcome',
    labelNames: ['broker', 'endpoint', 'outcome'] as const, registers: [this.registry],
  });
  readonly brokerSeconds = new Histogram({
    name: 'tradewire_broker_request_duration_seconds', help: 'Duration of HTTP calls to brokers by broker, endpoint and outcome',
    labelNames: ['broker', 'endpoint', 'outcome'] as const, buckets: BROKER_BUCKETS, registers: [this.registry],
  });
  readonly brokerErrors = new Counter({
    name: 'tradewire_broker_errors_total', help: 'Failed broker calls by broker and error kind (rate_limited, timeout, order_rejected...)',
    labelNames: ['broker', 'kind'] as const, registers: [this.registry],
  });
  readonly queueJobs = new Gauge({
    name: 'tradewire_queue_jobs', help: 'Jobs in each queue (the execution lanes and intake) by state',
    labelNames: ['queue', 'state'] as const, registers: [this.registry],
  });
  readonly queueOldestWaiting = new Gauge({
    name: 'tradewire_queue_oldest_waiting_seconds', help: 'Age of the oldest job waiting in each queue (0 when none waits)',
    labelNames: ['queue'] as const, registers: [this.registry],
  });
  readonly openPositions = new Gauge({
    name: 'tradewire_open_positions', help: 'Positions open (or opening, or closing) per account',
    labelNames: ['account'] as const, registers: [this.registry],
  });
  readonly equity = new Gauge({
    name: 'tradewire_equity', help: 'Equity per account: the day\'s starting equity plus the day\'s realized and unrealized P&L (the kill switch\'s view)',
    labelNames: ['account'] as const, registers: [this.registry],
  });
  readonly unrealizedPnl = new Gauge({
    name: 'tradewire_unrealized_pnl', help: 'Unrealized P&L of the open positions per account, at the position loop\'s marks',
    labelNames: ['account'] as const, registers: [this.registry],
  });
  readonly realizedPnl = new Gauge({
    name: 'tradewire_realized_pnl_today', help: 'Realized P&L (net of fees) of the trades closed in the account\'s current trading day',
    labelNames: ['account'] as const, registers: [this.registry],
  });
  readonly halted = new Gauge({
    name: 'tradewire_halted', help: 'Kill-switch state per account: 1 halted (by the kill switch or by hand), 0 trading',
    labelNames: ['account'] as const, registers: [this.registry],
  });
  readonly feedStaleSymbols = new Gauge({
    name: 'tradewire_price_feed_stale_symbols', help: 'Symbols of a paper account\'s market feed with no price for staleAfterSeconds now (no emulated trigger fires on them)',
    labelNames: ['account', 'source'] as const, registers: [this.registry],
  });
  readonly feedStaleEpisodes = new Gauge({
    name: 'tradewire_price_feed_stale_episodes', help: 'Times a symbol of a paper account\'s market feed went stale since start (cumulative: use increase())',
    labelNames: ['account', 'source'] as const, registers: [this.registry],
  });
  readonly feedMessages = new Gauge({
    name: 'tradewire_price_feed_messages', help: 'A paper account\'s market feed since start, cumulative: prices taken, malformed messages ignored, disconnects',
    labelNames: ['account', 'source', 'kind'] as const, registers: [this.registry],
  });
  readonly loopTickSeconds = new Gauge({
    name: 'tradewire_position_loop_tick_seconds', help: 'Duration of the position loop\'s last tick',
    registers: [this.registry],
  });
  readonly loopLastTick = new Gauge({
    name: 'tradewire_position_loop_last_tick_timestamp_seconds', help: 'When the position loop last finished a tick (Unix time): a stale value is a stuck loop',
    registers: [this.registry],
  });
  readonly loopLag = new Gauge({
    name: 'tradewire_event_loop_lag_seconds', help: 'Event-loop delay per thread since the previous scrape (p99 and max)',
    labelNames: ['thread', 'quantile'] as const, registers: [this.registry],
  });

  constructor(readonly thread: ThreadName, options: { defaults: boolean }) {
    // Memory, CPU, handles and the main loop's lag: process-wide, so only one thread of a process reports them.
    if (options.defaults) collectDefaultMetrics({ register: this.registry });
    this.loopDelay = monitorEventLoopDelay({ resolution: 10 });
    this.loopDelay.enable();
  }

  /** What an object holding this registry shows when it is serialised (a broker in a log line): not the registry's cycles. */
  toJSON(): { thread: ThreadName } {
    return { thread: this.thread };
  }

  /** Adds a collector run before each scrape; the returned function removes it (on stop). */
  addCollector(collector: Collector): () => void {
    this.collectors.add(collector);
    return () => { this.collectors.delete(collector); };
  }

  /** The alert-to-order latency of an entry the broker accepted: a signal id is a ULID stamped with the alert's arrival. */
  observeEntryPlaced(account: string, signalId: string | undefined, now = Date.now()): void {
    if (signalId === undefined) return;
    let receivedAt: number;
    try {
      receivedAt = decodeTime(signalId);
    } catch {
      return;
    }
    this.alertToOrderSeconds.observe({ account }, Math.max(0, now - receivedAt) / 1000);
  }

  /** This registry's families, the collectors run first (each bounded in time; one that fails leaves its gauges as they were). */
  async json(): Promise<MetricsJson> {
    await Promise.all([...this.collectors].map((collect) => withTimeout(Promise.resolve().then(collect), COLLECT_TIMEOUT_MS).catch(() => undefined)));
    const nanos = 1e-9;
    this.loopLag.set({ thread: this.thread, quantile: '0.99' }, this.loopDelay.percentile(99) * nanos);
    this.loopLag.set({ thread: this.thread, quantile: '1' }, this.loopDelay.max * nanos);
    this.loopDelay.reset();
    return this.registry.getMetricsAsJSON();
  }
}

/**
 * The Prometheus text of this thread's families merged with another thread's (role all: the execution thread's).
 * Counters and histograms that both sides have are summed label set by label set; a family only one side has is kept as it is.
 */
export async function renderMetrics(local: MetricsJson, others: MetricsJson[] = []): Promise<string> {
  if (others.length === 0) {
    return AggregatorRegistry.aggregate([local.map((m) => ({ ...m, aggregator: 'first' as const }))]).metrics();
  }
  const sources = [local, ...others];
  const seen = new Map<string, number>();
  for (const source of sources) for (const m of source) seen.set(m.name, (seen.get(m.name) ?? 0) + 1);
  // A family from one side only keeps its values whatever its aggregator says ('omit', 'average' of one...).
  const marked = sources.map((source) => source.map((m) => (seen.get(m.name) === 1 ? { ...m, aggregator: 'first' as const } : { ...m, aggregator: 'sum' as const })));
  return AggregatorRegistry.aggregate(marked).metrics();
}

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

let current: TradewireMetrics | undefined;

/**
 * This thread's metrics, created on first use: a Prometheus registry describes what runs in one place, and the broker
 * HTTP core, the webhook and the workers of a thread all count into it. The execution thread names itself first
 * (useThreadMetrics), so its series say so and leave the process-wide defaults to the main thread.
 */
export function threadMetrics(): TradewireMetrics {
  current ??= new TradewireMetrics('main', { defaults: true });
  return current;
}

/** Names this thread's metrics before anything counts into them (the execution thread, at its start). */
export function useThreadMetrics(thread: ThreadName, options: { defaults: boolean }): TradewireMetrics {
  current = new TradewireMetrics(thread, options);
  return current;
}

/**
 * A broker path as a low-cardinality label: the query dropped and each segment that names one thing (an order id, an
 * account number, a symbol) replaced by `:id`. `/v2/orders/61e69015-8549` → `/v2/orders/:id`.
 */
export function endpointTemplate(path: string): string {
  const bare = path.split('?')[0] ?? '';
  return bare.split('/').map((segment) => (isIdentifier(segment) ? ':id' : segment)).join('/') || '/';
}

function isIdentifier(segment: string): boolean {
  if (segment === '') return false;
  // Digits anywhere (ids, UUIDs, account numbers U1234567) but an API version (v2, v1beta3), or upper-case only (symbols, exchanges): named things.
  return (/\d/.test(segment) && !/^v\d+([a-z]+\d*)?$/.test(segment)) || (/^[A-Z][A-Z._:-]*$/.test(segment) && segment.length > 1) || segment.length > 40;
}

/**
 * A refusal reason as a label: its rule, without the free text after it. `risk:max_positions` stays, `insufficient_funds:
 * not enough buying power` becomes `insufficient_funds`; anything else is `other`.
 */
export function reasonLabel(reason: string | undefined): string {
  if (reason === undefined || reason === '') return '';
  return /^[a-z][a-z0-9_]*(?::[a-z][a-z0-9_]*)?/.exec(reason)?.[0] ?? 'other';
}

async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('collector timed out')), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}
