// The test-wide guard that keeps every test's connections on loopback: which hosts pass, and that it is installed.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/env.ts';
import { connectTarget, isLoopbackHost } from '../helpers/loopback-guard.mjs';

describe('the loopback guard of the test suite', () => {
  it('lets loopback addresses and localhost through and nothing else', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ['paper-api.alpaca.markets', 'fstream.binance.com', '10.0.0.1', '192.168.1.1', '0.0.0.0', '128.0.0.1', '127.0.0.1.example']) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
  });

  it('reads the host of every connect() form', () => {
    expect(connectTarget([{ host: 'api.example', port: 443 }])).toBe('api.example');
    expect(connectTarget([[{ host: 'api.example', port: 443 }, () => undefined]])).toBe('api.example');
    expect(connectTarget([{ port: 6379 }])).toBe('localhost');
    expect(connectTarget([6379, 'api.example'])).toBe('api.example');
    expect(connectTarget([6379])).toBe('localhost');
    expect(connectTarget(['/tmp/redis.sock'])).toBeUndefined();
    expect(connectTarget([{ path: '/tmp/redis.sock' }])).toBeUndefined();
  });

  it('is preloaded into the child processes and the (file) worker threads the tests start', async () => {
    const dir = tempDir('tw-guard');
    try {
      // What the daemon does: a child process whose execution runs on a worker thread loaded from a file.
      const probe = join(dir.path, 'probe.mjs');
      writeFileSync(probe, [
        "import net from 'node:net';",
        "import { Worker, isMainThread } from 'node:worker_threads';",
        'console.log(net.Socket.prototype.connect.name);',
        'if (isMainThread) new Worker(new URL(import.meta.url));',
      ].join('\n'));
      const child = spawnSync(process.execPath, [probe], { env: process.env, encoding: 'utf8' });
      expect(child.stdout.trim().split('\n')).toEqual(['guardedConnect', 'guardedConnect']);
    } finally {
      dir.cleanup();
    }
  });

  it('is installed for every test file (vitest.config.ts): a connection to another host fails before its name is looked up', async () => {
    expect(net.Socket.prototype.connect.name).toBe('guardedConnect');
    // The lookup is ours and never resolves anything: were the guard missing, this would fail with its error, not reach out.
    const lookup = (() => { throw new Error('the name was looked up'); }) as unknown as net.LookupFunction;
    const error = await new Promise<Error>((resolve) => {
      const socket = net.connect({ host: 'venue.example.invalid', port: 443, lookup });
      socket.once('error', resolve);
    });
    expect(error.message).toMatch(/^test guard: connection to venue\.example\.invalid refused/);
  });
});
