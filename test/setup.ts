// Test-wide setup: time is UTC inside tradewire, so the tests run in UTC too; and no test reaches past loopback.
import { installLoopbackGuard } from './helpers/loopback-guard.ts';

process.env.TZ = 'UTC';
installLoopbackGuard();
