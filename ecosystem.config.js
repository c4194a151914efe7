// PM2 process file. All in one: `npx --yes pm2 start ecosystem.config.js`. Split roles (the webhook apart from
// execution): `TRADEWIRE_PM2=split npx --yes pm2 start ecosystem.config.js`. The package is ESM; PM2 require()s this file,
// and Node 20.19+ hands it this module's namespace, so the apps are a named export rather than `module.exports`.
// No REDIS_URL here: PM2 passes on the environment it is started from, and without one the daemon uses 127.0.0.1:6379
// if it answers, else a private redis-server under data/redis/ (README, Operations).

// What `npm start` runs: the daemon from an esbuild bundle (plain ESM JavaScript; PM2 would hand a .ts script to ts-node),
// without tsx's loader thread (README, Performance: Memory). `tradewire-redis` runs the `tradewire` bin.
const script = 'scripts/start.js';
const cli = 'scripts/tradewire.js';
const cwd = import.meta.dirname;
const env = { NODE_ENV: 'production', CONFIG_FILE: 'config/tradewire.yaml' };
// Longer than the slowest in-flight order: SIGTERM lets running jobs finish before the process exits.
const kill_timeout = 30000;

const allInOne = {
  name: 'tradewire',
  script,
  cwd,
  instances: 1,
  exec_mode: 'fork',
  // As package.json's start script: the HTTP side's young generation small (idle RSS); the execution thread, where
  // the position loop runs, sets its own (src/runtime/execution-host.ts, README Performance).
  node_args: '--max-semi-space-size=1',
  autorestart: true,
  kill_timeout,
  // The signal goes to the daemon alone: a private Redis it runs is stopped by it, last, after the queues are closed.
  treekill: false,
  max_memory_restart: '1G',
  env,
};

// Split roles share one Redis. With REDIS_URL set they use it; without, the private one belongs to `tradewire-redis`,
// a process that does nothing else, so reloading the api or the worker never takes the other roles' Redis down.
const split = [
  ...(process.env.REDIS_URL ? [] : [{
    name: 'tradewire-redis', script: cli, args: 'redis', cwd, instances: 1, exec_mode: 'fork', autorestart: true,
    // redis-server writes its append-only file out as tradewire stops it.
    kill_timeout: 15000, treekill: false, env,
  }]),
  {
    // Cluster mode, two instances on one port: `pm2 reload tradewire-api` restarts them one at a time, so the webhook
    // keeps answering (zero downtime). The api role holds no state of its own; everything it takes goes to Redis.
    name: 'tradewire-api', script, args: '--role api', cwd, instances: 2, exec_mode: 'cluster', autorestart: true,
    kill_timeout: 5000, max_memory_restart: '512M', env,
  },
  {
    name: 'tradewire-worker', script, args: '--role worker', cwd, instances: 1, exec_mode: 'fork',
    // The worker runs the position loop on its main thread: a larger young generation keeps its ticks' tail short.
    node_args: '--max-semi-space-size=16', autorestart: true, kill_timeout, max_memory_restart: '1G', env,
  },
];

export const apps = process.env.TRADEWIRE_PM2 === 'split' ? split : [allInOne];
