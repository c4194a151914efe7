// npm run bench — issue 13's figures, each next to its target: a bar-close burst, steady latency, end-to-end
// throughput, the api role's intake against a naive stack and bare express, and the daemon's memory idle and loaded.
// Everything runs in processes of its own, as in production: the daemon as `npm start` runs it (role all, the shipped
// config copied with the per-strategy ceiling lifted, a temp journal, its own Redis prefix), the reference servers
// (scripts/bench-reference.ts), and this process as TradingView, sending over loopback only. Every scenario is bounded
// in time and removes its Redis keys and temp files. BENCH_SCENARIOS=burst,latency,throughput,intake picks scenarios;
// BENCH_SCENARIOS=idle measures idle RSS alone over a few starts (quick: no alerts).
import { spawn, type ChildProcess } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { deletePrefixedKeys } from '../src/queue/redis.ts';

// autocannon ships no types: the part of its API used here.
interface AutocannonResult { requests: { average: number }; latency: { p50: number; p99: number }; statusCodeStats: Record<string, { count: number }> }
type Autocannon = (options: {
  url: string; connections: number; duration: number;
  requests: Array<{ method: string; path: string; headers: Record<string, string>; setupRequest: (r: object) => object }>;
}) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const ROOT = new URL('..', import.meta.url).pathname;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const SCENARIOS = (process.env.BENCH_SCENARIOS ?? 'burst,latency,throughput,intake').split(',').map((s) => s.trim());
/** How long a scenario waits for its alerts to be journalled terminal before it reports what is left. */
const DRAIN_TIMEOUT_MS = Number(process.env.BENCH_DRAIN_TIMEOUT_S ?? 150) * 1000;
const INTAKE_SECONDS = Number(process.env.BENCH_INTAKE_SECONDS ?? 5);
/** The idle scenario (not in the default set): how many starts, and when the settled reading is taken. */
const IDLE_STARTS = Number(process.env.BENCH_IDLE_STARTS ?? 3);
const IDLE_SETTLE_S = Number(process.env.BENCH_IDLE_SETTLE_S ?? 30);
/** The daemon logs at info, as in production (a line per accepted alert); BENCH_LOG_LEVEL=warn to see what that costs. */
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'info';
const RUN = `twbench-${Date.now().toString(36)}`;
const PASSPHRASE = `bench-${Math.random().toString(36).slice(2)}-pass`;
const SYMBOLS = 50;
/** Connections the steady senders keep open: TradingView sends each alert on its own, so enough not to queue here. */
const SENDER_CONNECTIONS = 256;
const TERMINAL = `('executed','partial','rejected','failed','duplicate','stale','halted')`;

// ---------------------------------------------------------------------------------------------------------------
// Figures and verdicts

interface Figure { scenario: string; name: string; value: string; target: string; met: boolean | undefined; why?: string }
const figures: Figure[] = [];
function record(figure: Figure): void {
  figures.push(figure);
  const verdict = figure.met === undefined ? '' : figure.met ? 'met' : 'MISSED';
  process.stdout.write(`  ${figure.name.padEnd(34)} ${figure.value.padEnd(26)} ${figure.target.padEnd(26)} ${verdict}\n`);
}

/** Known causes of misses, from issue 13's measurements, named where a figure misses. */
const WHY = {
  allRole: 'role all: the webhook\'s event loop shares the 2 cores with the execution thread (and, on this machine, with the other sessions); under a burst both want the CPU (issue 13)',
  execution: 'execution runs on one thread and is CPU-bound: ~3 ms of CPU a signal (entry, stop, target, exit: ~15 one-commit steps in the journal and the paper ledger, SQLite commits ~18 % of it), one fsync a signal shared by the executions in flight (README, Performance: the journal); on a shared 2-core machine that thread gets part of a core',
  intake: 'tradewire does authentication, lossless parsing, validation, a stable-JSON content hash, dedupe and an info log line per alert on top of the naive stack (README Performance)',
  idle: 'two V8 heaps (HTTP side ~22 MB, execution thread ~25 MB, each mostly module sources: BullMQ, zod, ioredis) on node\'s own ~40 MB, plus start-up garbage V8 returns within ~15 s (README Performance: memory)',
  loaded: 'the execution thread\'s 48 MB young generation (kept for the position loop) and heap growth while draining',
};

