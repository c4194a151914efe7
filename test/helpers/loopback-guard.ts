// Tests reach loopback only: every TCP connection a test process opens (fetch, ws, ioredis, http) goes through
// net.Socket.prototype.connect, and one to any other host fails at once, before a name lookup or a packet.
// msw intercepts the fakes' outside hosts above this layer, so a request that gets here for another host is a test
// that forgot its fake (an adapter left on a venue's real URL) and must fail, not reach the venue.
import net from 'node:net';

/** Hosts a test may connect to: the loopback range, ::1 and localhost. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare === 'localhost' || bare === '::1' || bare === '::ffff:127.0.0.1') return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare) || /^::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}

/** The host a connect() call names: undefined for a unix socket path (always local). */
export function connectTarget(args: unknown[]): string | undefined {
  let first = args[0];
  if (Array.isArray(first)) first = first[0]; // the internal form: [options, callback]
  if (typeof first === 'object' && first !== null) {
    const options = first as { path?: unknown; host?: unknown };
    if (typeof options.path === 'string') return undefined;
    return typeof options.host === 'string' ? options.host : 'localhost';
  }
  if (typeof first === 'string' && !/^\d+$/.test(first)) return undefined; // a path
  return typeof args[1] === 'string' ? args[1] : 'localhost';
}

let installed = false;

export function installLoopbackGuard(): void {
  if (installed) return;
  installed = true;
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]) {
    const host = connectTarget(args);
    if (host !== undefined && !isLoopbackHost(host)) {
      process.nextTick(() => this.destroy(new Error(`test guard: connection to ${host} refused (tests reach loopback only; point the adapter at its fake)`)));
      return this;
    }
    return (connect as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof net.Socket.prototype.connect;
}
