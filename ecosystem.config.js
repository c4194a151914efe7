// PM2 process file: `pm2 start ecosystem.config.js`. The package is ESM; PM2 require()s this file, and Node 20.19+
// hands it this module's namespace, so the apps are a named export rather than `module.exports`.
export const apps = [
  {
    name: 'tradewire',
    // What `npm start` runs: the daemon from an esbuild bundle (plain ESM JavaScript; PM2 would hand a .ts script to
    // ts-node), without tsx's loader thread. `args: '--role api'` and so on for a split deployment.
    script: 'scripts/start.js',
    cwd: import.meta.dirname,
    instances: 1,
    exec_mode: 'fork',
    // As package.json's start script: the HTTP side's young generation small (idle RSS); the execution thread, where
    // the position loop runs, sets its own (src/runtime/execution-host.ts, README Performance).
    node_args: '--max-semi-space-size=1',
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