const ms = (n: number) => `${n.toFixed(n < 10 ? 1 : 0)} ms`;
function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}
const sleep = (n: number) => new Promise((resolve) => setTimeout(resolve, n));

/** What to stop if the bench itself is interrupted (Ctrl-C): the processes it started, their keys and files. */
const running = new Set<() => Promise<void>>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stdout.write(`\n${signal}: stopping what the bench started...\n`);
    void Promise.allSettled([...running].map((stop) => stop())).then(() => process.exit(130));
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Processes

/** RSS of a process and all its descendants, in MB (threads share their process's RSS). */
function treeRssMb(pid: number): number {
  let kb = 0;
  const visit = (p: number) => {
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      kb += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      for (const task of readdirSync(`/proc/${p}/task`)) {
        for (const child of readFileSync(`/proc/${p}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) visit(Number(child));
      }
    } catch {
      // The process ended while being read.
    }
  };
  visit(pid);
  return kb / 1024;
}

interface Daemon { url: string; pid: number; dbPath: string; prefix: string; errors: string[]; stop(): Promise<void> }

/** The shipped config with the per-strategy ceiling lifted (a bench sends faster than any one strategy should). */
function benchConfig(): string {
  const shipped = readFileSync(join(ROOT, 'config/tradewire.yaml'), 'utf8');
  return shipped
    .replace(/strategyRatePerSecond:\s*\d+/, 'strategyRatePerSecond: 1000000')
    .replace(/strategyBurst:\s*\d+/, 'strategyBurst: 1000000')
    // BENCH_LANES overrides the shipped number of execution lanes (to measure what more or fewer change).
    .replace(/^(\s*)lanes:\s*\d+/m, (line, indent: string) => (process.env.BENCH_LANES ? `${indent}lanes: ${process.env.BENCH_LANES}` : line));
}

/** Node's arguments in package.json's start script (`node [flags] scripts/start.js`): the daemon runs as `npm start` runs it. */
const START_ARGS = (/\bnode (.+)$/.exec((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start)?.[1] ?? '')
  .split(/\s+/).filter(Boolean);

/** Starts the daemon as `npm start` does, in role all or `--role api`. */
async function startDaemon(label: string, role: 'all' | 'api'): Promise<Daemon> {
  const dir = mkdtempSync(join(tmpdir(), `tw-bench-${label}-`));
  const configFile = join(dir, 'tradewire.yaml');
  writeFileSync(configFile, benchConfig());
  const prefix = `${RUN}-${label}`;
  const dbPath = join(dir, 'trading.db');
  // BENCH_DAEMON_NODE_ARGS adds node flags to the daemon only (say `--cpu-prof --cpu-prof-dir=/tmp/prof`, which NODE_OPTIONS refuses).
  const extra = (process.env.BENCH_DAEMON_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const args = [...extra, ...START_ARGS, '--role', role];
  const child = spawn(process.execPath, args, {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CONFIG_FILE: configFile, PORT: '0', HOST: '127.0.0.1', REDIS_URL, REDIS_PREFIX: prefix, DATABASE_PATH: dbPath,
      WEBHOOK_PASSPHRASE: PASSPHRASE, LOG_LEVEL, NODE_ENV: 'production' },
  });
  const errors: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        const event = JSON.parse(line) as { event?: string; url?: string; level?: number; msg?: string };
        if (event.event === 'daemon.started') resolve(String(event.url));
        if ((event.level ?? 0) >= 50) errors.push(`${event.event ?? ''} ${event.msg ?? ''}`);
      }
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    child.once('exit', (code) => reject(new Error(`the daemon exited (${code}) before it started: ${stderr.trim()}`)));
    setTimeout(() => reject(new Error('the daemon did not start within 30 s')), 30_000).unref();
  });
  const stop = async () => {
    running.delete(stop);
    await stopProcess(child);
    await dropKeys(prefix);
    // BENCH_KEEP_JOURNAL=1 keeps the temp folder (the journal) to look at per-step timestamps afterwards.
    if (process.env.BENCH_KEEP_JOURNAL === '1') process.stderr.write(`journal kept in ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  };
  running.add(stop);
  return { url, pid: child.pid as number, dbPath, prefix, errors, stop };
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(killer);
}

interface Reference { url: string; stop(): Promise<void> }

async function startReference(kind: 'bare' | 'naive'): Promise<Reference> {
  const prefix = `${RUN}-naive`;
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/bench-reference.ts', kind], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, REDIS_URL, REDIS_PREFIX: prefix },
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      const match = /listening (\S+)/.exec(chunk);
      if (match?.[1]) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`the ${kind} reference exited (${code})`)));
  });
  const stop = async () => { running.delete(stop); await stopProcess(child); if (kind === 'naive') await dropKeys(prefix); };
  running.add(stop);
  return { url, stop };
}

