// The tradewire CLI: read commands against a seeded journal (tables, --json, --csv), acting commands against a real admin API, exit codes.
import { spawnSync } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runClose, runFlatten, runHalt, runResume, runSignal } from '../../src/cli/act-commands.ts';
import type { Output } from '../../src/cli/output.ts';
import { runPositions, runStats, runTrades } from '../../src/cli/read-commands.ts';
import type { CliSettings } from '../../src/cli/settings.ts';
import { resolveSettings } from '../../src/cli/settings.ts';
import { createAdminRouter } from '../../src/http/admin.ts';
import { createApp } from '../../src/http/app.ts';
import { tempDir } from '../helpers/env.ts';
import { createHarness, type Harness } from '../helpers/executor-harness.ts';
import { seedJournal, type SeededJournal } from './seed.ts';

function capture(): Output & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, out: (l) => lines.push(l), err: (l) => errors.push(l) };
}

function cli(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    env: { ...process.env, CONFIG_FILE: 'config/tradewire.yaml', ADMIN_TOKEN: '', WEBHOOK_PASSPHRASE: '', TRADEWIRE_URL: '', ...env },
    encoding: 'utf8', timeout: 20_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('read commands on a seeded journal', () => {
  const dir = tempDir('tw-cli');
  let seeded: SeededJournal;
  beforeAll(() => { seeded = seedJournal(dir.path); seeded.db.close(); });
  afterAll(() => dir.cleanup());
  const opts = () => ({ databasePath: seeded.path, now: () => seeded.now });

  it('positions: an aligned table of the open positions and the halted accounts', () => {
    const io = capture();
    expect(runPositions(opts(), io)).toBe(0);
    expect(io.lines[0]).toMatch(/^ACCOUNT\s+STRATEGY\s+SYMBOL\s+SIDE\s+QTY\s+ENTRY\s+STOP\s+TARGET\s+STATUS\s+OPENED \(UTC\)$/);
    expect(io.lines[1]).toMatch(/^-+( {2}-+)+$/);
    expect(io.lines[2]).toMatch(/^paper\s+alpha\s+NVDA\s+long\s+3\s+450\s+441\s+468\s+open\s+\d{4}-\d\d-\d\d \d\d:\d\d$/);
    expect(io.lines[3]).toBe('Account paper is HALTED: kill switch: daily loss 5% (tradewire resume --account paper)');
    // columns line up: every row is as wide as the rule under the header
    expect(io.lines[2]?.length).toBe(io.lines[1]?.length);
  });

  it('positions --json: exact decimals as text', () => {
    const io = capture();
    expect(runPositions({ ...opts(), json: true }, io)).toBe(0);
    const body = JSON.parse(io.lines.join('\n')) as { positions: Array<Record<string, unknown>>; halted: unknown[] };
    expect(body.positions).toEqual([expect.objectContaining({ symbol: 'NVDA', quantity: '3', averageEntryPrice: '450', stopPrice: '441', targetPrice: '468' })]);
    expect(body.halted).toEqual([{ account: 'paper', reason: 'kill switch: daily loss 5%' }]);
  });

  it('trades: one row per closed trade, oldest first, P&L to the cent; --strategy and --days filter', () => {
    const io = capture();
    expect(runTrades(opts(), io)).toBe(0);
    expect(io.lines).toHaveLength(7);
    expect(io.lines[0]).toMatch(/^CLOSED \(UTC\)\s+STRATEGY\s+ACCOUNT\s+SYMBOL\s+SIDE\s+QTY\s+ENTRY\s+EXIT\s+P&L\s+P&L %\s+FEES\s+EXIT REASON$/);
    expect(io.lines[2]).toMatch(/alpha\s+paper\s+AAPL\s+long\s+10\s+100\s+104\s+40\.00\s+4\.00%\s+0\.00\s+take_profit$/);
    expect(io.lines[4]).toMatch(/beta\s+paper\s+BTCUSDT\s+long\s+0\.5\s+40000\s+40100\s+49\.75\s+0\.25%\s+0\.25\s+signal$/);
    const beta = capture();
    runTrades({ ...opts(), strategy: 'beta' }, beta);
    expect(beta.lines).toHaveLength(3);
    const recent = capture();
    runTrades({ ...opts(), days: 1.2 }, recent);
    expect(recent.lines).toHaveLength(3);
    expect(recent.lines[2]).toContain('TSLA');
    const none = capture();
    runTrades({ ...opts(), strategy: 'gamma' }, none);
    expect(none.lines).toEqual(['No closed trades for gamma.']);
  });

  it('trades --csv and --json keep every digit', () => {
    const csv = capture();
    runTrades({ ...opts(), csv: true }, csv);
    expect(csv.lines[0]?.startsWith('id,position_id,account,strategy,symbol')).toBe(true);
    expect(csv.lines[3]).toContain(',0.5,40000,40100,49.75,0.24875,0.25,signal,');
    const json = capture();
    runTrades({ ...opts(), json: true }, json);
    const body = JSON.parse(json.lines.join('\n')) as { trades: Array<Record<string, unknown>> };
    expect(body.trades.map((t) => t.realizedPnl)).toEqual(['40', '-20', '49.75', '-30', '20']);
  });

  it('stats: the table by strategy with the total; --json exact', () => {
    const io = capture();
    expect(runStats(opts(), io)).toBe(0);
    expect(io.lines[1]).toMatch(/^STRATEGY\s+TRADES\s+WIN RATE\s+TOTAL P&L\s+AVG P&L\s+PROFIT FACTOR\s+MAX DRAWDOWN\s+FILL RATE\s+AVG SLIPPAGE\s+EXPECTANCY$/);
    expect(io.lines[3]).toMatch(/^alpha\s+4\s+50\.00%\s+10\.00\s+2\.50\s+1\.20\s+50\.00\s+80\.00% \(4\/5\)\s+0\.08%\s+-$/);
    expect(io.lines[4]).toMatch(/^beta\s+1\s+100\.00%\s+49\.75\s+49\.75\s+inf\s+0\.00\s+100\.00% \(1\/1\)\s+0\.05%\s+-$/);
    expect(io.lines[5]).toMatch(/^\(all\)\s+5\s+60\.00%\s+59\.75\s+11\.95\s+2\.20\s+30\.00\s+83\.33% \(5\/6\)\s+0\.08%\s+-$/);
    const json = capture();
    runStats({ ...opts(), json: true, strategy: 'alpha' }, json);
    const body = JSON.parse(json.lines.join('\n')) as { stats: Array<Record<string, unknown>> };
    expect(body.stats[0]).toMatchObject({ strategy: 'alpha', profitFactor: '1.2', maxDrawdown: '50', slippageCost: '1.5', fillRatePct: '80' });
  });

  it('as a process: --json on stdout, exit 0; a bad --days is a usage error (2); no journal is 1 with one line', () => {
    const ok = cli(['trades', '--db', seeded.path, '--json']);
    expect(ok.status).toBe(0);
    expect((JSON.parse(ok.stdout) as { trades: unknown[] }).trades).toHaveLength(5);
    const usage = cli(['stats', '--db', seeded.path, '--days', 'soon']);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain('--days');
    const missing = cli(['positions', '--db', join(dir.path, 'nope.db')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toContain('no journal at');
    expect(cli(['frobnicate']).status).toBe(2);
  });

  it('DATABASE_PATH in the environment finds the journal', async () => {
    const settings = await resolveSettings({ env: { CONFIG_FILE: join(dir.path, 'absent.yaml'), DATABASE_PATH: seeded.path, PORT: '9123' }, warn: () => undefined });
    expect(settings).toMatchObject({ databasePath: seeded.path, url: 'http://127.0.0.1:9123' });
  });
});

describe('acting commands against the admin API', () => {
  const TOKEN = 'cli-admin-token-8d2e';
  let h: Harness;
  let server: Server;
  let settings: CliSettings;
  let n = 0;

  beforeAll(async () => {
    h = await createHarness();
    const router = createAdminRouter({ ctx: h.ctx, db: h.db, adminToken: TOKEN, reconcile: async () => ({ ran: true as const, reports: [] }), backup: async () => ({ file: 'x' }) });
    const app = createApp({ version: 'test', startedAt: new Date(), now: () => new Date(), readiness: [], routers: [{ path: '/api', router }] });
    server = await new Promise((resolve) => { const s = createServer(app); s.listen(0, '127.0.0.1', () => resolve(s)); });
    settings = { databasePath: ':memory:', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, adminToken: TOKEN };
  });
  afterAll(async () => {
    await new Promise((r) => { server.close(() => r(undefined)); });
    await h.close();
  });

  const open = async (ticker: string, price: string) => {
    expect(await h.executor.execute(h.job({ ticker, action: 'buy', price, id: `cli-${++n}` }))).toEqual({ status: 'executed' });
  };

  it('halt and resume: 0 and a sentence; the halt is in the journal', async () => {
    const io = capture();
    expect(await runHalt({ settings, reason: 'earnings' }, io)).toBe(0);
    expect(io.lines[0]).toMatch(/^Entries halted at paper \(earnings\)/);
    expect(h.ctx.accountState.get('paper')?.haltedReason).toBe('earnings');
    expect(await runResume({ settings }, io)).toBe(0);
    expect(io.lines[1]).toBe('Entries resumed at paper.');
    expect(h.ctx.accountState.get('paper')?.halted).toBe(false);
  });

  it('close SYMBOL: 0 when closed; 1 with the daemon\'s reason when there is nothing to close; --json prints the answer', async () => {
    await open('AAPL', '100');
    const io = capture();
    expect(await runClose({ settings, symbol: 'AAPL' }, io)).toBe(0);
    expect(io.lines[0]).toBe('closed AAPL (long 10 at paper) at 100: P&L 0');
    const again = capture();
    expect(await runClose({ settings, symbol: 'AAPL' }, again)).toBe(1);
    expect(again.errors[0]).toBe('tradewire: no open position in AAPL (no_position)');
    const json = capture();
    expect(await runClose({ settings, symbol: 'AAPL', json: true }, json)).toBe(1);
    expect(JSON.parse(json.lines.join('\n'))).toMatchObject({ error: 'no_position' });
  });

  it('flatten: a table of what was closed', async () => {
    await open('MSFT', '200');
    await open('TSLA', '250');
    const io = capture();
    expect(await runFlatten({ settings }, io)).toBe(0);
    expect(io.lines[0]).toMatch(/^ACCOUNT\s+SYMBOL\s+SIDE\s+QTY\s+OUTCOME\s+EXIT\s+P&L\s+NOTE$/);
    expect(io.lines.slice(2).map((l) => l.split(/\s+/).slice(0, 5).join(' ')).sort()).toEqual(['paper MSFT long 10 closed', 'paper TSLA long 10 closed']);
    expect(h.ctx.positions.listOpen()).toEqual([]);
  });

  it('a wrong token is refused (1) with a hint; no token at all is 1 before any request', async () => {
    const io = capture();
    expect(await runHalt({ settings: { ...settings, adminToken: 'nope' } }, io)).toBe(1);
    expect(io.errors[0]).toContain('refused the admin token (401)');
    expect(h.ctx.accountState.get('paper')?.halted).toBe(false);
    const none = capture();
    expect(await runHalt({ settings: { ...settings, adminToken: undefined } }, none)).toBe(1);
    expect(none.errors[0]).toContain('set ADMIN_TOKEN');
  });

  it('a daemon that is not there: exit 3 and one line, in process and as a process', async () => {
    // A port that was free a moment ago (fetch refuses some low ports outright).
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => { probe.close(() => r(undefined)); });
    const io = capture();
    expect(await runFlatten({ settings: { ...settings, url: `http://127.0.0.1:${port}` } }, io)).toBe(3);
    expect(io.errors).toHaveLength(1);
    expect(io.errors[0]).toBe(`tradewire: the daemon is not reachable at http://127.0.0.1:${port} (ECONNREFUSED): is it running? Start it with \`tradewire start\`, or set TRADEWIRE_URL.`);
    const run = cli(['halt', '--url', `http://127.0.0.1:${port}`], { ADMIN_TOKEN: TOKEN });
    expect(run.status).toBe(3);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('signal', () => {
  let server: Server;
  let url: string;
  const received: Array<{ path: string; body: string }> = [];
  let answer: { status: number; body: unknown } = { status: 202, body: { signalId: '01TEST', status: 'queued' } };

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => { body += chunk.toString('utf8'); });
      req.on('end', () => {
        received.push({ path: req.url ?? '', body });
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => { await new Promise((r) => { server.close(() => r(undefined)); }); });

  it('posts the alert to /webhook with the passphrase added and its numbers untouched', async () => {
    const io = capture();
    const code = await runSignal({ settings: { databasePath: 'x', url, passphrase: 'pp-123456789012' }, alert: '{"ticker":"BTCUSDT","action":"buy","price":0.12345678901234567891}' }, io);
    expect(code).toBe(0);
    expect(io.lines).toEqual(['queued: signal 01TEST']);
    expect(received.at(-1)?.path).toBe('/webhook');
    expect(received.at(-1)?.body).toContain('"price":0.12345678901234567891');
    expect(JSON.parse(received.at(-1)?.body ?? '{}')).toMatchObject({ passphrase: 'pp-123456789012', ticker: 'BTCUSDT' });
  });

  it('--strategy posts to /webhook/<strategy>; a refusal is exit 1 with the daemon\'s answer', async () => {
    answer = { status: 400, body: { error: 'invalid_signal', issues: [{ path: 'action', message: 'required' }] } };
    const io = capture();
    expect(await runSignal({ settings: { databasePath: 'x', url, passphrase: 'pp-123456789012' }, alert: '{"ticker":"X"}', strategy: 'crypto' }, io)).toBe(1);
    expect(received.at(-1)?.path).toBe('/webhook/crypto');
    expect(io.errors[0]).toContain('refused the alert (400)');
    expect(io.errors[0]).toContain('invalid_signal');
  });

  it('invalid JSON is a usage error (2), as a process too', async () => {
    const io = capture();
    expect(await runSignal({ settings: { databasePath: 'x', url }, alert: '{ticker: X}' }, io)).toBe(2);
    expect(await runSignal({ settings: { databasePath: 'x', url }, alert: '[1]' }, io)).toBe(2);
    expect(cli(['signal', 'not json', '--url', url]).status).toBe(2);
  });
});
