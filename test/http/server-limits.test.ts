// The daemon's HTTP server cuts off slow requests and caps its connections (server.requestTimeoutMs, headersTimeoutMs,
// maxConnections): a few slow clients cannot hold the webhook open.
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAIN_CONFIG, startWebhookDaemon, type TestDaemon } from '../helpers/webhook.ts';

/** Opens a raw connection to the daemon; resolves once connected. */
function open(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Resolves with the time (ms from now) at which the server closes the socket, and what it said first. */
function closed(socket: Socket): Promise<{ ms: number; said: string }> {
  const started = performance.now();
  let said = '';
  socket.on('data', (chunk: Buffer) => { said += chunk.toString('latin1'); });
  socket.on('error', () => undefined);
  return new Promise((resolve) => { socket.once('close', () => resolve({ ms: performance.now() - started, said })); });
}

describe('server limits', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startWebhookDaemon({
      label: 'srv-limits',
      config: MAIN_CONFIG.replace('webhook:\n', 'server:\n  requestTimeoutMs: 1500\n  headersTimeoutMs: 1000\n  maxConnections: 3\nwebhook:\n'),
    });
  });
  afterAll(async () => { await d?.stop(); });

  it('a body trickled a byte at a time is cut off at the request timeout (408), not left open', async () => {
    const socket = await open(d.url);
    const end = closed(socket);
    socket.write('POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{');
    const drip = setInterval(() => { if (!socket.destroyed) socket.write(' '); }, 100);
    try {
      const { ms, said } = await end;
      expect(ms).toBeLessThan(4000);
      expect(said).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      clearInterval(drip);
    }
  });

  it('headers never finished are cut off at the headers timeout', async () => {
    const socket = await open(d.url);
    const end = closed(socket);
    socket.write('POST /webhook HTTP/1.1\r\nHost: x\r\n');
    const drip = setInterval(() => { if (!socket.destroyed) socket.write('X-A: b\r\n'); }, 100);
    try {
      expect((await end).ms).toBeLessThan(3500);
    } finally {
      clearInterval(drip);
    }
  });

  it('past maxConnections a new connection is closed at once, and served again once others leave', async () => {
    const held = await Promise.all([open(d.url), open(d.url), open(d.url)]);
    const extra = await open(d.url);
    const { ms } = await closed(extra);
    expect(ms).toBeLessThan(1000);
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await fetch(`${d.url}/health`)).status).toBe(200);
  });
});
