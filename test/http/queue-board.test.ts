// Bull Board at /admin/queues over real HTTP and real Redis: behind the admin token, every lane and the intake queue,
// read-only unless the config allows retries, and then only of failed jobs, by bearer token and JSON.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/http/app.ts';
import { createQueueBoard, QUEUE_BOARD_PATH, type QueueBoard } from '../../src/http/queue-board.ts';
import { dropRedisPrefix, REDIS_URL, uniquePrefix, until } from '../helpers/env.ts';

const TOKEN = 'queue-board-admin-token-4d1b';
const bearer = { authorization: `Bearer ${TOKEN}` };
const basic = { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` };
const json = { 'content-type': 'application/json' };

describe('/admin/queues', () => {
  const prefix = uniquePrefix('board');
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: true });
  const servers: Server[] = [];
  const boards: QueueBoard[] = [];
  let readOnly: string;
  let retries: string;
  let failedIds: string[];
  let completedId: string;

  const serve = async (allowRetries: boolean): Promise<string> => {
    const board = createQueueBoard({ redis, prefix, laneCount: 2, adminToken: TOKEN, allowRetries });
    boards.push(board);
    const app = createApp({ version: 'test', startedAt: new Date(), now: () => new Date(), readiness: [],
      routers: [{ path: QUEUE_BOARD_PATH, router: board.router }] });
    const server = await new Promise<Server>((resolve) => { const s = createServer(app); s.listen(0, '127.0.0.1', () => resolve(s)); });
    servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}${QUEUE_BOARD_PATH}`;
  };
  const stateOf = async (id: string) => {
    const queue = new Queue('exec-0', { connection: redis, prefix });
    try {
      return await queue.getJobState(id);
    } finally {
      await queue.close();
    }
  };

  beforeAll(async () => {
    await redis.connect();
    // Two failed jobs and a completed one in lane 0, as an execution worker leaves them.
    const queue = new Queue('exec-0', { connection: redis, prefix });
    const jobs = await Promise.all(['fail-a', 'fail-b', 'done'].map((name) => queue.add(name, { signalId: name }, { jobId: `job-${name}` })));
    await queue.close();
    const worker = new Worker('exec-0', async (job) => {
      if (job.name.startsWith('fail')) throw new UnrecoverableError('broker said no');
      return { status: 'executed' };
    }, { connection: { url: REDIS_URL, maxRetriesPerRequest: null }, prefix });
    await until('the jobs settled', async () => {
      const states = await Promise.all(jobs.map((job) => stateOf(job.id!)));
      return states.every((s) => s === 'failed' || s === 'completed') ? states : undefined;
    });
    await worker.close();
    failedIds = ['job-fail-a', 'job-fail-b'];
    completedId = 'job-done';
    readOnly = await serve(false);
    retries = await serve(true);
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => { s.close(() => resolve()); })));
    await Promise.all(boards.map((b) => b.close()));
    await redis.quit();
    await dropRedisPrefix(prefix);
  });

  it('is 401 without the token (a Basic challenge, so a browser asks), and with a wrong one', async () => {
    const none = await fetch(readOnly);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic realm="tradewire"/);
    expect((await fetch(`${readOnly}/api/queues`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
  });

  it('is 200 with the token, as a bearer token or a browser\'s Basic credentials, and its page loads its own assets', async () => {
    expect((await fetch(readOnly, { headers: bearer })).status).toBe(200);
    const page = await fetch(readOnly, { headers: basic });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    const html = await page.text();
    const script = /src="(static\/js\/[^"]+)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    expect((await fetch(`${readOnly}/${script}`, { headers: basic })).status).toBe(200);
  });

  it('shows every lane and the intake queue, read-only', async () => {
    const response = await fetch(`${readOnly}/api/queues?activeQueue=exec-0&status=failed`, { headers: bearer });
    expect(response.status).toBe(200);
    const body = await response.json() as { queues: Array<{ name: string; readOnlyMode: boolean; counts: Record<string, number> }> };
    expect(body.queues.map((q) => q.name).sort()).toEqual(['exec-0', 'exec-1']);
    expect(body.queues.every((q) => q.readOnlyMode)).toBe(true);
    expect(body.queues.find((q) => q.name === 'exec-0')?.counts.failed).toBe(2);
  });

  it('read-only: a retry is refused, saying how to allow it, and the job stays failed', async () => {
    const all = await fetch(`${readOnly}/api/queues/exec-0/retry/failed`, { method: 'PUT', headers: { ...bearer, ...json }, body: '{}' });
    expect(all.status).toBe(403);
    expect(await all.json()).toMatchObject({ error: 'read_only', message: expect.stringContaining('server.queueBoard.allowRetries') });
    const one = await fetch(`${readOnly}/api/queues/exec-0/${failedIds[0]}/retry`, { method: 'PUT', headers: { ...bearer, ...json }, body: '{}' });
    expect(one.status).toBe(403);
    expect(await stateOf(failedIds[0]!)).toBe('failed');
  });

  it('with retries allowed: a failed job is retried by bearer token and JSON, never by a browser\'s Basic credentials', async () => {
    const byBrowser = await fetch(`${retries}/api/queues/exec-0/${failedIds[0]}/retry`, { method: 'PUT', headers: { ...basic, ...json }, body: '{}' });
    expect(byBrowser.status).toBe(401);
    expect(await byBrowser.json()).toMatchObject({ error: 'bearer_required' });
    const foreign = await fetch(`${retries}/api/queues/exec-0/${failedIds[0]}/retry`, { method: 'PUT', headers: { ...bearer, ...json, origin: 'https://evil.example' }, body: '{}' });
    expect(foreign.status).toBe(403);
    expect(await stateOf(failedIds[0]!)).toBe('failed');

    const retried = await fetch(`${retries}/api/queues/exec-0/${failedIds[0]}/retry`, { method: 'PUT', headers: { ...bearer, ...json }, body: '{}' });
    expect(retried.status).toBe(204);
    expect(await stateOf(failedIds[0]!)).toBe('waiting');
  });

  it('with retries allowed: a completed job is never run again, and no other action passes', async () => {
    const completed = await fetch(`${retries}/api/queues/exec-0/${completedId}/retry`, { method: 'PUT', headers: { ...bearer, ...json }, body: '{}' });
    expect(completed.status).toBe(403);
    expect(await completed.json()).toMatchObject({ error: 'read_only', message: expect.stringContaining('completed') });
    expect(await stateOf(completedId)).toBe('completed');
    for (const path of ['/api/queues/exec-0/clean/failed', '/api/queues/exec-0/pause', '/api/queues/exec-0/retry/completed', '/api/queues/exec-0/empty']) {
      const response = await fetch(`${retries}${path}`, { method: 'PUT', headers: { ...bearer, ...json }, body: '{}' });
      expect(response.status, path).toBe(403);
    }
    expect(await stateOf(failedIds[1]!)).toBe('failed');
    const all = await fetch(`${retries}/api/queues/exec-0/retry/failed`, { method: 'PUT', headers: { ...bearer, ...json }, body: '{}' });
    expect(all.status).toBe(200);
    expect(await stateOf(failedIds[1]!)).toBe('waiting');
  });
});
