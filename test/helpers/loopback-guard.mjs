// Tests reach loopback only. Every TCP connection a test opens (fetch, ws, ioredis, http) goes through
// net.Socket.prototype.connect, and one to any other host fails at once, before a name lookup or a packet.
// msw intercepts the fakes' outside hosts above this layer, so a request that gets here for another host is a test
// that forgot its fake (an adapter left on a venue's real URL) and must fail, not reach the venue.
// Plain JavaScript on purpose: test/vitest.config.ts preloads it with NODE_OPTIONS=--import, so it also guards the
// daemons the tests start as child processes and the daemon's execution thread, where msw does not reach.
import net from 'node:net';
import process from 'node:process';

/** Hosts a test may connect to: the loopback range, ::1 and localhost. */
export function isLoopbackHost(host) {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare === 'localhost' || bare === '::1') return true;
  return /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}

/** The host a connect() call names: undefined for a unix socket path (always local). */
export function connectTarget(args) {
  let first = args[0];
  if (Array.isArray(first)) first = first[0]; // the internal form: [options, callback]
  if (typeof first === 'object' && first !== null) {
    if (typeof first.path === 'string') return undefined;
    return typeof first.host === 'string' ? first.host : 'localhost';
  }
  if (typeof first === 'string' && !/^\d+$/.test(first)) return undefined; // a path
  return typeof args[1] === 'string' ? args[1] : 'localhost';
}

if (net.Socket.prototype.connect.name !== 'guardedConnect') {
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function guardedConnect(...args) {
    const host = connectTarget(args);
    if (host !== undefined && !isLoopbackHost(host)) {
      process.nextTick(() => this.destroy(new Error(`test guard: connection to ${host} refused (tests reach loopback only; point the adapter at its fake)`)));
      return this;
    }
    return connect.apply(this, args);
  };
}
