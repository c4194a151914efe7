// /metrics over real HTTP in every role: Prometheus text with every family, moved by a signal sent through the webhook,
// the execution thread's families merged in role all, and a scraper that is not on this host refused unless it has the token.
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon, type Role } from '../../src/main.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { dropRedisPrefix, REDIS_URL, tempDir, uniquePrefix, until } from '../helpers/env.ts';
import { parsePrometheus, type Scrape } from '../helpers/prometheus.ts';

const PASSPHRASE = 'metrics-webhook-passphrase-1';
const METRICS_TOKEN = 'metrics-scrape-token-7f3a9c';
const ADMIN_TOKEN = 'metrics-admin-token-2b8e41';

/** Every family PRODUCT.md's "Operating it" and issue 16 ask of /metrics. */
const FAMILIES = {
  tradewire_signals_total: 'counter',
  tradewire_webhook_duration_seconds: 'histogram',
  tradewire_alert_to_order_seconds: 'histogram',
  tradewire_broker_requests_total: 'counter',
  tradewire_broker_request_duration_seconds: 'histogram',
  tradewire_broker_errors_total: 'counter',
  tradewire_queue_jobs: 'gauge',
  tradewire_queue_oldest_waiting_seconds: 'gauge',
  tradewire_open_positions: 'gauge',
  tradewire_equity: 'gauge',
  tradewire_unrealized_pnl: 'gauge',
  tradewire_realized_pnl_today: 'gauge',
  tradewire_halted: 'gauge',
  tradewire_position_loop_tick_seconds: 'gauge',
  tradewire_event_loop_lag_seconds: 'gauge',
  process_resident_memory_bytes: 'gauge',
  nodejs_heap_size_used_bytes: 'gauge',
} as const;

const CONFIG = (extra: string[] = []) => [
  'server:',
  '  metricsToken: "${METRICS_TOKEN}"',
  ...extra,
  'webhook: { passphrase: "${WEBHOOK_PASSPHRASE}" }',
  'positions: { loopIntervalMs: 100 }',
  'queue: { lanes: 4 }',
  'accounts:',
  '  paper: { broker: paper, slippagePercent: 0 }',
  'strategies:',
  '  default:',
  '    subscriptions: [{ account: paper }]',
  '    sizing: { mode: fixed_quantity, value: 10 }',
  '    stopLoss: { percent: 2 }',
  '',
].join('\n');

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

async function scrape(url: string, headers: Record<string, string> = {}): Promise<Scrape> {
  const response = await fetch(`${url}/metrics`, { headers });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheus(await response.text());
}

function expectEveryFamily(metrics: Scrape): void {
  for (const [name, type] of Object.entries(FAMILIES)) expect(metrics.types.get(name), name).toBe(type);
}

/** A daemon of one role on its own Redis prefix, journal and config. */
function daemonFixture(label: string, role: Role, options: { inline?: boolean; extra?: string[] } = {}) {
  const dir = tempDir(`tw-metrics-${label}`);
  const prefix = uniquePrefix(`metrics-${label}`);
  const file = join(dir.path, 'tradewire.yaml');
  const fixture = {
    daemon: undefined as Daemon | undefined,
    async start() {
      writeFileSync(file, CONFIG(options.extra));
      const silent = createLogger({ level: 'silent' });
      fixture.daemon = await startDaemon({
        CONFIG_FILE: file, PORT: '0', HOST: '127.0.0.1', REDIS_URL, REDIS_PREFIX: prefix, DATABASE_PATH: join(dir.path, 'trading.db'),
        WEBHOOK_PASSPHRASE: PASSPHRASE, METRICS_TOKEN, ADMIN_TOKEN, ...(options.inline ? { TRADEWIRE_EXECUTION: 'inline' } : {}),
      }, silent, role);
    },
    async stop() {
      await fixture.daemon?.stop();
      await dropRedisPrefix(prefix);
      dir.cleanup();
    },
    alert: (id: string, ticker: string) => fetch(`${fixture.daemon!.url}/webhook`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ passphrase: PASSPHRASE, ticker, action: 'buy', sentiment: 'long', price: '100', id }),
    }),
  };
  return fixture;
}

