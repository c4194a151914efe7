// Group commit for a SQLite file in WAL mode with synchronous=NORMAL: one fsync of the WAL, shared by every commit made before it.
import { closeSync, fstatSync, fsync, openSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { SqliteDatabase } from './db.ts';

/**
 * Makes the commits already made on a WAL database durable (on disk, surviving a power loss) without making every
 * commit pay for its own fsync.
 *
 * With `synchronous = NORMAL` a commit only writes its frames to the -wal file (the page cache): it survives a process
 * kill, not a power loss. `sync()` resolves once an fsync of the -wal file that *started after the call* has finished,
 * so every commit the caller made before calling is on disk. Callers that arrive while an fsync runs share the next one:
 * ten executions waiting at once cost two fsyncs, not ten. The fsync runs on libuv's thread pool, so the event loop
 * keeps serving other executions meanwhile.
 *
 * Why fsync of our own descriptor is enough: on Linux fsync flushes the file's (inode's) dirty pages whoever wrote them,
 * so it flushes the frames SQLite wrote through its descriptor. A descriptor is kept only across back-to-back flushes
 * and opened anew after a pause, because SQLite deletes and recreates the -wal when the last connection closes. (SQLite
 * keeps no POSIX lock on the -wal, so closing our descriptor cannot drop one.) A checkpoint moves frames into the main
 * file, and SQLite fsyncs the WAL before and the main file after copying, so frames that left the WAL are durable already.
 */
export class DurabilityBarrier {
  private inFlight: Promise<void> | undefined;
  private next: Promise<void> | undefined;
  private fsyncs = 0;
  /** The -wal file's inode at the last fsync: a new one (SQLite recreated the file) needs its directory entry flushed too. */
  private walInode: number | undefined;
  /** The -wal's descriptor while flushes follow one another. */
  private fd: number | undefined;

  /**
   * @param walPath the -wal file to flush, or undefined for an in-memory database (nothing to flush).
   * @param onFsync a hook called after each fsync completes, before its waiters resume (tests take the power-loss image here).
   */
  constructor(private readonly walPath: string | undefined, private readonly onFsync?: () => void) {}

  static forDatabase(db: SqliteDatabase, onFsync?: () => void): DurabilityBarrier {
    return new DurabilityBarrier(db.memory ? undefined : `${db.name}-wal`, onFsync);
  }

  /** How many fsyncs this barrier has issued (benchmarks count them per signal). */
  get fsyncCount(): number {
    return this.fsyncs;
  }

  /** Resolves when every commit made before this call is on disk. */
  sync(): Promise<void> {
    if (this.walPath === undefined) return Promise.resolve();
    if (this.inFlight === undefined) {
      this.inFlight = this.flush().finally(() => { this.inFlight = undefined; });
      return this.inFlight;
    }
    // An fsync is running, but it may have started before our commit: wait for the one after it, shared by all who wait now.
    this.next ??= this.inFlight.catch(() => undefined).then(() => {
      this.next = undefined;
      return this.sync();
    });
    return this.next;
  }

  private async flush(): Promise<void> {
    const path = this.walPath as string;
    const fd = this.fd ?? await this.openWal(path);
    if (fd === undefined) return;
    try {
      await fsyncFd(fd);
      this.fsyncs += 1;
      this.onFsync?.();
    } finally {
      // Kept open while callers keep coming (back-to-back flushes under load reuse it); closed once nobody waits.
      if (this.next === undefined) {
        this.fd = undefined;
        closeSync(fd);
      }
    }
  }

  /** Opens the -wal; a new file (SQLite creates it after the last connection closed) gets its directory entry flushed too. */
  private async openWal(path: string): Promise<number | undefined> {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (error) {
      // No -wal file: everything committed was checkpointed into the main file (and fsynced there by the checkpoint).
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const { ino } = fstatSync(fd);
    if (ino !== this.walInode) {
      try {
        await syncDirectory(dirname(path));
      } catch (error) {
        closeSync(fd);
        throw error;
      }
      this.walInode = ino;
    }
    this.fd = fd;
    return fd;
  }

}

/** fsync(2) on libuv's thread pool: the event loop runs on meanwhile. */
function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (error) => (error ? reject(error) : resolve())));
}

/** Flushes a directory's entries: a file created since is then found after a power loss. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

const barriers = new WeakMap<SqliteDatabase, DurabilityBarrier>();

/**
 * The one barrier of a database connection: every repository and the order tracker on it share it, so their waits
 * share fsyncs. `onFsync` is for tests (the power-loss simulation copies the files there); it is set on first use only.
 */
export function durabilityBarrier(db: SqliteDatabase, onFsync?: () => void): DurabilityBarrier {
  let barrier = barriers.get(db);
  if (barrier === undefined) {
    barrier = DurabilityBarrier.forDatabase(db, onFsync);
    barriers.set(db, barrier);
  }
  return barrier;
}
