// The gateway's self-signed certificate: accepted for the configured loopback gateway host only, verified everywhere else.
import type { HttpClientOptions } from '../http.ts';

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

/** The machine itself: where the Client Portal gateway runs with the certificate it generated. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return LOOPBACK.has(host) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Whether the gateway's certificate is verified. Absent: not for a loopback gateway (it ships a self-signed one), always
 * for any other host. Turning verification off for a host across a network would let anyone in between trade the account.
 */
export function verifiesCertificate(gatewayUrl: string, verifyCertificate: boolean | undefined): boolean {
  const local = isLoopbackHost(new URL(gatewayUrl).hostname);
  if (verifyCertificate === false && !local) {
    throw new RangeError(`ibkr: certificate verification can be turned off only for a gateway on this machine (localhost, 127.0.0.1, ::1), not ${new URL(gatewayUrl).host}`);
  }
  return verifyCertificate ?? !local;
}

/** The minimal shape of undici's Agent constructor that this module uses. */
type AgentClass = new (options: { connect: { rejectUnauthorized: boolean } }) => object;

/**
 * Node's fetch is undici, but Node 20 does not export its Agent; the bundled one is reached through the global dispatcher,
 * which undici registers under a Symbol.for key shared across its versions. `new Headers()` loads the bundle without any I/O.
 */
function bundledAgentClass(): AgentClass {
  new Headers();
  const dispatcher = (globalThis as Record<symbol, unknown>)[Symbol.for('undici.globalDispatcher.1')];
  const candidate = (dispatcher as { constructor?: unknown } | undefined)?.constructor;
  if (typeof candidate !== 'function' || candidate.name !== 'Agent') {
    throw new Error('ibkr: cannot reach Node\'s undici Agent (the global dispatcher was replaced); set verifyCertificate: true and trust the gateway\'s certificate with NODE_EXTRA_CA_CERTS');
  }
  return candidate as AgentClass;
}

/**
 * The fetch the gateway client sends through: for requests to the gateway's own host (and port) with verification off, an
 * undici Agent that accepts its self-signed certificate; every other request, and every request when verification is on,
 * goes through plain fetch with Node's default verification. Resolved per call, so msw (tests) still intercepts it.
 */
export function gatewayFetch(gatewayUrl: string, verifyCertificate: boolean): NonNullable<HttpClientOptions['fetch']> {
  if (verifyCertificate) return () => globalThis.fetch;
  const gatewayHost = new URL(gatewayUrl).host;
  let agent: object | undefined;
  const scoped: typeof globalThis.fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.protocol !== 'https:' || url.host !== gatewayHost) return globalThis.fetch(input, init);
    agent ??= new (bundledAgentClass())({ connect: { rejectUnauthorized: false } });
    // `dispatcher` is undici's extension of RequestInit, absent from the DOM typings.
    return globalThis.fetch(input, { ...init, dispatcher: agent } as RequestInit);
  };
  return () => scoped;
}
