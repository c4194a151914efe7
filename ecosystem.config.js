// PM2 process file: `pm2 start ecosystem.config.js`. The package is ESM; PM2 require()s this file, and Node 20.19+
// hands it this module's namespace, so the apps are a named export rather than `module.exports`.
export const apps = [
  {
    name: 'tradewire',
    // The `tradewire` bin (plain ESM JavaScript that loads the TypeScript through tsx): PM2 would hand a
    // .ts script to ts-node.
    script: 'scripts/tradewire.js',
    args: 'start',
    cwd: import.meta.dirname,
    instances: 1,
    exec_mode: 'fork',
    // A larger young generation: the position loop's per-tick quotes are short-lived, and with the default the
    // collector's copies are most of a tick's tail (README, Performance: bench:positions).
    node_args: '--max-semi-space-size=64',
    autorestart: true,
    // Longer than the slowest in-flight order: SIGTERM lets running jobs finish before the process exits.
    kill_timeout: 30000,
    max_memory_restart: '1G',
    env: {
      NODE_ENV: 'production',
      CONFIG_FILE: 'config/tradewire.yaml',
      REDIS_URL: 'redis://127.0.0.1:6379',
    },
  },
];
