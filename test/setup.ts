// Test-wide setup: time is UTC inside tradewire, so the tests run in UTC too.
process.env.TZ = 'UTC';
