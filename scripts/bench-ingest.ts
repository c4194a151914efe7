// bench:ingest — the webhook's intake speed against a bare express JSON route, in one process, with autocannon.
// A third route, bare+redis, also makes one Redis round trip before answering: printed for reference, not a target.
// The webhook is the real one (startDaemon, role api) on real Redis with its own key prefix, in a temp config that
// lifts the per-strategy ceiling; every request is a valid alert with a unique id. Its keys are deleted afterwards.
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { Redis } from 'ioredis';
import { deletePrefixedKeys } from '../src/queue/redis.ts';
import { pino } from 'pino';
import { startDaemon } from '../src/main.ts';
import { createLogger } from '../src/ops/logger.ts';

// autocannon ships no types: the part of its API used here.
interface Histogram { average: number; p50: number; p90: number; p99: number; max: number }
interface AutocannonResult {
  requests: Histogram & { total: number };
  latency: Histogram;
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodeStats: Record<string, { count: number }>;
}
interface AutocannonRequest {
  method?: string; path?: string; headers?: Record<string, string>; body?: string;
  /** A function, or in workers mode the absolute path of a CommonJS file exporting one. */
  setupRequest?: ((request: AutocannonRequest) => AutocannonRequest) | string;
}
type Autocannon = (options: {
  url: string; connections: number; duration: number; pipelining?: number; method?: string; workers?: number;
  headers?: Record<string, string>; requests?: AutocannonRequest[];
}) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = (process.env.BENCH_CONNECTIONS ?? '10,50').split(',').map(Number);
// Which routes to drive (e.g. `BENCH_TARGETS=webhook` under a profiler); the ratios need bare and webhook.
const TARGETS = (process.env.BENCH_TARGETS ?? 'bare,bare+redis,webhook').split(',');
// `thread`: autocannon runs in a worker thread of its own, so the servers do not share their thread with the load.
const LOADGEN = process.env.BENCH_LOADGEN === 'thread' ? 'thread' : 'same thread';
let threadSetupFile: string | undefined;
const PASSPHRASE = `bench-${Math.random().toString(36).slice(2)}-${Date.now().toString(36)}`;
const PREFIX = `twbench-${Date.now().toString(36)}`;
// The daemon logs at info, as it would in production; to a null device so the bench output stays readable.
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'info';

const CONFIG = `
webhook:
  passphrase: \${WEBHOOK_PASSPHRASE}
  strategyRatePerSecond: 1000000   # bench:ingest lifts the per-strategy ceiling (PRODUCT.md, Changes)
  strategyBurst: 1000000
accounts:
  paper: { broker: paper }
strategies:
  default:
    account: paper
`;

let sequence = 0;
/** A valid alert with a unique id, as TradingView would send it (secret in the body, numbers as text). */
function nextAlert(): string {
  sequence += 1;
  return JSON.stringify({
    passphrase: PASSPHRASE, ticker: `NASDAQ:SYM${sequence % 50}`, action: 'buy', sentiment: 'long', quantity: '10',
    price: '189.25', id: `bench-${PREFIX}-${sequence}`,
  });
}

/**
 * The bare route: parses JSON and answers 200. With `redis`, it also makes one Redis round trip (a PING) before
 * answering: the floor of any design that answers only after Redis has the alert (printed for reference).
 */
async function startBare(redis?: Redis): Promise<{ url: string; server: Server }> {
  const app = express();
  app.use(express.json());
  app.post('/webhook', (req, res, next) => {
    const answer = () => { res.status(200).json({ ok: true, keys: Object.keys(req.body as object).length }); };
    if (!redis) answer();
    else redis.ping().then(answer, next);
  });
  const server = await new Promise<Server>((resolve) => { const s = createServer(app); s.listen(0, '127.0.0.1', () => resolve(s)); });
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server };
}

const deleteKeys = deletePrefixedKeys;

/** The alerts for a worker thread: the same as nextAlert(), written as a file autocannon's worker can require. */
function writeThreadSetup(dir: string): string {
  const file = join(dir, 'alerts.cjs');
  writeFileSync(file, `let n = 0;
module.exports = (request) => {
  n += 1;
  return { ...request, body: JSON.stringify({ passphrase: ${JSON.stringify(PASSPHRASE)}, ticker: 'NASDAQ:SYM' + (n % 50), action: 'buy',
    sentiment: 'long', quantity: '10', price: '189.25', id: ${JSON.stringify(`bench-${PREFIX}-t`)} + Date.now() + '-' + n }) };
};
`);
  return file;
}