/** Sends one alert and checks the intake's, the execution's and the position's families move with it. */
async function signalMovesTheFamilies(fixture: ReturnType<typeof daemonFixture>, ticker: string): Promise<void> {
  const url = fixture.daemon!.url;
  const before = await scrape(url);
  const queued = { stage: 'intake', outcome: 'queued' };
  const executed = { stage: 'execution', outcome: 'executed' };

  const answer = await fixture.alert(`${ticker}-1`, ticker);
  expect(answer.status).toBe(202);
  // A wrong passphrase is counted too, by its outcome.
  expect((await fetch(`${url}/webhook`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ passphrase: 'wrong', ticker, action: 'buy' }) })).status).toBe(401);

  const after = await until('the execution counted', async () => {
    const now = await scrape(url);
    return now.value('tradewire_signals_total', executed) > before.value('tradewire_signals_total', executed) ? now : undefined;
  }, 15_000);
  expect(after.value('tradewire_signals_total', queued) - before.value('tradewire_signals_total', queued)).toBe(1);
  expect(after.value('tradewire_signals_total', { stage: 'intake', outcome: 'unauthorized' })
    - before.value('tradewire_signals_total', { stage: 'intake', outcome: 'unauthorized' })).toBe(1);
  expect(after.value('tradewire_webhook_duration_seconds_count', { status: '202' })
    - before.value('tradewire_webhook_duration_seconds_count', { status: '202' })).toBe(1);
  expect(after.value('tradewire_webhook_duration_seconds_bucket', { status: '202', le: '+Inf' })
    - before.value('tradewire_webhook_duration_seconds_bucket', { status: '202', le: '+Inf' })).toBe(1);
  expect(after.value('tradewire_alert_to_order_seconds_count', { account: 'paper' })
    - before.value('tradewire_alert_to_order_seconds_count', { account: 'paper' })).toBe(1);
  expect(after.value('tradewire_open_positions', { account: 'paper' })).toBe(before.value('tradewire_open_positions', { account: 'paper' }) + 1);
  expect(after.value('tradewire_halted', { account: 'paper' })).toBe(0);
  expect(after.has('tradewire_queue_jobs', { queue: 'exec-0', state: 'waiting' })).toBe(true);
  expect(after.has('tradewire_queue_oldest_waiting_seconds', { queue: 'exec-0' })).toBe(true);
  expect(after.value('process_resident_memory_bytes')).toBeGreaterThan(0);
}

