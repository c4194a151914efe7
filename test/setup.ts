// Test-wide setup: time is UTC inside tradewire, so the tests run in UTC too. (No test reaches past loopback:
// test/vitest.config.ts preloads test/helpers/loopback-guard.mjs into every test process, thread and child.)
process.env.TZ = 'UTC';
