// Every error answer is JSON without a stack trace or a file path, whatever NODE_ENV says: the app's final handler,
// body-reading errors, and errors thrown in a route.
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/http/app.ts';

const INTERNALS = /node_modules|\/src\/|\/work\/|\/home\/|at [\w.<>]+ \(|<html|<pre/i;

describe('error answers with NODE_ENV=development', () => {
  let server: Server;
  let url: string;
  const saved = process.env.NODE_ENV;

  beforeAll(async () => {
    // express picks its error page (a stack trace outside production) from NODE_ENV when the app is made.
    process.env.NODE_ENV = 'development';
    const router = express.Router();
    router.get('/sync', () => { throw new Error(`boom in ${import.meta.filename}`); });
    router.get('/async', async () => { await Promise.resolve(); throw new Error(`async boom in ${import.meta.filename}`); });
    router.post('/small', express.json({ limit: '1kb' }), (_req, res) => { res.json({ ok: true }); });
    router.post('/teapot', () => { throw Object.assign(new Error(`refused at ${import.meta.filename}`), { status: 418, expose: true }); });
    const readiness = [{ name: 'database', check: async () => { throw new Error("unable to open database file '/var/lib/tradewire/trading.db'"); } }];
    const app = createApp({ version: 'test', startedAt: new Date(), now: () => new Date(), readiness, routers: [{ path: '/x', router }] });
    server = await new Promise((resolve) => { const s = createServer(app); s.listen(0, '127.0.0.1', () => resolve(s)); });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`;
  });
  afterAll(async () => {
    process.env.NODE_ENV = saved;
    await new Promise((resolve) => { server.close(resolve); });
  });

  const read = async (response: Response) => ({ status: response.status, type: response.headers.get('content-type'), text: await response.text() });

  it('a route that throws answers 500 JSON, no trace, no path', async () => {
    for (const path of ['/sync', '/async']) {
      const answer = await read(await fetch(`${url}${path}`));
      expect(answer.status).toBe(500);
      expect(answer.type).toMatch(/^application\/json/);
      expect(JSON.parse(answer.text)).toEqual({ error: 'internal' });
    }
  });

  it('/ready names the failing check without the path in its error', async () => {
    const answer = await read(await fetch(url.replace(/\/x$/, '/ready')));
    expect(answer.status).toBe(503);
    expect(JSON.parse(answer.text)).toMatchObject({ checks: [{ name: 'database', ok: false, error: "unable to open database file '<path>'" }] });
  });

  it('a body-reading error keeps its 4xx status and answers JSON', async () => {
    const tooLarge = await read(await fetch(`${url}/small`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ a: 'x'.repeat(5000) }) }));
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.type).toMatch(/^application\/json/);
    expect(tooLarge.text).not.toMatch(INTERNALS);
    const broken = await read(await fetch(`${url}/small`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":' }));
    expect(broken.status).toBe(400);
    expect(broken.type).toMatch(/^application\/json/);
    expect(broken.text).not.toMatch(INTERNALS);
  });

  it('a 4xx error from a route keeps its status, and its message loses the path', async () => {
    const answer = await read(await fetch(`${url}/teapot`, { method: 'POST' }));
    expect(answer.status).toBe(418);
    expect(answer.type).toMatch(/^application\/json/);
    expect(answer.text).not.toMatch(INTERNALS);
  });
});

describe('where the daemon runs in production', () => {
  const root = new URL('../../', import.meta.url);
  it('npm start, docker compose and PM2 set NODE_ENV=production', async () => {
    const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toMatch(/^NODE_ENV=production exec node /);
    expect(readFileSync(new URL('docker-compose.yml', root), 'utf8')).toMatch(/\n\s+NODE_ENV: production\n/);
    const { apps } = await import(new URL('ecosystem.config.js', root).href) as { apps: Array<{ env: Record<string, string> }> };
    expect(apps[0]?.env.NODE_ENV).toBe('production');
  });
});

describe('security headers', () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    const router = express.Router();
    router.post('/', (_req, res) => { res.status(202).json({ status: 'queued' }); });
    const app = createApp({ version: 'test', startedAt: new Date(), now: () => new Date(), readiness: [], routers: [{ path: '/webhook', router }] });
    server = await new Promise((resolve) => { const s = createServer(app); s.listen(0, '127.0.0.1', () => resolve(s)); });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => { await new Promise((resolve) => { server.close(resolve); }); });

  it('every answer (health, webhook, not found, error) carries helmet\'s headers and may not be framed', async () => {
    for (const [path, method] of [['/health', 'GET'], ['/webhook', 'POST'], ['/nowhere', 'GET']] as const) {
      const response = await fetch(`${url}${path}`, { method });
      const h = response.headers;
      expect([path, h.get('x-content-type-options')]).toEqual([path, 'nosniff']);
      expect(h.get('x-frame-options')).toBe('DENY');
      expect(h.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(h.get('content-security-policy')).toContain("default-src 'none'");
      expect(h.get('referrer-policy')).toBe('no-referrer');
      expect(h.get('cross-origin-opener-policy')).toBe('same-origin');
      expect(h.get('x-powered-by')).toBeNull();
    }
  });
});
