// The test-wide guard that keeps every test's connections on loopback: which hosts pass, and that it is installed.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { connectTarget, isLoopbackHost } from '../helpers/loopback-guard.ts';

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

  it('is installed for every test file (setup.ts): a connection to another host fails before its name is looked up', async () => {
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
