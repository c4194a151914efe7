// The time a notifier runs on: the real one in the daemon, a hand-moved one in tests of batching and rate limits.
export interface NotifyClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: NotifyClock = {
  now: () => Date.now(),
  // unref: a pending notification never keeps the process alive at shutdown.
  setTimeout: (fn, ms) => { const t = setTimeout(fn, ms); t.unref(); return t; },
  clearTimeout: (handle) => { clearTimeout(handle as NodeJS.Timeout); },
};
