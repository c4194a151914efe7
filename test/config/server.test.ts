// The `server` section: which proxies are trusted for the client address (never `true`), and the connection limits.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { tempDir } from '../helpers/env.ts';

const dir = tempDir('tw-server-config');
afterAll(() => dir.cleanup());

let n = 0;
async function load(server: string) {
  const file = join(dir.path, `c${++n}.yaml`);
  writeFileSync(file, `server:\n${server}\naccounts:\n  paper: { broker: paper }\nstrategies:\n  default: { account: paper }\n`);
  return loadConfig({ file, env: {} });
}

describe('server.trustProxy', () => {
  it('defaults to loopback only: a proxy on the same host', async () => {
    expect((await load('  port: 8080')).server.trustProxy).toBe('loopback');
  });

  it('takes a hop count, named addresses or CIDRs, or false', async () => {
    expect((await load('  trustProxy: 1')).server.trustProxy).toBe(1);
    expect((await load('  trustProxy: ["127.0.0.1", "10.0.0.0/8", loopback]')).server.trustProxy).toEqual(['127.0.0.1', '10.0.0.0/8', 'loopback']);
    expect((await load('  trustProxy: false')).server.trustProxy).toBe(false);
  });

  it('refuses true, saying what to write instead', async () => {
    const error = await load('  trustProxy: true').then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('server.trustProxy');
    expect(message).toContain('trustProxy: 1');
    expect(message).toContain('trustProxy: ["127.0.0.1"]');
  });

  it('refuses an address that is not one', async () => {
    await expect(load('  trustProxy: ["nginx.local"]')).rejects.toThrow(/server\.trustProxy/);
  });
});
