// The metrics core: labels kept low-cardinality, the merge of two threads' registries, broker calls counted at the HTTP core,
// and who may read /metrics (the real peer address, the client as trustProxy resolves it, the token).
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { http, HttpResponse } from 'msw';
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createHttpClient } from '../../src/brokers/http.ts';
import { createApp } from '../../src/http/app.ts';
import { createMetricsRouter, isLoopback, metricsAccess } from '../../src/http/metrics-route.ts';
import { createLogger } from '../../src/ops/logger.ts';
import type { Broker } from '../../src/brokers/broker.ts';
import type { FeedStats } from '../../src/market/price-feed.ts';
import { endpointTemplate, reasonLabel, renderMetrics, TradewireMetrics } from '../../src/ops/metrics.ts';
import { feedCollector } from '../../src/ops/metrics-collectors.ts';
import { useMswServer } from '../helpers/msw.ts';
import { parsePrometheus } from '../helpers/prometheus.ts';

const msw = useMswServer();
const TOKEN = 'metrics-token-for-remote-scraper-1';

describe('labels', () => {
  it('a broker path keeps its shape and loses its ids, symbols and query', () => {
    expect(endpointTemplate('/v2/orders/61e69015-8549-4bfd-b9c3-01e75cb1a2f3')).toBe('/v2/orders/:id');
    expect(endpointTemplate('/v2/positions/AAPL')).toBe('/v2/positions/:id');
    expect(endpointTemplate('/iserver/account/U1234567/orders')).toBe('/iserver/account/:id/orders');
    expect(endpointTemplate('/fapi/v1/order?symbol=BTCUSDT&signature=abc')).toBe('/fapi/v1/order');
    expect(endpointTemplate('/api/v3/brokerage/orders/historical/batch')).toBe('/api/v3/brokerage/orders/historical/batch');
    expect(endpointTemplate('/v1beta3/crypto/us/latest/quotes')).toBe('/v1beta3/crypto/us/latest/quotes');
    expect(endpointTemplate('/v2/orders:by_client_order_id')).toBe('/v2/orders:by_client_order_id');
  });

  it('a refusal reason keeps its rule and drops the free text', () => {
    expect(reasonLabel('risk:max_positions')).toBe('risk:max_positions');
    expect(reasonLabel('insufficient_funds: buying power 12.30 < 1000')).toBe('insufficient_funds');
    expect(reasonLabel('internal: Cannot read properties of undefined')).toBe('internal');
    expect(reasonLabel('Something odd')).toBe('other');
    expect(reasonLabel(undefined)).toBe('');
  });
});

describe('TradewireMetrics', () => {
  it('times an entry from the alert\'s arrival, read from its ULID signal id', async () => {
    const metrics = new TradewireMetrics('execution', { defaults: false });
    const arrived = Date.now() - 250;
    metrics.observeEntryPlaced('paper', ulid(arrived), arrived + 40);
    metrics.observeEntryPlaced('paper', undefined);
    metrics.observeEntryPlaced('paper', 'not-a-ulid');
    const scrape = parsePrometheus(await renderMetrics(await metrics.json()));
    expect(scrape.value('tradewire_alert_to_order_seconds_count', { account: 'paper' })).toBe(1);
    expect(scrape.value('tradewire_alert_to_order_seconds_sum', { account: 'paper' })).toBeCloseTo(0.04, 6);
    expect(scrape.value('tradewire_alert_to_order_seconds_bucket', { account: 'paper', le: '0.025' })).toBe(0);
    expect(scrape.value('tradewire_alert_to_order_seconds_bucket', { account: 'paper', le: '0.05' })).toBe(1);
  });

  it('merges two threads: shared counters summed label by label, one-sided families kept whole', async () => {
    const main = new TradewireMetrics('main', { defaults: true });
    const thread = new TradewireMetrics('execution', { defaults: false });
    main.signals.inc({ stage: 'intake', outcome: 'queued', reason: '' }, 3);
    thread.signals.inc({ stage: 'execution', outcome: 'executed', reason: '' }, 2);
    thread.signals.inc({ stage: 'intake', outcome: 'queued', reason: '' }, 1);
    thread.halted.set({ account: 'paper' }, 1);
    const scrape = parsePrometheus(await renderMetrics(await main.json(), [await thread.json()]));
    expect(scrape.value('tradewire_signals_total', { stage: 'intake', outcome: 'queued' })).toBe(4);
    expect(scrape.value('tradewire_signals_total', { stage: 'execution', outcome: 'executed' })).toBe(2);
    expect(scrape.value('tradewire_halted', { account: 'paper' })).toBe(1);
    // Only the main thread reports the process: once, and the start time too (its own aggregator would omit it).
    expect(scrape.samples.filter((s) => s.name === 'process_resident_memory_bytes')).toHaveLength(1);
    expect(scrape.value('process_start_time_seconds')).toBeGreaterThan(0);
    expect(scrape.has('tradewire_event_loop_lag_seconds', { thread: 'execution' })).toBe(true);
    expect(scrape.has('tradewire_event_loop_lag_seconds', { thread: 'main' })).toBe(true);
  });

  it('a collector that fails leaves the scrape answered, and a removed one runs no more', async () => {
    const metrics = new TradewireMetrics('main', { defaults: false });
    metrics.addCollector(() => { throw new Error('journal locked'); });
    const remove = metrics.addCollector(() => { metrics.openPositions.set({ account: 'paper' }, 2); });
    expect(parsePrometheus(await renderMetrics(await metrics.json())).value('tradewire_open_positions', { account: 'paper' })).toBe(2);
    remove();
    metrics.openPositions.reset();
    expect(parsePrometheus(await renderMetrics(await metrics.json())).has('tradewire_open_positions')).toBe(false);
  });
});