async function dropKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    await deletePrefixedKeys(redis, prefix);
  } finally {
    redis.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Alerts, as TradingView sends them

/** A stream of valid alerts over 50 symbols: for each symbol a buy (long), then a sell to flat, alternating. */
function alertStream(tag: string): () => string {
  let n = 0;
  const perSymbol = new Array<number>(SYMBOLS).fill(0);
  return () => {
    const symbol = n % SYMBOLS;
    const buy = (perSymbol[symbol] as number) % 2 === 0;
    perSymbol[symbol] = (perSymbol[symbol] as number) + 1;
    n += 1;
    return JSON.stringify({
      passphrase: PASSPHRASE, ticker: `NASDAQ:SYM${symbol}`, action: buy ? 'buy' : 'sell', sentiment: buy ? 'long' : 'flat',
      quantity: '1', price: '100', id: `${tag}-${n}`,
    });
  };
}

/** status 0: no answer (`error` says why: a socket error's code, or 'timeout' after 30 s). */
interface Answer { status: number; ms: number; error?: string }

function statusSummary(answers: Answer[]): string {
  const counts = new Map<string, number>();
  for (const a of answers) counts.set(a.status === 0 ? `no answer (${a.error ?? '?'})` : String(a.status), (counts.get(a.status === 0 ? `no answer (${a.error ?? '?'})` : String(a.status)) ?? 0) + 1);
  return [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([status, n]) => `${status}×${n}`).join(' ');
}

/** One POST; `agent: false` opens a connection of its own (a burst from TradingView arrives on many connections). */
function post(url: string, body: string, agent: Agent | false, signal?: AbortSignal): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = request(`${url}/webhook`, { method: 'POST', agent, signal, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, timeout: 30_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
    });
    let error: string | undefined;
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ status: 0, ms: performance.now() - started, error: error ?? e.code ?? e.message }));
    req.on('timeout', () => { error = 'timeout'; req.destroy(); });
    req.end(body);
  });
}

/**
 * Sends `count` alerts at `perSecond`, on time by the clock rather than by timer ticks; latency counts from when an
 * alert was due (time waiting for one of the agent's connections included, as TradingView would wait). Answers not in
 * 30 s after the last send are given up ('deadline'), so a scenario ends even when the daemon falls far behind.
 */
