// Role all's runtime split, measured: idle RSS of the daemon process (all its threads) after start, then a burst of
// 500 alerts sent at once over 50 symbols, each answer's latency. The daemon runs as `npm start` does, in a child
// process; EXECUTION=inline runs it on one event loop (as before issue 13) for comparison. Loopback only.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { deletePrefixedKeys } from '../src/queue/redis.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PASSPHRASE = 'bench-runtime-passphrase-1';
const BURST = Number(process.env.BURST ?? 500);
const PREFIX = `bench-runtime-${Date.now().toString(36)}`;
const CONFIG = `
webhook:
  passphrase: \${WEBHOOK_PASSPHRASE}
  strategyRatePerSecond: 1000000
  strategyBurst: 1000000
accounts:
  paper: { broker: paper, slippagePercent: 0 }
strategies:
  default:
    account: paper
    sizing: { mode: fixed_quantity, value: 1 }
`;

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
/** Why the webhook answered 503 (its own log: Redis did not answer in time). */
const unavailable = new Set<string>();
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tw-bench-runtime-'));
  const file = join(dir, 'tradewire.yaml');
  writeFileSync(file, CONFIG);
  const child = spawn(process.execPath, ['--max-semi-space-size=64', '--import', 'tsx', 'src/main.ts'], {
    env: { ...process.env, CONFIG_FILE: file, PORT: '0', HOST: '127.0.0.1', REDIS_URL, REDIS_PREFIX: PREFIX, DATABASE_PATH: join(dir, 'trading.db'),
      WEBHOOK_PASSPHRASE: PASSPHRASE, LOG_LEVEL: 'info', TRADEWIRE_EXECUTION: process.env.EXECUTION ?? '' },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const match = /"url":"(http:\/\/[^"]+)"/.exec(buffered);
      if (match?.[1]) resolve(match[1]);
      for (const line of chunk.split('\n')) if (line.includes('queue_unavailable')) unavailable.add(/"err":"([^"]*)"/.exec(line)?.[1] ?? line);
    });
    child.once('exit', (code) => reject(new Error(`daemon exited ${code}`)));
  });
  try {
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const idle = rssMb(child.pid!);
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: BURST }, async (_, i) => {
      const t = performance.now();
      const response = await fetch(`${url}/webhook`, { method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ passphrase: PASSPHRASE, ticker: `SYM${i % 50}`, action: 'buy', sentiment: 'long', price: '100', id: `burst-${PREFIX}-${i}` }) });
      await response.arrayBuffer();
      return { status: response.status, ms: performance.now() - t };
    }));
    const wall = performance.now() - started;
    const ms = answers.map((a) => a.ms).sort((a, b) => a - b);
    const statuses = answers.reduce<Record<number, number>>((acc, a) => ({ ...acc, [a.status]: (acc[a.status] ?? 0) + 1 }), {});
    await new Promise((resolve) => setTimeout(resolve, 1000));
    console.log(JSON.stringify({ execution: process.env.EXECUTION || 'thread', idleRssMb: Math.round(idle), loadedRssMb: Math.round(rssMb(child.pid!)),
      statuses, p50: Math.round(pct(ms, 50)), p99: Math.round(pct(ms, 99)), max: Math.round(ms.at(-1) ?? 0), over3s: ms.filter((m) => m > 3000).length, wallMs: Math.round(wall), unavailable: [...unavailable].slice(0, 3) }));
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    const redis = new Redis(REDIS_URL);
    await deletePrefixedKeys(redis, PREFIX);
    await redis.quit();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
