// Local WebSocket servers (127.0.0.1) speaking Binance's public market streams and Alpaca's IEX data stream, and msw handlers for
// Alpaca's latest-trade REST call: the wire formats of the vendors' docs, for the paper account's price feeds.
//
// Binance (USD-M "Mark Price Stream", spot "Trade Streams", "Live Subscribing/Unsubscribing to streams"): one socket at /ws;
// {"method":"SUBSCRIBE","params":["btcusdt@markPrice@1s"],"id":1} is answered {"result":null,"id":1}; events are raw JSON objects,
// {"e":"markPriceUpdate","E":...,"s":"BTCUSDT","p":"11794.15000000","i":...,"P":...,"r":...,"T":...} or
// {"e":"trade","E":...,"s":"BNBBTC","t":12345,"p":"0.001","q":"100","T":...,"m":true,"M":true}.
// Alpaca ("Real-time stock data", v2/iex): the server opens with [{"T":"success","msg":"connected"}]; {"action":"auth",key,secret}
// is answered [{"T":"success","msg":"authenticated"}] or [{"T":"error","code":402,"msg":"auth failed"}];
// {"action":"subscribe","trades":[...]} is answered [{"T":"subscription","trades":[...],"quotes":[],"bars":[]}]; a trade is
// {"T":"t","S":"AAPL","i":96921,"x":"V","p":126.55,"s":1,"t":"2021-02-22T15:51:44.208Z","c":["@","I"],"z":"C"}, price a JSON number.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { http, HttpResponse, type RequestHandler } from 'msw';
import { WebSocketServer, type WebSocket } from 'ws';

class LocalStreamServer {
  readonly http: Server;
  readonly wss = new WebSocketServer({ noServer: true });
  /** Every connection ever opened, in order. */
  readonly connections: WebSocket[] = [];
  /** What clients sent, parsed (or the raw text when not JSON), in order. */
  readonly received: unknown[] = [];

  constructor(path: string, accept: (socket: WebSocket) => void) {
    this.http = createServer();
    this.http.on('upgrade', (request, socket, head) => {
      if (new URL(request.url ?? '/', 'http://x').pathname !== path) {
        socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(request, socket, head, (ws) => {
        this.connections.push(ws);
        accept(ws);
      });
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.http.listen(0, '127.0.0.1', resolve));
  }

  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  get open(): WebSocket[] {
    return this.connections.filter((c) => c.readyState === c.OPEN);
  }

  /** Cuts every connection without a close frame (a network drop). */
  dropAll(): void {
    for (const socket of this.open) socket.terminate();
  }

  /** Closes every connection the way a venue ends a session (Binance at 24 h): a close frame, then the TCP close. */
  closeAll(code = 1000): void {
    for (const socket of this.open) socket.close(code);
  }

  /** A frame of any text to every open connection (malformed messages). */
  sendRaw(text: string): void {
    for (const socket of this.open) socket.send(text);
  }

  protected record(text: string): unknown {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      message = text;
    }
    this.received.push(message);
    return message;
  }

  async close(): Promise<void> {
    for (const socket of this.connections) socket.terminate();
    await new Promise<void>((resolve) => { this.wss.close(() => resolve()); });
    await new Promise<void>((resolve) => { this.http.close(() => resolve()); });
  }
}

export type BinanceStreamKind = 'usdm-mark' | 'spot-trades';

/** Binance's /ws endpoint for one kind of public stream. */
export class BinanceMarketStreamServer extends LocalStreamServer {
  private readonly streams = new Map<WebSocket, Set<string>>();
  private readonly prices = new Map<string, string>();
  private tradeId = 1;

  constructor(readonly kind: BinanceStreamKind) {
    super('/ws', (socket) => {
      this.streams.set(socket, new Set());
      socket.on('message', (data: Buffer) => this.handle(socket, data.toString('utf8')));
    });
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  streamName(symbol: string): string {
    return `${symbol.toLowerCase()}${this.kind === 'usdm-mark' ? '@markPrice@1s' : '@trade'}`;
  }

  /** The streams each open connection is subscribed to. */
  subscriptions(): string[][] {
    return this.open.map((socket) => [...(this.streams.get(socket) ?? [])].sort());
  }

  /** A price event (mark price update or trade, by kind) to every connection subscribed to the symbol's stream. */
  price(symbol: string, price: string): number {
    this.prices.set(symbol, price);
    let sent = 0;
    for (const socket of this.open) {
      if (!this.streams.get(socket)?.has(this.streamName(symbol))) continue;
      socket.send(JSON.stringify(this.event(symbol, price)));
      sent += 1;
    }
    return sent;
  }

  private event(symbol: string, price: string): Record<string, unknown> {
    const now = Date.now();
    if (this.kind === 'usdm-mark') {
      return { e: 'markPriceUpdate', E: now, s: symbol, p: price, i: price, P: price, r: '0.00010000', T: now + 3_600_000 };
    }
    return { e: 'trade', E: now, s: symbol, t: this.tradeId++, p: price, q: '0.010', T: now, m: false, M: true };
  }

  private handle(socket: WebSocket, text: string): void {
    const message = this.record(text) as { method?: string; params?: string[]; id?: number };
    const streams = this.streams.get(socket) ?? new Set<string>();
    if (message.method === 'SUBSCRIBE' && Array.isArray(message.params)) {
      for (const stream of message.params) streams.add(stream);
      socket.send(JSON.stringify({ result: null, id: message.id }));
      // The @1s mark price stream sends within a second of subscribing: a price already set goes out at once.
      for (const [symbol, price] of this.prices) if (message.params.includes(this.streamName(symbol)) && this.kind === 'usdm-mark') socket.send(JSON.stringify(this.event(symbol, price)));
      return;
    }
    if (message.method === 'UNSUBSCRIBE' && Array.isArray(message.params)) {
      for (const stream of message.params) streams.delete(stream);
      socket.send(JSON.stringify({ result: null, id: message.id }));
      return;
    }
    socket.send(JSON.stringify({ error: { code: 2, msg: `Invalid request: unknown method ${String(message.method)}` }, id: message.id ?? null }));
  }
}

export interface AlpacaDataStreamOptions {
  keyId: string;
  secretKey: string;
}

/** Alpaca's v2/iex market data stream. */
export class AlpacaDataStreamServer extends LocalStreamServer {
  private readonly trades = new Map<WebSocket, Set<string>>();

