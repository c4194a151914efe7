// One venue WebSocket kept open: connect, reconnect with exponential backoff and jitter, and a ping watchdog for half-open links.
import WebSocket from 'ws';
import type { Logger } from '../ops/logger.ts';

export interface Backoff {
  /** The first wait after a drop, before jitter. Default 500 ms. */
  initialMs?: number | undefined;
  /** The longest wait. Default 30 s. */
  maxMs?: number | undefined;
}

export interface StreamSocketOptions {
  /** For the logs: the account and the venue. */
  account: string;
  venue: string;
  /** The URL to open, asked again before every attempt (Binance's carries a listenKey that may have changed). */
  url: () => Promise<string> | string;
  /** Called once the socket is open: send the handshake here. */
  onOpen: (socket: WebSocket) => void;
  /** Every frame, text or binary, as UTF-8 text. */
  onText: (text: string, socket: WebSocket) => void;
  /** The link went down (closed, errored, or silent past the watchdog); a reconnect follows unless stopped. */
  onDown?: (() => void) | undefined;
  backoff?: Backoff | undefined;
  /** A ping every this often; no pong by the next one and the link is dropped and opened again. Default 30 s. */
  pingIntervalMs?: number | undefined;
  /** 0 ≤ x < 1; injectable so a test can pin the jitter. */
  random?: (() => number) | undefined;
  logger: Pick<Logger, 'info' | 'warn' | 'debug'>;
}

/**
 * Full jitter (a uniform wait between 0 and the exponential cap): after a venue outage, thousands of clients that
 * reconnect on the same schedule would knock it over again; spread out, they do not.
 */
export function backoffDelay(attempt: number, backoff: Backoff | undefined, random: () => number): number {
  const initial = backoff?.initialMs ?? 500;
  const max = backoff?.maxMs ?? 30_000;
  const cap = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  // Never quite zero: a venue that drops every connection at once is not hammered in a tight loop.
  return Math.max(initial / 10, Math.floor(random() * cap));
}

export class StreamSocket {
  private socket: WebSocket | undefined;
  private stopped = true;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private closed: Promise<void> = Promise.resolve();
  private readonly random: () => number;

  constructor(private readonly options: StreamSocketOptions) {
    this.random = options.random ?? Math.random;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt = 0;
    void this.open();
  }

  /** Closes the link and cancels any reconnect; resolves once the socket is closed. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    const socket = this.socket;
    this.socket = undefined;
    if (socket && socket.readyState !== WebSocket.CLOSED) {
      socket.close(1000);
      // A venue that never answers the close handshake: cut it after a moment.
      const cut = setTimeout(() => socket.terminate(), 1_000);
      await this.closed;
      clearTimeout(cut);
    }
  }

  /** The handshake and subscription succeeded: the next drop starts the backoff from the beginning again. */
  healthy(): void {
    this.attempt = 0;
  }

  /** Drops the link on purpose (a refused handshake, an expired key): it is opened again after the backoff. */
  drop(reason: string): void {
    this.options.logger.warn({ event: 'stream.dropping', account: this.options.account, venue: this.options.venue, reason }, `${this.options.venue} stream: ${reason}`);
    this.socket?.terminate();
  }

  private async open(): Promise<void> {
    if (this.stopped) return;
    const { account, venue, logger } = this.options;
    let url: string;
    try {
      url = await this.options.url();
    } catch (error) {
      logger.warn({ event: 'stream.url_failed', account, venue, err: error instanceof Error ? error.message : String(error) }, `${venue} stream: could not prepare the connection`);
      this.retry();
      return;
    }
    if (this.stopped) return;
    const socket = new WebSocket(url, { handshakeTimeout: 10_000 });
    this.socket = socket;
    let alive = true;
    let resolveClosed: () => void = () => undefined;
    this.closed = new Promise((resolve) => { resolveClosed = resolve; });
    socket.on('open', () => {
      logger.debug({ event: 'stream.open', account, venue }, `${venue} stream open`);
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => {
        if (!alive) {
          this.drop('no pong since the last ping');
          return;
        }
        alive = false;
        socket.ping();
      }, this.options.pingIntervalMs ?? 30_000);
      try {
        this.options.onOpen(socket);
      } catch (error) {
        this.drop(`handshake failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    });
    socket.on('pong', () => { alive = true; });
    socket.on('message', (data: WebSocket.RawData) => {
      alive = true;
      // Alpaca sends its trading stream as binary frames; both carry UTF-8 JSON.
      const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
      try {
        this.options.onText(text, socket);
      } catch (error) {
        // A throw here would escape into ws's emitter and take the daemon down: one message is never worth that.
        logger.warn({ event: 'stream.message_failed', account, venue, err: error instanceof Error ? error.message : String(error) }, `${venue} stream: handling a message failed`);
      }
    });
    socket.on('error', (error: Error) => {
      logger.warn({ event: 'stream.error', account, venue, err: error.message }, `${venue} stream error`);
    });
    socket.on('close', (code: number) => {
      clearInterval(this.pingTimer);
      resolveClosed();
      if (this.socket === socket) this.socket = undefined;
      if (this.stopped) return;
      logger.warn({ event: 'stream.closed', account, venue, code }, `${venue} stream closed (${code}): reconnecting`);
      this.options.onDown?.();
      this.retry();
    });
  }

  private retry(): void {
    if (this.stopped) return;
    const wait = backoffDelay(this.attempt, this.options.backoff, this.random);
    this.attempt += 1;
    this.options.logger.info({ event: 'stream.reconnecting', account: this.options.account, venue: this.options.venue, attempt: this.attempt, waitMs: wait },
      `${this.options.venue} stream: reconnecting in ${wait} ms`);
    this.retryTimer = setTimeout(() => { void this.open(); }, wait);
  }
}
