// ecosystem.config.js: all in one by default; split roles share one Redis, the private one owned by its own app.
import { describe, expect, it } from 'vitest';

interface App { name: string; script: string; args?: string; exec_mode: string; instances: number; kill_timeout: number; env: Record<string, string> }
let loads = 0;
async function appsWith(env: Record<string, string | undefined>): Promise<App[]> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete process.env[key];
  try {
    // A fresh evaluation each time: the file reads the environment PM2 is started from.
    const module = await import(/* @vite-ignore */ `${new URL('../../ecosystem.config.js', import.meta.url).href}?load=${loads++}`) as { apps: App[] };
    return module.apps;
  } finally {
    process.env = saved;
  }
}

describe('ecosystem.config.js', () => {
  it('runs one all-in-one daemon by default, with no Redis address of its own (the daemon finds or starts one)', async () => {
    const apps = await appsWith({ TRADEWIRE_PM2: undefined, REDIS_URL: undefined });
    expect(apps.map((a) => [a.name, a.script, a.args, a.exec_mode])).toEqual([['tradewire', 'scripts/start.js', undefined, 'fork']]);
    expect(apps[0]?.env).not.toHaveProperty('REDIS_URL');
    expect(apps[0]?.kill_timeout).toBeGreaterThanOrEqual(30_000);
  });

  it('split: the private Redis has its own app; the api runs two instances in cluster mode for a reload without downtime', async () => {
    const apps = await appsWith({ TRADEWIRE_PM2: 'split', REDIS_URL: undefined });
    expect(apps.map((a) => [a.name, a.script, a.args, a.exec_mode, a.instances])).toEqual([
      ['tradewire-redis', 'scripts/tradewire.js', 'redis', 'fork', 1],
      ['tradewire-api', 'scripts/start.js', '--role api', 'cluster', 2],
      ['tradewire-worker', 'scripts/start.js', '--role worker', 'fork', 1],
    ]);
  });

  it('split with REDIS_URL set: that Redis, and no private one', async () => {
    const apps = await appsWith({ TRADEWIRE_PM2: 'split', REDIS_URL: 'redis://10.0.0.5:6379' });
    expect(apps.map((a) => a.name)).toEqual(['tradewire-api', 'tradewire-worker']);
  });
});
