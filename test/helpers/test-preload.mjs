// Preloaded with NODE_OPTIONS=--import into every process and (file) thread of a test run (test/vitest.config.ts):
// connections stay on loopback, and what goes to standard output and error is tapped for the secrets scan.
import './loopback-guard.mjs';
import { tapStandardStreams } from './log-tap.mjs';

tapStandardStreams();