  constructor(private readonly options: AlpacaDataStreamOptions) {
    super('/v2/iex', (socket) => {
      socket.send(JSON.stringify([{ T: 'success', msg: 'connected' }]));
      socket.on('message', (data: Buffer) => this.handle(socket, data.toString('utf8')));
    });
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/v2/iex`;
  }

  subscriptions(): string[][] {
    return this.open.map((socket) => [...(this.trades.get(socket) ?? [])].sort());
  }

  /** A trade to every connection subscribed to the symbol; `price` is written into the JSON as a number, digit for digit. */
  trade(symbol: string, price: string): number {
    let sent = 0;
    // Alpaca's times are RFC 3339 with nanoseconds.
    const time = new Date().toISOString().replace('Z', '123456Z');
    for (const socket of this.open) {
      if (!this.trades.get(socket)?.has(symbol)) continue;
      socket.send(`[{"T":"t","S":${JSON.stringify(symbol)},"i":${sent + 1},"x":"V","p":${price},"s":100,"t":"${time}","c":["@"],"z":"C"}]`);
      sent += 1;
    }
    return sent;
  }

  private handle(socket: WebSocket, text: string): void {
    const message = this.record(text) as { action?: string; key?: string; secret?: string; trades?: string[] };
    if (message.action === 'auth') {
      if (message.key === this.options.keyId && message.secret === this.options.secretKey) {
        this.trades.set(socket, new Set());
        socket.send(JSON.stringify([{ T: 'success', msg: 'authenticated' }]));
      } else {
        socket.send(JSON.stringify([{ T: 'error', code: 402, msg: 'auth failed' }]));
        socket.close(1008);
      }
      return;
    }
    const subscribed = this.trades.get(socket);
    if (!subscribed) {
      socket.send(JSON.stringify([{ T: 'error', code: 401, msg: 'not authenticated' }]));
      return;
    }
    if (message.action === 'subscribe' || message.action === 'unsubscribe') {
      for (const symbol of message.trades ?? []) {
        if (message.action === 'subscribe') subscribed.add(symbol);
        else subscribed.delete(symbol);
      }
      socket.send(JSON.stringify([{ T: 'subscription', trades: [...subscribed], quotes: [], bars: [], updatedBars: [], dailyBars: [], statuses: [], lulds: [], corrections: [], cancelErrors: [] }]));
      return;
    }
    socket.send(JSON.stringify([{ T: 'error', code: 400, msg: 'invalid syntax' }]));
  }
}

/**
 * Alpaca's GET /v2/stocks/trades/latest?symbols=...&feed=iex, answering from `trades` (symbol → price text and time); the
 * price is written as a JSON number, as Alpaca does. Requests without the key pair are refused 401 like Alpaca's.
 */
export function alpacaLatestTradeHandlers(baseUrl: string, keys: AlpacaDataStreamOptions, trades: Map<string, { price: string; time: Date }>, seen: URL[] = []): RequestHandler[] {
  return [
    http.get(`${baseUrl}/v2/stocks/trades/latest`, ({ request }) => {
      const url = new URL(request.url);
      seen.push(url);
      if (request.headers.get('APCA-API-KEY-ID') !== keys.keyId || request.headers.get('APCA-API-SECRET-KEY') !== keys.secretKey) {
        return HttpResponse.json({ message: 'unauthorized.' }, { status: 401 });
      }
      const symbols = (url.searchParams.get('symbols') ?? '').split(',').filter(Boolean);
      const body = symbols.filter((s) => trades.has(s)).map((s) => {
        const trade = trades.get(s) as { price: string; time: Date };
        return `${JSON.stringify(s)}:{"t":"${trade.time.toISOString().replace('Z', '123456Z')}","x":"V","p":${trade.price},"s":100,"c":["@"],"i":52983525029461,"z":"C"}`;
      });
      return new HttpResponse(`{"trades":{${body.join(',')}}}`, { headers: { 'content-type': 'application/json' } });
    }),
  ];
}