async function run(url: string, connections: number, duration = DURATION): Promise<AutocannonResult> {
  return autocannon({
    url, connections, duration, workers: threadSetupFile ? 1 : undefined,
    requests: [{
      method: 'POST', path: '/webhook', headers: { 'content-type': 'application/json' },
      setupRequest: threadSetupFile ?? ((request) => ({ ...request, body: nextAlert() })),
    }],
  });
}

interface Row { target: string; connections: number; result: AutocannonResult }

function statusSummary(result: AutocannonResult): string {
  return Object.entries(result.statusCodeStats).map(([code, { count }]) => `${code}×${count}`).join(' ');
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tw-bench-'));
  const configFile = join(dir, 'tradewire.yaml');
  writeFileSync(configFile, CONFIG);
  const logger = createLogger({ level: LOG_LEVEL, destination: pino.destination({ dest: '/dev/null', sync: false }) });
  const daemon = await startDaemon({
    CONFIG_FILE: configFile, PORT: '0', HOST: '127.0.0.1', REDIS_URL, REDIS_PREFIX: PREFIX,
    DATABASE_PATH: join(dir, 'trading.db'), WEBHOOK_PASSPHRASE: PASSPHRASE,
  }, logger, 'api');
  const bare = await startBare();
  const redis = new Redis(REDIS_URL);
  const roundTrip = await startBare(redis);
  const rows: Row[] = [];
  try {
    // A short warm-up of each, so JIT and connection set-up are not in the numbers.
    if (LOADGEN === 'thread') threadSetupFile = writeThreadSetup(dir);
    await run(daemon.url, 10, 2);
    await run(bare.url, 10, 2);
    await run(roundTrip.url, 10, 2);
    await deleteKeys(redis, PREFIX);
    for (const connections of CONNECTIONS) {
      for (const [target, url] of ([['bare', bare.url], ['bare+redis', roundTrip.url], ['webhook', daemon.url]] as const).filter(([t]) => TARGETS.includes(t))) {
        process.stdout.write(`running ${target} at ${connections} connections for ${DURATION} s...\n`);
        const result = await run(url, connections);
        rows.push({ target, connections, result });
        // Keep Redis the same size for every run: each accepted alert left a job and its dedupe keys.
        await deleteKeys(redis, PREFIX);
      }
    }
  } finally {
    await daemon.stop();
    await new Promise<void>((resolve) => bare.server.close(() => resolve()));
    await new Promise<void>((resolve) => roundTrip.server.close(() => resolve()));
    const left = await deleteKeys(redis, PREFIX);
    await redis.quit();
    rmSync(dir, { recursive: true, force: true });
    process.stdout.write(`deleted ${left} leftover keys under ${PREFIX}:\n`);
  }

  console.log(`\nbench:ingest — ${DURATION} s per run, Node ${process.version}, daemon log level ${LOG_LEVEL}, autocannon in the same process (${LOADGEN})`);
  console.table(rows.map(({ target, connections, result }) => ({
    target, connections,
    'req/s': Math.round(result.requests.average),
    'p50 ms': result.latency.p50,
    'p99 ms': result.latency.p99,
    'max ms': result.latency.max,
    errors: result.errors + result.timeouts,
    statuses: statusSummary(result),
  })));
  let pass = true;
  for (const connections of CONNECTIONS) {
    const bareRow = rows.find((r) => r.target === 'bare' && r.connections === connections);
    const roundTripRow = rows.find((r) => r.target === 'bare+redis' && r.connections === connections);
    const hookRow = rows.find((r) => r.target === 'webhook' && r.connections === connections);
    if (!bareRow || !hookRow) continue;
    const ratio = hookRow.result.requests.average / bareRow.result.requests.average;
    const ratioOk = ratio >= 0.8;
    const p99Ok = connections !== 10 || hookRow.result.latency.p99 < 10;
    const accepted = hookRow.result.statusCodeStats['202']?.count ?? 0;
    const total = Object.values(hookRow.result.statusCodeStats).reduce((sum, s) => sum + s.count, 0);
    pass &&= ratioOk && p99Ok && accepted === total;
    console.log(`${connections} connections: webhook/bare = ${ratio.toFixed(2)} (target ≥ 0.80: ${ratioOk ? 'met' : 'MISSED'})`
      + (connections === 10 ? `; webhook p99 ${hookRow.result.latency.p99} ms (target < 10 ms: ${p99Ok ? 'met' : 'MISSED'})` : '')
      + `; ${accepted} of ${total} answers were 202`
      + (roundTripRow ? `; for reference webhook/(bare+redis) = ${(hookRow.result.requests.average / roundTripRow.result.requests.average).toFixed(2)}` : ''));
  }
  console.log(pass ? 'targets met' : 'targets MISSED (see above)');
}

await main();
