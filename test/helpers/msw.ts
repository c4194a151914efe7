// The tests' msw server: broker fakes answer their hosts, loopback (our own express app) passes, any other host is refused.
import { afterAll, afterEach, beforeAll } from 'vitest';
import { setupServer } from 'msw/node';
import type { SetupServer } from 'msw/node';
import type { RequestHandler, UnhandledRequestCallback } from 'msw';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1', '0.0.0.0']);

/** True for the machine's own addresses, where our express app and a fake served over a port live. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return LOOPBACK_HOSTS.has(host) || host.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * The unhandled-request strategy: a request to loopback goes through untouched; a request to any other
 * host with no handler fails the request (msw prints which one), so no test ever reaches the internet.
 */
export const refuseOutsideHosts: UnhandledRequestCallback = (request, print) => {
  if (isLoopbackHost(new URL(request.url).hostname)) return;
  print.error();
};

/** An msw server with the project's unhandled-request strategy; the caller owns listen and close. */
export function createMswServer(...handlers: RequestHandler[]): SetupServer {
  const server = setupServer(...handlers);
  const listen = server.listen.bind(server);
  server.listen = (options = {}) => listen({ ...options, onUnhandledRequest: options.onUnhandledRequest ?? refuseOutsideHosts });
  return server;
}

/**
 * The usual lifecycle for a test file: listen before the first test, drop per-test handlers after each
 * (`server.use(...)` in a test lasts for that test), close after the last.
 */
export function useMswServer(...handlers: RequestHandler[]): SetupServer {
  const server = createMswServer(...handlers);
  beforeAll(() => { server.listen(); });
  afterEach(() => { server.resetHandlers(); });
  afterAll(() => { server.close(); });
  return server;
}
