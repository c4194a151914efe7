import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startDaemon } from '../../src/main.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { dropRedisPrefix, REDIS_URL, tempDir, uniquePrefix } from '../helpers/env.ts';

const silent = createLogger({ level: 'silent', destination: { write: () => undefined } });
const ACCOUNTS = 'accounts:\n  paper:\n    broker: paper\n';
const ONE = `${ACCOUNTS}strategies:\n  default:\n    account: paper\n`;
const TWO = `${ONE}  swing:\n    account: paper\n    allowShorts: true\n`;

describe('config reload', () => {
  const dir = tempDir('tw-reload');
  const prefix = uniquePrefix('reload');
  afterAll(async () => {
    await dropRedisPrefix(prefix);
    dir.cleanup();
  });

  it('takes a new strategy without a restart, and keeps the running config when the new file is invalid', async () => {
    const file = join(dir.path, 'tradewire.yaml');
    writeFileSync(file, ONE);
    const daemon = await startDaemon({ CONFIG_FILE: file, PORT: '0', HOST: '127.0.0.1', REDIS_URL, REDIS_PREFIX: prefix,
      DATABASE_PATH: join(dir.path, 'trading.db'), WEBHOOK_PASSPHRASE: 'reload-secret-123' }, silent, 'api');
    const send = (strategy: string) => fetch(`${daemon.url}/webhook/${strategy}`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ passphrase: 'reload-secret-123', ticker: 'AAPL', action: 'cancel', id: `${strategy}-${Math.random()}` }) });
    try {
      expect((await send('swing')).status).toBe(404);

      writeFileSync(file, TWO);
      expect(await daemon.reload()).toEqual({ ok: true, restartNeeded: [] });
      expect((await send('swing')).status).toBe(202);

      writeFileSync(file, `${TWO}  broken: [\n`);
      const failed = await daemon.reload();
      expect(failed.ok).toBe(false);
      expect(failed.ok ? '' : failed.error).toContain(file);
      expect((await send('swing')).status).toBe(202);

      writeFileSync(file, TWO.replace('broker: paper', 'broker: paper\n    startingCash: 5000'));
      expect(await daemon.reload()).toEqual({ ok: true, restartNeeded: ['accounts'] });
    } finally {
      await daemon.stop();
    }
  });

  it('with the position loop running (role all), a reload plans the jobs again: a new intraday strategy gets its session end', async () => {
    const file = join(dir.path, 'all.yaml');
    writeFileSync(file, ONE);
    const events: Array<Record<string, unknown>> = [];
    const logger = createLogger({ level: 'info', destination: { write: (line: string) => { events.push(JSON.parse(line) as Record<string, unknown>); } } });
    const daemon = await startDaemon({ CONFIG_FILE: file, PORT: '0', HOST: '127.0.0.1', REDIS_URL, REDIS_PREFIX: prefix,
      DATABASE_PATH: join(dir.path, 'all.db'), WEBHOOK_PASSPHRASE: 'reload-secret-123' }, logger, 'all');
    const scheduled = () => events.filter((e) => e.event === 'job.scheduled').map((e) => `${String(e.job)} ${String(e.cron)} ${String(e.timeZone)}`);
    try {
      expect(scheduled()).not.toContainEqual(expect.stringMatching(/^session-end:default/));
      writeFileSync(file, `${ONE}    intraday: { enabled: true, sessionEnd: '15:55', timeZone: America/New_York }\n`);
      expect(await daemon.reload()).toEqual({ ok: true, restartNeeded: [] });
      expect(scheduled()).toContain('session-end:default 55 15 * * * America/New_York');
    } finally {
      await daemon.stop();
    }
  });
});
