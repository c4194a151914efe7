// The log tap: while TW_LOG_TAP_DIR is set (test/global-setup.ts sets it for a test run), every line a logger writes
// in any process or thread of the run is also appended to a file of that process in that folder, so the run's end
// can scan all of them for secrets. Plain JavaScript: NODE_OPTIONS preloads it (with the loopback guard) into the
// daemons the tests start as child processes and into the daemon's execution thread.
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { threadId } from 'node:worker_threads';

const writeSync = fs.writeSync;
let fd;

/** Appends `text` to this process's (and thread's) tap file; nothing when no tap is set. */
export function tapLine(text) {
  const dir = process.env.TW_LOG_TAP_DIR;
  if (!dir) return;
  try {
    fd ??= fs.openSync(join(dir, `${process.pid}-${threadId}.log`), 'a');
    writeSync(fd, typeof text === 'string' ? text : Buffer.from(text));
  } catch {
    // A tap that cannot write must never break the test it watches.
  }
}

/** Taps what this process writes to standard output and error: pino's destination writes with fs.write(Sync). */
export function tapStandardStreams() {
  if (fs.writeSync.name === 'tappedWriteSync') return;
  const write = fs.write;
  fs.writeSync = function tappedWriteSync(target, data, ...rest) {
    if (target === 1 || target === 2) tapLine(typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    return writeSync.call(fs, target, data, ...rest);
  };
  fs.write = function tappedWrite(target, data, ...rest) {
    if (target === 1 || target === 2) tapLine(typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    return write.call(fs, target, data, ...rest);
  };
  for (const stream of [process.stdout, process.stderr]) {
    const streamWrite = stream.write;
    stream.write = function tappedStreamWrite(chunk, ...rest) {
      tapLine(typeof chunk === 'string' ? chunk : Buffer.from(chunk));
      return streamWrite.call(this, chunk, ...rest);
    };
  }
}
