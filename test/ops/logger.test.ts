import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { censorSecrets, createLogger, isSecretKey } from '../../src/ops/logger.ts';

function capture() {
  const lines: string[] = [];
  return { lines, destination: { write: (line: string) => { lines.push(line); } } };
}

describe('logger redaction', () => {
  it('never writes a passphrase, token or broker secret, wherever it sits in the logged object', () => {
    const out = capture();
    const logger = createLogger({ level: 'info', destination: out.destination });
    logger.info({ passphrase: 'pw-top-SECRET1', body: { passphrase: 'pw-body-SECRET2', ticker: 'AAPL' }, account: { apiSecret: 'SECRET3', apiKey: 'SECRET4' },
      req: { headers: { authorization: 'Bearer SECRET5', 'x-tradewire-signature': 'sha256=SECRET6' } }, adminToken: 'SECRET7' }, 'event');
    const text = out.lines.join('');
    for (const secret of ['SECRET1', 'SECRET2', 'SECRET3', 'SECRET4', 'SECRET5', 'SECRET6', 'SECRET7']) expect(text).not.toContain(secret);
    expect(text).toContain('"ticker":"AAPL"');
    expect(text).toContain('[redacted]');
  });

  it('censors secret-named fields at any depth, in arrays and errors, and in a child logger\'s bindings, leaving the caller\'s objects as they were', () => {
    const out = capture();
    const logger = createLogger({ level: 'info', destination: out.destination });
    const failure = Object.assign(new TypeError('venue said no'), { request: { headers: { 'APCA-API-SECRET-KEY': 'SECRET1' } } });
    const logged = {
      event: 'deep', a: { b: { c: { d: { webhookPassphrase: 'SECRET2' } } } }, legs: [{ side: 'sell', apiKey: 'SECRET3' }], err: failure,
      account: { name: 'paper', keyId: 'SECRET4', refreshToken: 'SECRET5' }, signalId: 'kept-1', symbol: 'AAPL',
    };
    logger.child({ adminToken: 'SECRET6', role: 'api' }).warn(logged, 'with secrets');
    const text = out.lines.join('');
    for (const secret of ['SECRET1', 'SECRET2', 'SECRET3', 'SECRET4', 'SECRET5', 'SECRET6']) expect(text).not.toContain(secret);
    const line = JSON.parse(text) as Record<string, unknown>;
    expect(line).toMatchObject({ role: 'api', signalId: 'kept-1', symbol: 'AAPL', legs: [{ side: 'sell', apiKey: '[redacted]' }], account: { name: 'paper' } });
    expect(line.err).toMatchObject({ type: 'TypeError', message: 'venue said no' });
    // The caller's objects are untouched (the censor copies what it changes).
    expect(logged.a.b.c.d.webhookPassphrase).toBe('SECRET2');
    expect(failure.request.headers['APCA-API-SECRET-KEY']).toBe('SECRET1');
    expect(logged.legs[0]?.apiKey).toBe('SECRET3');
  });

  it('returns an object without secrets as it is (no copy), and knows a secret name however it is written', () => {
    const clean = { event: 'signal.queued', accounts: ['paper'], nested: { price: '1.5' } };
    expect(censorSecrets(clean)).toBe(clean);
    for (const name of ['passphrase', 'Passphrase', 'x-tradewire-signature', 'X-MBX-APIKEY', 'api_secret', 'ADMIN_TOKEN', 'apcaApiKeyId']) expect(isSecretKey(name), name).toBe(true);
    for (const name of ['signalId', 'strategy', 'ticker', 'accounts', 'quantity', 'event']) expect(isSecretKey(name), name).toBe(false);
  });
});

describe('logger output when the process ends', () => {
  const FIXTURE = 'test/fixtures/log-then-end.ts';
  const run = (end: string, lines = 50) => spawnSync(process.execPath, ['--import', 'tsx', FIXTURE], {
    env: { ...process.env, END: end, LINES: String(lines), NODE_ENV: 'production' }, encoding: 'utf8', timeout: 15_000,
  });
  const numbered = (stdout: string) => stdout.split('\n').filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { event: string; n?: number }).filter((l) => l.event === 'test.line').map((l) => l.n);
  const all = (count: number) => Array.from({ length: count }, (_, n) => n);

  it('writes every line logged just before process.exit, in order', () => {
    const result = run('exit', 200);
    expect(result.status).toBe(0);
    expect(numbered(result.stdout)).toEqual(all(200));
    expect(result.stdout).not.toContain('SECRET-never-written');
  });

  it('writes every line logged just before a SIGTERM nobody handles, and still dies of the signal', () => {
    const result = run('sigterm');
    expect(result.signal).toBe('SIGTERM');
    expect(numbered(result.stdout)).toEqual(all(50));
  });

  it('writes every line logged just before a SIGINT nobody handles, and still dies of the signal', () => {
    const result = run('sigint');
    expect(result.signal).toBe('SIGINT');
    expect(numbered(result.stdout)).toEqual(all(50));
  });

  it('leaves a SIGTERM handler in charge: the lines before it and the handler\'s own line are written, the exit is the handler\'s', () => {
    const result = run('sigterm-stop');
    expect(result.status).toBe(0);
    expect(numbered(result.stdout)).toEqual(all(50));
    expect(result.stdout).toContain('"event":"daemon.stopping"');
  });

  it('writes every line logged just before an uncaught exception, which still crashes the process', () => {
    const result = run('crash');
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('crashed on purpose');
    // Complete; the order is not promised at a crash (a write already under way may land after the rest).
    expect(numbered(result.stdout).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(all(50));
  });
});