describe('/metrics in role all: the execution thread\'s families merged with the HTTP side\'s', () => {
  // Behind one proxy, so that a request can say it comes from elsewhere (X-Forwarded-For).
  const fixture = daemonFixture('all', 'all', { extra: ['  trustProxy: 1'] });
  beforeAll(() => fixture.start(), 30_000);
  afterAll(() => fixture.stop(), 30_000);

  it('is Prometheus text with every family, each of its kind', async () => {
    expectEveryFamily(await scrape(fixture.daemon!.url));
  });

  it('a signal through the webhook moves the intake counter and histogram here, and the execution\'s on the thread', async () => {
    await signalMovesTheFamilies(fixture, 'AAPL');
  });

  it('reports each thread\'s event loop and the process\'s memory once', async () => {
    const metrics = await scrape(fixture.daemon!.url);
    expect(metrics.has('tradewire_event_loop_lag_seconds', { thread: 'main', quantile: '0.99' })).toBe(true);
    expect(metrics.has('tradewire_event_loop_lag_seconds', { thread: 'execution', quantile: '0.99' })).toBe(true);
    expect(metrics.samples.filter((s) => s.name === 'process_resident_memory_bytes')).toHaveLength(1);
    // The loop runs on the thread: its tick is reported from there.
    const ticked = await until('a tick reported', async () => {
      const now = await scrape(fixture.daemon!.url);
      return now.value('tradewire_position_loop_last_tick_timestamp_seconds') > 0 ? now : undefined;
    });
    expect(ticked.value('tradewire_position_loop_last_tick_timestamp_seconds')).toBeLessThanOrEqual(Date.now() / 1000 + 1);
  });

  it('a stop that closes the position shows in realized P&L and equity; a halt shows as halted', async () => {
    const url = fixture.daemon!.url;
    const admin = (path: string, body: unknown) => fetch(`${url}/api${path}`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` }, body: JSON.stringify(body) });
    // AAPL was bought at 100 with a 2% stop: 97 crosses it.
    expect((await admin('/prices', { prices: { AAPL: '97' } })).status).toBe(200);
    const closed = await until('the close counted', async () => {
      const now = await scrape(url);
      return now.value('tradewire_realized_pnl_today', { account: 'paper' }) < 0 ? now : undefined;
    });
    expect(closed.value('tradewire_open_positions', { account: 'paper' })).toBe(0);
    const realized = closed.value('tradewire_realized_pnl_today', { account: 'paper' });
    expect(closed.value('tradewire_equity', { account: 'paper' })).toBeCloseTo(100_000 + realized, 6);

    expect((await admin('/halt', { reason: 'metrics test' })).status).toBe(200);
    const halted = await scrape(url);
    expect(halted.value('tradewire_halted', { account: 'paper' })).toBe(1);
  });

  it('answers a remote scraper with METRICS_TOKEN, and refuses one without it with a challenge', async () => {
    const remote = { 'x-forwarded-for': '198.51.100.20' };
    const refused = await fetch(`${fixture.daemon!.url}/metrics`, { headers: remote });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await fetch(`${fixture.daemon!.url}/metrics`, { headers: { ...remote, authorization: 'Bearer not-the-token' } })).status).toBe(401);
    expectEveryFamily(await scrape(fixture.daemon!.url, { ...remote, authorization: `Bearer ${METRICS_TOKEN}` }));
  });
});

describe('/metrics in role all with execution inline, and in role api', () => {
  const inline = daemonFixture('inline', 'all', { inline: true });
  const api = daemonFixture('api', 'api');
  beforeAll(async () => { await inline.start(); await api.start(); }, 40_000);
  afterAll(async () => { await inline.stop(); await api.stop(); }, 30_000);

  it('inline: every family, and a signal moves them', async () => {
    expectEveryFamily(await scrape(inline.daemon!.url));
    await signalMovesTheFamilies(inline, 'MSFT');
  });

  it('api: every family is declared, the intake counts the alert it queues', async () => {
    const before = await scrape(api.daemon!.url);
    expectEveryFamily(before);
    expect((await api.alert('api-1', 'NVDA')).status).toBe(202);
    const after = await scrape(api.daemon!.url);
    const queued = { stage: 'intake', outcome: 'queued' };
    expect(after.value('tradewire_signals_total', queued) - before.value('tradewire_signals_total', queued)).toBe(1);
  });
});

describe('/metrics in role worker, which serves nothing else', () => {
  let port: number;
  let fixture: ReturnType<typeof daemonFixture>;
  beforeAll(async () => {
    port = await freePort();
    fixture = daemonFixture('worker', 'worker', { extra: [`  metricsPort: ${port}`] });
    await fixture.start();
  }, 30_000);
  afterAll(() => fixture.stop(), 30_000);

  it('serves every family on server.metricsPort', async () => {
    const metrics = await scrape(`http://127.0.0.1:${port}`);
    expectEveryFamily(metrics);
    expect(metrics.has('tradewire_queue_jobs', { queue: 'exec-3', state: 'active' })).toBe(true);
    expect(metrics.value('tradewire_halted', { account: 'paper' })).toBe(0);
  });
});
