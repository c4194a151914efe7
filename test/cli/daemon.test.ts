// The CLI against a real running daemon: signal, positions, close, halt, resume, reconcile and backup, in process and as the bin.
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup, runClose, runHalt, runReconcile, runResume, runSignal } from '../../src/cli/act-commands.ts';
import type { Output } from '../../src/cli/output.ts';
import { runPositions, runTrades } from '../../src/cli/read-commands.ts';
import type { CliSettings } from '../../src/cli/settings.ts';
import { startDaemon, type Daemon } from '../../src/main.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { dropRedisPrefix, REDIS_URL, tempDir, uniquePrefix } from '../helpers/env.ts';

const TOKEN = 'cli-daemon-token-5b2e9a';
const PASSPHRASE = 'cli-daemon-passphrase-8c';
const silent = createLogger({ level: 'silent', destination: { write: () => undefined } });

function capture(): Output & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, out: (l) => lines.push(l), err: (l) => errors.push(l) };
}

/** Runs the bin without blocking: the daemon it talks to lives in this very process and must keep answering. */
function bin(args: string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['scripts/tradewire.js', ...args], {
      env: { ...process.env, CONFIG_FILE: 'config/tradewire.yaml', ADMIN_TOKEN: '', WEBHOOK_PASSPHRASE: '', TRADEWIRE_URL: '', ...env }, encoding: 'utf8', timeout: 20_000,
    }, (error, stdout, stderr) => { resolve({ status: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }); });
  });
}

describe('the CLI against a running daemon', () => {
  const dir = tempDir('tw-cli-daemon');
  const prefix = uniquePrefix('cli-daemon');
  let daemon: Daemon;
  let settings: CliSettings;

  beforeAll(async () => {
    const file = join(dir.path, 'tradewire.yaml');
    writeFileSync(file, [
      `backup: { dir: '${join(dir.path, 'backups')}', keep: 2 }`,
      'accounts:',
      '  paper: { broker: paper, slippagePercent: 0 }',
      'strategies:',
      '  default:',
      '    subscriptions: [{ account: paper }]',
      '    sizing: { mode: fixed_quantity, value: 4 }',
      '',
    ].join('\n'));
    const databasePath = join(dir.path, 'trading.db');
    daemon = await startDaemon({ CONFIG_FILE: file, PORT: '0', HOST: '127.0.0.1', REDIS_URL, REDIS_PREFIX: prefix, DATABASE_PATH: databasePath,
      WEBHOOK_PASSPHRASE: PASSPHRASE, ADMIN_TOKEN: TOKEN }, silent);
    settings = { databasePath, url: daemon.url, adminToken: TOKEN, passphrase: PASSPHRASE };
  });

  afterAll(async () => {
    await daemon?.stop();
    await dropRedisPrefix(prefix);
    dir.cleanup();
  });

  it('signal sends an alert that the daemon executes; positions then shows it; close SYMBOL closes it by hand', async () => {
    const sent = capture();
    expect(await runSignal({ settings, alert: '{"ticker":"NASDAQ:MSFT","action":"buy","sentiment":"long","price":"410.25","id":"cli-1"}' }, sent)).toBe(0);
    expect(sent.lines[0]).toMatch(/^queued: signal [0-9A-Z]{26}$/);

    let open: Array<Record<string, unknown>> = [];
    const deadline = Date.now() + 8_000;
    while (open.length === 0 && Date.now() < deadline) {
      const read = capture();
      expect(runPositions({ databasePath: settings.databasePath, json: true }, read)).toBe(0);
      open = (JSON.parse(read.lines.join('\n')) as { positions: Array<Record<string, unknown>> }).positions.filter((p) => p.status === 'open');
      if (open.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(open).toEqual([expect.objectContaining({ symbol: 'MSFT', side: 'long', quantity: '4', averageEntryPrice: '410.25' })]);

    const closed = capture();
    expect(await runClose({ settings, symbol: 'MSFT' }, closed)).toBe(0);
    expect(closed.lines).toEqual(['closed MSFT (long 4 at paper) at 410.25: P&L 0']);
    const trades = capture();
    expect(runTrades({ databasePath: settings.databasePath, json: true }, trades)).toBe(0);
    expect((JSON.parse(trades.lines.join('\n')) as { trades: unknown[] }).trades).toEqual([expect.objectContaining({ symbol: 'MSFT', exitReason: 'manual' })]);

    const nothing = capture();
    expect(await runClose({ settings, symbol: 'MSFT' }, nothing)).toBe(1);
    expect(nothing.errors).toEqual(['tradewire: no open position in MSFT (no_position)']);
  });

  it('halt and resume: exit 0 and a sentence naming the accounts', async () => {
    const io = capture();
    expect(await runHalt({ settings, reason: 'cli test' }, io)).toBe(0);
    expect(io.lines[0]).toMatch(/^Entries halted at paper \(cli test\)/);
    expect(await runResume({ settings }, io)).toBe(0);
    expect(io.lines[1]).toBe('Entries resumed at paper.');
  });

  it('reconcile prints one line per account; backup writes a copy of the journal', async () => {
    const io = capture();
    expect(await runReconcile({ settings }, io)).toBe(0);
    expect(io.lines).toEqual(['paper: the journal agrees with the broker.']);
    const backup = capture();
    expect(await runBackup({ settings }, backup)).toBe(0);
    const file = /^Backup written to (.+)$/.exec(backup.lines[0] ?? '')?.[1];
    expect(file).toMatch(new RegExp(`^${dir.path}/backups/trading-\\d{4}-\\d\\d-\\d\\d\\.db$`));
    expect(existsSync(file as string)).toBe(true);
  });

  it('as the bin: reconcile --json exits 0; a wrong token exits 1; --help documents the exit codes', async () => {
    const ok = await bin(['reconcile', '--json'], { TRADEWIRE_URL: daemon.url, ADMIN_TOKEN: TOKEN });
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, reports: [{ account: 'paper', differences: [] }] });
    const refused = await bin(['halt'], { TRADEWIRE_URL: daemon.url, ADMIN_TOKEN: 'not-the-token' });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('refused the admin token (401)');
    expect(refused.stderr).not.toContain(TOKEN);
    const help = await bin(['--help'], {});
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/Exit codes:\n\s+0\s+done\n\s+1\s+refused or failed/);
    expect(help.stdout).toMatch(/\n\s+3\s+the daemon is not reachable/);
    expect((await bin(['start', '--role', 'everything'], {})).status).toBe(2);
  });
});