describe('broker calls at the HTTP core', () => {
  it('are counted and timed by broker, endpoint and outcome, and failures by kind', async () => {
    const metrics = new TradewireMetrics('execution', { defaults: false });
    msw.use(
      http.get('https://api.broker.test/v2/orders/:id', () => HttpResponse.json({ id: 'x' })),
      http.post('https://api.broker.test/v2/orders', () => HttpResponse.json({ message: 'slow down' }, { status: 429 })),
    );
    const client = createHttpClient({ broker: 'alpaca', baseUrl: 'https://api.broker.test', timeoutMs: 1000, logger: createLogger({ level: 'silent' }), metrics });
    await client.request({ method: 'GET', path: '/v2/orders/61e69015-8549', schema: z.unknown() });
    await client.request({ method: 'GET', path: '/v2/orders/7a1c2e33-0000', schema: z.unknown() });
    await expect(client.request({ method: 'POST', path: '/v2/orders', json: {}, schema: z.unknown() })).rejects.toThrow(/429/);
    const scrape = parsePrometheus(await renderMetrics(await metrics.json()));
    expect(scrape.value('tradewire_broker_requests_total', { broker: 'alpaca', endpoint: 'GET /v2/orders/:id', outcome: 'ok' })).toBe(2);
    expect(scrape.value('tradewire_broker_request_duration_seconds_count', { broker: 'alpaca', endpoint: 'GET /v2/orders/:id', outcome: 'ok' })).toBe(2);
    expect(scrape.value('tradewire_broker_requests_total', { broker: 'alpaca', endpoint: 'POST /v2/orders', outcome: 'error' })).toBe(1);
    expect(scrape.value('tradewire_broker_errors_total', { broker: 'alpaca', kind: 'rate_limited' })).toBe(1);
  });
});

