import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisLock } from '../../src/jobs/lock.ts';
import { REDIS_URL, uniquePrefix } from '../helpers/env.ts';

describe('the job lock in Redis', () => {
  const prefix = uniquePrefix('lock');
  let a: Redis;
  let b: Redis;
  beforeAll(() => { a = new Redis(REDIS_URL); b = new Redis(REDIS_URL); });
  afterAll(async () => {
    const keys = await a.keys(`${prefix}:*`);
    if (keys.length > 0) await a.del(...keys);
    a.disconnect();
    b.disconnect();
  });

  it('two processes starting the same job at once: exactly one runs it', async () => {
    // Two clients stand for two processes.
    const first = new RedisLock(a, prefix);
    const second = new RedisLock(b, prefix);
    let runs = 0;
    const job = async () => { runs++; await new Promise((r) => setTimeout(r, 100)); return 'done'; };
    const outcomes = await Promise.all([first.withLock('job:backup', 5000, job), second.withLock('job:backup', 5000, job)]);
    expect(runs).toBe(1);
    expect(outcomes.map((o) => o.ran).sort()).toEqual([false, true]);
    expect(outcomes.find((o) => o.ran)).toEqual({ ran: true, value: 'done' });
    // Released afterwards: the next run may go.
    expect(await a.exists(`${prefix}:lock:job:backup`)).toBe(0);
    expect((await second.withLock('job:backup', 5000, job)).ran).toBe(true);
  });

  it('only the holder releases or extends it, and an expired lock can be taken by another', async () => {
    const lock = new RedisLock(a, prefix);
    const mine = await lock.acquire('job:x', 200);
    expect(mine).toBeDefined();
    expect(await lock.acquire('job:x', 200)).toBeUndefined();
    expect(await lock.release({ key: mine!.key, token: 'someone-else' })).toBe(false);
    expect(await lock.extend({ key: mine!.key, token: 'someone-else' }, 10_000)).toBe(false);
    await new Promise((r) => setTimeout(r, 300));
    const theirs = await new RedisLock(b, prefix).acquire('job:x', 5000);
    expect(theirs).toBeDefined();
    // The first holder's late release must not free the new holder's lock.
    expect(await lock.release(mine!)).toBe(false);
    expect(await a.get(`${prefix}:lock:job:x`)).toBe(theirs!.token);
    expect(await lock.release(theirs!)).toBe(true);
  });

  it('a job longer than the ttl keeps its lock while it runs', async () => {
    const lock = new RedisLock(a, prefix);
    const long = lock.withLock('job:long', 300, async () => { await new Promise((r) => setTimeout(r, 700)); });
    await new Promise((r) => setTimeout(r, 500));
    const overlapped = (await new RedisLock(b, prefix).withLock('job:long', 300, async () => undefined)).ran;
    await long;
    expect(overlapped).toBe(false);
  });

  it('a run that must happen waits for the holder to finish, then runs; without waiting it is skipped', async () => {
    const holder = new RedisLock(a, prefix);
    const order: string[] = [];
    const held = holder.withLock('job:reconcile', 5000, async () => { await new Promise((r) => setTimeout(r, 400)); order.push('holder'); });
    await new Promise((r) => setTimeout(r, 50));
    expect((await new RedisLock(b, prefix).withLock('job:reconcile', 5000, async () => { order.push('skipped'); })).ran).toBe(false);
    const waited = await new RedisLock(b, prefix).withLock('job:reconcile', 5000, async () => { order.push('waiter'); return 'ran'; }, { waitMs: 3000 });
    await held;
    expect(waited).toEqual({ ran: true, value: 'ran' });
    expect(order).toEqual(['holder', 'waiter']);
  });

  it('a job that throws still releases its lock', async () => {
    const lock = new RedisLock(a, prefix);
    await expect(lock.withLock('job:boom', 5000, async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    expect(await a.exists(`${prefix}:lock:job:boom`)).toBe(0);
  });
});