async function sendAtRate(url: string, next: () => string, count: number, perSecond: number, agent: Agent): Promise<Answer[]> {
  const answers: Array<Promise<Answer>> = [];
  const giveUp = new AbortController();
  setMaxListeners(0, giveUp.signal); // one listener per request in flight
  const started = performance.now();
  while (answers.length < count) {
    const due = Math.min(count, Math.floor(((performance.now() - started) / 1000) * perSecond) + 1);
    while (answers.length < due) answers.push(post(url, next(), agent, giveUp.signal));
    await sleep(1);
  }
  const deadline = setTimeout(() => giveUp.abort(), 30_000);
  try {
    return (await Promise.all(answers)).map((a) => (a.status === 0 && giveUp.signal.aborted && a.error === 'ABORT_ERR' ? { ...a, error: 'deadline' } : a));
  } finally {
    clearTimeout(deadline);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The journal

interface Drained { journalled: number; terminal: number; stale: number; firstReceivedMs: number; lastDoneMs: number; waitedMs: number }

/** Waits until `expected` signals whose alert id starts with `tag` are terminal in the journal, or the drain timeout. */
async function drain(daemon: Daemon, tag: string, expected: number, onTick?: () => void): Promise<Drained> {
  const started = Date.now();
  const db = new Database(daemon.dbPath, { readonly: true, fileMustExist: true });
  try {
    const count = db.prepare(`SELECT count(*) AS journalled, sum(status IN ${TERMINAL}) AS terminal, sum(status = 'stale') AS stale,
      min(received_at) AS first, max(CASE WHEN status IN ${TERMINAL} THEN updated_at END) AS last FROM signals WHERE user_id LIKE ?`);
    for (;;) {
      onTick?.();
      const row = count.get(`${tag}-%`) as { journalled: number; terminal: number | null; stale: number | null; first: string | null; last: string | null };
      const done = (row.terminal ?? 0) >= expected;
      if (done || Date.now() - started > DRAIN_TIMEOUT_MS) {
        return { journalled: row.journalled, terminal: row.terminal ?? 0, stale: row.stale ?? 0,
          firstReceivedMs: row.first ? Date.parse(row.first) : Number.NaN, lastDoneMs: row.last ? Date.parse(row.last) : Number.NaN, waitedMs: Date.now() - started };
      }
      await sleep(100);
    }
  } finally {
    db.close();
  }
}

/** Alert-to-order per signal: signals.received_at to the first submitted/accepted/filled event of its orders. */
function alertToOrderMs(daemon: Daemon, tag: string): number[] {
  const db = new Database(daemon.dbPath, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare(`SELECT s.received_at AS received, min(e.at) AS placed FROM signals s
      JOIN executed_orders o ON o.signal_id = s.signal_id JOIN order_events e ON e.order_id = o.id
      WHERE s.user_id LIKE ? AND e.to_status IN ('submitted','accepted','filled') GROUP BY s.signal_id`).all(`${tag}-%`) as Array<{ received: string; placed: string }>;
    return rows.map((r) => Date.parse(r.placed) - Date.parse(r.received));
  } finally {
    db.close();
  }
}

async function idleRss(daemon: Daemon, scenario: string): Promise<void> {
  await sleep(3000);
  const rss = treeRssMb(daemon.pid);
  record({ scenario, name: 'idle RSS (role all, all processes)', value: `${rss.toFixed(0)} MB`, target: '≤ 100 MB', met: rss <= 100, why: WHY.idle });
}

/** Idle RSS alone, over several starts (no alerts): 3 s after each start, as the other scenarios read it, and settled. */
async function idle(): Promise<void> {
  process.stdout.write(`\nidle: RSS of the daemon (role all, all its processes) over ${IDLE_STARTS} starts, 3 s and ${IDLE_SETTLE_S} s after each\n`);
  const early: number[] = [];
  const settled: number[] = [];
  for (let i = 0; i < IDLE_STARTS; i++) {
    const daemon = await startDaemon(`idle${i}`, 'all');
    try {
      await sleep(3000);
      early.push(treeRssMb(daemon.pid));
      await sleep(IDLE_SETTLE_S * 1000 - 3000);
      settled.push(treeRssMb(daemon.pid));
    } finally {
      await daemon.stop();
    }
  }
  const range = (values: number[]) => `${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)} MB`;
  record({ scenario: 'idle', name: 'idle RSS 3 s after start', value: range(early), target: '≤ 100 MB', met: Math.max(...early) <= 100, why: WHY.idle });
  record({ scenario: 'idle', name: `idle RSS ${IDLE_SETTLE_S} s after start`, value: range(settled), target: '≤ 100 MB', met: Math.max(...settled) <= 100, why: WHY.idle });
}

async function warmUp(url: string, count: number, tag: string): Promise<void> {
  const next = alertStream(tag);
  for (let i = 0; i < count; i++) await post(url, next(), false);
}

// ---------------------------------------------------------------------------------------------------------------
// Scenarios

async function burst(): Promise<void> {
  process.stdout.write('\nburst: 500 alerts at once to the daemon (role all) and to bare express, each on its own connection\n');
  const daemon = await startDaemon('burst', 'all');
  const bare = await startReference('bare');
  try {
    await idleRss(daemon, 'burst');
    await warmUp(daemon.url, 20, `${RUN}-bw`);
    await warmUp(bare.url, 20, `${RUN}-bw`);
    await drain(daemon, `${RUN}-bw`, 20);
    const fire = async (url: string, tag: string) => { const next = alertStream(tag); const bodies = Array.from({ length: 500 }, next); return Promise.all(bodies.map((b) => post(url, b, false))); };
    const bareAnswers = await fire(bare.url, `${RUN}-bb`);
    await sleep(500);
    const hookAnswers = await fire(daemon.url, `${RUN}-b`);
    const accepted = hookAnswers.filter((a) => a.status === 202).length;
    const within3s = hookAnswers.filter((a) => a.status !== 0 && a.ms <= 3000).length;
    const hookP99 = percentile(hookAnswers.map((a) => a.ms), 99);
    process.stdout.write(`  answers: webhook ${statusSummary(hookAnswers)}; bare ${statusSummary(bareAnswers)}\n`);
    const bareP99 = percentile(bareAnswers.map((a) => a.ms), 99);
    record({ scenario: 'burst', name: 'burst: answered 202', value: `${accepted}/500`, target: '500/500', met: accepted === 500, why: WHY.allRole });
    record({ scenario: 'burst', name: 'burst: answered within 3 s', value: `${within3s}/500 (max ${ms(Math.max(...hookAnswers.map((a) => a.ms)))})`, target: '500/500', met: within3s === 500, why: WHY.allRole });
    record({ scenario: 'burst', name: 'burst: webhook p99 / bare p99', value: `${ms(hookP99)} / ${ms(bareP99)} = ${(hookP99 / bareP99).toFixed(1)}×`, target: '≤ 2×', met: hookP99 <= 2 * bareP99, why: WHY.allRole });
    const drained = await drain(daemon, `${RUN}-b`, accepted);
    record({ scenario: 'burst', name: 'burst: journalled terminal', value: `${drained.terminal}/${accepted} in ${(drained.waitedMs / 1000).toFixed(1)} s`, target: 'all', met: drained.terminal >= accepted, why: WHY.execution });
  } finally {
    await Promise.all([daemon.stop(), bare.stop()]);
  }
  if (daemon.errors.length > 0) process.stdout.write(`  the daemon logged ${daemon.errors.length} errors, first: ${daemon.errors[0]}\n`);
}

async function latency(): Promise<void> {
  process.stdout.write('\nlatency: 200 alerts/s for 10 s over 50 symbols (buy, then sell to flat), daemon role all\n');
  const daemon = await startDaemon('latency', 'all');
  const agent = new Agent({ keepAlive: true, maxSockets: SENDER_CONNECTIONS });
  try {
    await idleRss(daemon, 'latency');
    await warmUp(daemon.url, 20, `${RUN}-lw`);
    await drain(daemon, `${RUN}-lw`, 20);
    const tag = `${RUN}-l`;
    const answers = await sendAtRate(daemon.url, alertStream(tag), 2000, 200, agent);
    const accepted = answers.filter((a) => a.status === 202).length;
    process.stdout.write(`  answers: ${statusSummary(answers)}\n`);
    const p99 = percentile(answers.map((a) => a.ms), 99);
    record({ scenario: 'latency', name: 'latency: webhook p50 / p99', value: `${ms(percentile(answers.map((a) => a.ms), 50))} / ${ms(p99)}`, target: 'p99 ≤ 25 ms', met: p99 <= 25, why: WHY.allRole });
    const drained = await drain(daemon, tag, accepted);
    const toOrder = alertToOrderMs(daemon, tag);
    const p50 = percentile(toOrder, 50);
    const p99o = percentile(toOrder, 99);
    record({ scenario: 'latency', name: 'latency: alert-to-order p50', value: `${ms(p50)} (${toOrder.length} signals)`, target: '≤ 5 ms', met: p50 <= 5, why: WHY.execution });
    record({ scenario: 'latency', name: 'latency: alert-to-order p99', value: ms(p99o), target: '≤ 25 ms', met: p99o <= 25, why: WHY.execution });
    record({ scenario: 'latency', name: 'latency: journalled terminal', value: `${drained.terminal}/2000 (${accepted} accepted, ${drained.stale} stale)`, target: '2000/2000', met: drained.terminal === 2000, why: WHY.execution });
  } finally {
    agent.destroy();
    await daemon.stop();
  }
}

async function throughput(): Promise<void> {
  process.stdout.write('\nthroughput: 5,000 alerts over 50 symbols at 1,000/s, daemon role all; RSS sampled while it drains\n');
  const daemon = await startDaemon('throughput', 'all');
  const agent = new Agent({ keepAlive: true, maxSockets: SENDER_CONNECTIONS });
  let peak = 0;
  const sample = () => { peak = Math.max(peak, treeRssMb(daemon.pid)); };
  const sampler = setInterval(sample, 100);
  try {
    await idleRss(daemon, 'throughput');
    const tag = `${RUN}-t`;
    const sendStarted = Date.now();
    const answers = await sendAtRate(daemon.url, alertStream(tag), 5000, 1000, agent);
    const accepted = answers.filter((a) => a.status === 202).length;
    process.stdout.write(`  answers: ${statusSummary(answers)}\n`);
    record({ scenario: 'throughput', name: 'throughput: accepted', value: `${accepted}/5000`, target: '5000/5000', met: accepted === 5000, why: WHY.allRole });
    const drained = await drain(daemon, tag, accepted, sample);
    process.stdout.write(`  first alert sent → drained, by this process's clock: ${((Date.now() - sendStarted) / 1000).toFixed(1)} s\n`);
    const spanS = (drained.lastDoneMs - drained.firstReceivedMs) / 1000;
    const rate = drained.terminal / spanS;
    record({ scenario: 'throughput', name: 'throughput: terminal', value: `${drained.terminal}/5000${drained.terminal < accepted ? ` (waited ${(drained.waitedMs / 1000).toFixed(0)} s)` : ''}`, target: '5000/5000', met: drained.terminal === 5000, why: WHY.execution });
    record({ scenario: 'throughput', name: 'throughput: first received → last done', value: `${spanS.toFixed(1)} s = ${rate.toFixed(0)} signals/s`, target: '≤ 10 s (≥ 500/s)', met: spanS <= 10 && drained.terminal === 5000, why: WHY.execution });
    record({ scenario: 'throughput', name: 'throughput: stale', value: String(drained.stale), target: '0', met: drained.stale === 0, why: WHY.execution });
    record({ scenario: 'throughput', name: 'loaded peak RSS (draining 5,000)', value: `${peak.toFixed(0)} MB`, target: '≤ 250 MB', met: peak <= 250, why: WHY.loaded });
  } finally {
    clearInterval(sampler);
    agent.destroy();
    await daemon.stop();
  }
}

async function intake(): Promise<void> {
  process.stdout.write(`\nintake: --role api vs the naive stack and bare express, 10 connections, ${INTAKE_SECONDS} s a run, 3 interleaved rounds\n`);
  const daemon = await startDaemon('intake', 'api');
  const bare = await startReference('bare');
  const naive = await startReference('naive');
  const targets = [['bare', bare.url], ['naive', naive.url], ['webhook', daemon.url]] as const;
  const rates: Record<string, number[]> = { bare: [], naive: [], webhook: [] };
  const p99s: Record<string, number[]> = { bare: [], naive: [], webhook: [] };
  let hookAccepted = 0;
  let hookTotal = 0;
  const drive = (url: string, tag: string, seconds: number) => {
    const next = alertStream(tag);
    return autocannon({ url, connections: 10, duration: seconds,
      requests: [{ method: 'POST', path: '/webhook', headers: { 'content-type': 'application/json' }, setupRequest: (r) => ({ ...r, body: next() }) }] });
  };
  try {
    for (const [name, url] of targets) await drive(url, `${RUN}-iw-${name}`, 2);
    for (let round = 0; round < 3; round++) {
      // Interleaved, and in a different order each round, so a slow minute of this shared VM does not fall on one stack.
      for (let i = 0; i < targets.length; i++) {
        const [name, url] = targets[(i + round) % targets.length] as (typeof targets)[number];
        const result = await drive(url, `${RUN}-i${round}-${name}`, INTAKE_SECONDS);
        rates[name]?.push(result.requests.average);
        p99s[name]?.push(result.latency.p99);
        if (name === 'webhook') {
          hookAccepted += result.statusCodeStats['202']?.count ?? 0;
          hookTotal += Object.values(result.statusCodeStats).reduce((sum, s) => sum + s.count, 0);
        }
        // Jobs pile up in the api role (nothing executes them): keep Redis the same size for every run.
        await dropKeys(daemon.prefix);
        await dropKeys(`${RUN}-naive`);
      }
    }
    const median = (name: string) => percentile(rates[name] ?? [], 50);
    const show = (name: string) => `${median(name).toFixed(0)}/s (${(rates[name] ?? []).map((r) => r.toFixed(0)).join(', ')})`;
    record({ scenario: 'intake', name: 'intake: bare express', value: show('bare'), target: '(reference)', met: undefined });
    record({ scenario: 'intake', name: 'intake: naive (express+zod+BullMQ)', value: show('naive'), target: '(reference)', met: undefined });
    record({ scenario: 'intake', name: 'intake: webhook --role api', value: show('webhook'), target: '', met: undefined });
    const ratio = median('webhook') / median('naive');
    record({ scenario: 'intake', name: 'intake: webhook / naive', value: ratio.toFixed(2), target: '≥ 0.90', met: ratio >= 0.9, why: WHY.intake });
    record({ scenario: 'intake', name: 'intake: webhook / bare', value: (median('webhook') / median('bare')).toFixed(2), target: '(reference)', met: undefined });
    record({ scenario: 'intake', name: 'intake: webhook p99 (median of 3)', value: ms(percentile(p99s.webhook ?? [], 50)), target: '(reference)', met: undefined });
    record({ scenario: 'intake', name: 'intake: webhook answers 202', value: `${hookAccepted}/${hookTotal}`, target: 'all', met: hookAccepted === hookTotal });
  } finally {
    await Promise.all([daemon.stop(), bare.stop(), naive.stop()]);
  }
}

// ---------------------------------------------------------------------------------------------------------------

const SCENARIO_RUNNERS: Record<string, () => Promise<void>> = { burst, latency, throughput, intake, idle };

async function main(): Promise<void> {
  const unknown = SCENARIOS.filter((s) => !SCENARIO_RUNNERS[s]);
  if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')} (burst, latency, throughput, intake, idle)`);
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  process.stdout.write(`npm run bench — ${new Date().toISOString()}, Node ${process.version}, load ${load}, scenarios ${SCENARIOS.join(',')}\n`);
  process.stdout.write(`  ${'figure'.padEnd(34)} ${'value'.padEnd(26)} ${'target'.padEnd(26)} verdict\n`);
  for (const scenario of SCENARIOS) {
    try {
      await (SCENARIO_RUNNERS[scenario] as () => Promise<void>)();
    } catch (error) {
      record({ scenario, name: `${scenario}: did not complete`, value: String(error instanceof Error ? error.message : error).slice(0, 80), target: '', met: false });
    }
  }
  const missed = figures.filter((f) => f.met === false);
  process.stdout.write(`\n${figures.filter((f) => f.met === true).length} targets met, ${missed.length} missed\n`);
  const reasons = new Map<string, string[]>();
  for (const figure of missed) reasons.set(figure.why ?? 'see the figure', [...(reasons.get(figure.why ?? 'see the figure') ?? []), figure.name]);
  for (const [why, names] of reasons) process.stdout.write(`  missed ${names.join('; ')}\n    why: ${why}\n`);
  process.exitCode = missed.length > 0 ? 1 : 0;
}

await main();