describe('who may read /metrics', () => {
  const loopback = '127.0.0.1';
  const remote = '203.0.113.7';

  it('loopback is 127.0.0.0/8, ::1 and IPv4 loopback written as IPv6', () => {
    for (const address of ['127.0.0.1', '127.0.0.2', '::1', '::ffff:127.0.0.1']) expect(isLoopback(address), address).toBe(true);
    for (const address of ['10.0.0.1', '::ffff:10.0.0.1', '::2', '1127.0.0.1', undefined]) expect(isLoopback(address), String(address)).toBe(false);
  });

  it('without a token: only a peer and a client both on this host', () => {
    expect(metricsAccess({ peer: loopback, client: loopback, authorization: undefined }, undefined)).toEqual({ allowed: true });
    // A remote peer that writes X-Forwarded-For: 127.0.0.1 (trusted by a hop count) is still a remote peer.
    expect(metricsAccess({ peer: remote, client: loopback, authorization: undefined }, undefined)).toMatchObject({ allowed: false, status: 403 });
    // A local proxy forwarding a remote client: the client is remote.
    expect(metricsAccess({ peer: loopback, client: remote, authorization: undefined }, undefined)).toMatchObject({ allowed: false, status: 403 });
  });

  it('with a token: anyone who presents it, nobody who does not', () => {
    expect(metricsAccess({ peer: remote, client: remote, authorization: `Bearer ${TOKEN}` }, TOKEN)).toEqual({ allowed: true });
    expect(metricsAccess({ peer: remote, client: remote, authorization: `Bearer ${TOKEN}x` }, TOKEN)).toMatchObject({ allowed: false, status: 401 });
    expect(metricsAccess({ peer: remote, client: remote, authorization: undefined }, TOKEN)).toMatchObject({ allowed: false, status: 401 });
  });

  describe('over HTTP behind a proxy (trustProxy: 1), the client given by X-Forwarded-For', () => {
    let server: Server;
    let url: string;
    let token: string | undefined;
    beforeAll(async () => {
      const app = createApp({ version: 'test', startedAt: new Date(), now: () => new Date(), readiness: [], trustProxy: 1,
        routers: [{ path: '/metrics', router: createMetricsRouter({ gather: async () => 'tradewire_up 1\n', token: () => token, failuresPerMinute: () => 3 }) }] });
      server = await new Promise((resolve) => { const s = createServer(app); s.listen(0, '127.0.0.1', () => resolve(s)); });
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
    });
    afterAll(async () => { await new Promise<void>((resolve) => { server.close(() => resolve()); }); });

    it('refuses a remote client without a token configured, saying how to allow it, and answers this host', async () => {
      token = undefined;
      const refused = await fetch(url, { headers: { 'x-forwarded-for': '198.51.100.4' } });
      expect(refused.status).toBe(403);
      expect(await refused.json()).toMatchObject({ error: 'loopback_only', message: expect.stringContaining('METRICS_TOKEN') });
      const local = await fetch(url);
      expect(local.status).toBe(200);
      expect(await local.text()).toBe('tradewire_up 1\n');
    });

    it('answers a remote client with the token, challenges one without, and limits wrong guesses', async () => {
      token = TOKEN;
      const remoteClient = { 'x-forwarded-for': '198.51.100.5' };
      expect((await fetch(url, { headers: { ...remoteClient, authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
      const missing = await fetch(url, { headers: remoteClient });
      expect(missing.status).toBe(401);
      expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
      for (let i = 0; i < 2; i++) expect((await fetch(url, { headers: { ...remoteClient, authorization: 'Bearer guess' } })).status).toBe(401);
      // Three failures this minute: even the right token waits.
      expect((await fetch(url, { headers: { ...remoteClient, authorization: `Bearer ${TOKEN}` } })).status).toBe(429);
    });
  });
});

describe('config/grafana-dashboard.json', () => {
  it('is valid JSON whose queries use only families /metrics exports, and shows every tradewire family', async () => {
    const dashboard = JSON.parse(readFileSync(new URL('../../config/grafana-dashboard.json', import.meta.url), 'utf8')) as {
      panels: Array<{ type: string; targets?: Array<{ expr: string }> }>;
    };
    const exported = new Set((await new TradewireMetrics('main', { defaults: true }).json()).map((m) => m.name));
    const used = new Set(dashboard.panels.flatMap((p) => p.targets ?? []).flatMap((t) => t.expr.match(/\b(?:tradewire|process|nodejs)_[a-z0-9_]+/g) ?? [])
      .map((name) => name.replace(/_(bucket|sum|count)$/, '')));
    for (const name of used) expect(exported, name).toContain(name);
    for (const name of [...exported].filter((n) => n.startsWith('tradewire_'))) expect(used, name).toContain(name);
  });
});

describe('market feeds of paper accounts', () => {
  it('each feed-priced account reports its stale symbols, stale episodes and message counts; other accounts report nothing', async () => {
    const metrics = new TradewireMetrics('execution', { defaults: false });
    const stats: FeedStats = { account: 'paper-btc', source: 'binance-usdm-mark', symbols: 3, stale: 1, staleEpisodes: 4, prices: 1200, malformed: 2, disconnects: 1 };
    const brokers = {
      accounts: () => ['paper-btc', 'alpaca'],
      get: (account: string) => (account === 'paper-btc' ? { feedStats: () => stats } : {}) as unknown as Broker,
      disconnectAll: async () => undefined,
    };
    metrics.addCollector(feedCollector(metrics, brokers));
    const scrape = parsePrometheus(await renderMetrics(await metrics.json()));
    const labels = { account: 'paper-btc', source: 'binance-usdm-mark' };
    expect(scrape.value('tradewire_price_feed_stale_symbols', labels)).toBe(1);
    expect(scrape.value('tradewire_price_feed_stale_episodes', labels)).toBe(4);
    expect(scrape.value('tradewire_price_feed_messages', { ...labels, kind: 'price' })).toBe(1200);
    expect(scrape.value('tradewire_price_feed_messages', { ...labels, kind: 'malformed' })).toBe(2);
    expect(scrape.value('tradewire_price_feed_messages', { ...labels, kind: 'disconnect' })).toBe(1);
    expect(scrape.has('tradewire_price_feed_stale_symbols', { account: 'alpaca' })).toBe(false);
  });
});
