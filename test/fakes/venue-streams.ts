// Local WebSocket servers (127.0.0.1) speaking Alpaca's trade_updates and Binance USD-M's user data stream wire formats.
//
// Alpaca (docs.alpaca.markets, "Websocket streaming"): the client sends {action:"auth",key,secret}; the server answers
// {stream:"authorization",data:{action:"authenticate",status:"authorized"|"unauthorized"}} and closes after a refusal;
// {action:"listen",data:{streams:[...]}} is answered {stream:"listening",data:{streams:[...]}}; events are
// {stream:"trade_updates",data:{event,order,timestamp,...}}. Alpaca sends these as binary frames: so does this fake.
// Binance (USD-M "User Data Streams"): the socket is /ws/<listenKey>; a key the REST fake does not hold live is refused;
// events are pushed as JSON text frames with no handshake.
import type { WebSocket } from 'ws';
import type { BinanceFake } from './binance.ts';
import { LocalWsServer } from './local-ws-server.ts';

export interface AlpacaStreamOptions {
  keyId: string;
  secretKey: string;
}

export class AlpacaStreamServer extends LocalWsServer {
  /** What clients sent, parsed, in order. */
  readonly received: unknown[] = [];
  private readonly listening = new Set<WebSocket>();

  constructor(private readonly options: AlpacaStreamOptions) {
    super();
    this.serve('/stream', (ws) => this.accept(ws));
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/stream`;
  }

  /** Sends a trade update to every authorized, listening client, as a binary frame. */
  tradeUpdate(event: string, order: unknown, extra: Record<string, unknown> = {}): number {
    const message = { stream: 'trade_updates', data: { event, timestamp: new Date().toISOString(), order, ...extra } };
    for (const socket of this.listening) this.sendBinary(socket, message);
    return this.listening.size;
  }

  /** Sends raw bytes to every listening client (a test of what the client does with garbage). */
  raw(text: string): void {
    for (const socket of this.listening) socket.send(text);
  }

  get listeners(): number {
    return this.listening.size;
  }

  private sendBinary(socket: WebSocket, message: unknown): void {
    socket.send(Buffer.from(JSON.stringify(message)), { binary: true });
  }

  private accept(ws: WebSocket): void {
    let authorized = false;
    ws.on('close', () => this.listening.delete(ws));
    ws.on('message', (data) => {
      let message: { action?: unknown; key?: unknown; secret?: unknown; data?: { streams?: unknown } };
      try {
        message = JSON.parse(Buffer.from(data as Buffer).toString('utf8')) as typeof message;
      } catch {
        this.sendBinary(ws, { stream: 'listening', data: { error: 'invalid syntax' } });
        return;
      }
      this.received.push(message);
      if (message.action === 'auth') {
        authorized = message.key === this.options.keyId && message.secret === this.options.secretKey;
        this.sendBinary(ws, { stream: 'authorization', data: { action: 'authenticate', status: authorized ? 'authorized' : 'unauthorized' } });
        if (!authorized) ws.close(1008, 'unauthorized');
        return;
      }
      if (message.action === 'listen') {
        if (!authorized) {
          this.sendBinary(ws, { stream: 'authorization', data: { action: 'listen', status: 'unauthorized' } });
          return;
        }
        const streams = Array.isArray(message.data?.streams) ? message.data.streams.filter((s): s is string => s === 'trade_updates') : [];
        if (streams.length > 0) this.listening.add(ws);
        else this.listening.delete(ws);
        this.sendBinary(ws, { stream: 'listening', data: { streams } });
      }
    });
  }
}

type FakeAlgoView = NonNullable<ReturnType<BinanceFake['algoOrder']>>;

export class BinanceStreamServer extends LocalWsServer {
  /** Upgrade requests refused because their listenKey was not live at the REST fake (or the server was refusing). */
  refused = 0;
  /** While true every connection attempt is refused (the venue unreachable). */
  refusing = false;

  constructor(private readonly venue: BinanceFake) {
    super();
    this.http.on('upgrade', (request, socket, head) => {
      const match = /^\/ws\/([^/?]+)$/.exec(new URL(request.url ?? '/', 'http://x').pathname);
      const live = this.venue.activeListenKey();
      if (this.refusing || !match || live === undefined || match[1] !== live) {
        this.refused += 1;
        socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(request, socket, head, (ws) => { this.connections.push(ws); });
    });
  }

  /** The host, without /ws: what the adapter's streamUrl takes. */
  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  send(message: unknown): number {
    const text = typeof message === 'string' ? message : JSON.stringify(message);
    for (const socket of this.open) socket.send(text);
    return this.open.length;
  }

  /** An ALGO_UPDATE for an algo order as the REST fake holds it now (Binance's field names). */
  algoUpdate(algo: FakeAlgoView, executed = '0', averagePrice = '0'): number {
    const now = Date.now();
    return this.send({
      e: 'ALGO_UPDATE', T: now, E: now,
      o: {
        caid: algo.clientAlgoId, aid: algo.algoId, at: 'CONDITIONAL', o: algo.orderType, s: algo.symbol, S: algo.side, ps: algo.positionSide,
        f: algo.timeInForce, q: algo.quantity.toFixed(), X: algo.algoStatus, ai: algo.actualOrderId, ap: averagePrice, aq: executed, act: 'MARKET',
        tp: algo.triggerPrice.toFixed(), p: algo.price.toFixed(), V: 'EXPIRE_MAKER', wt: algo.workingType, pm: 'NONE', cp: algo.closePosition,
        pP: algo.priceProtect, R: algo.reduceOnly, tt: algo.triggerTime, gtd: 0,
      },
    });
  }

  /** An ORDER_TRADE_UPDATE for a plain order (fields Binance sends; those tradewire does not read are filled plausibly). */
  orderTradeUpdate(order: { symbol: string; clientOrderId: string; orderId: number | string; side: 'BUY' | 'SELL'; type: string; quantity: string;
    execution: string; status: string; lastFilled: string; filled: string; averagePrice?: string }): number {
    const now = Date.now();
    return this.send({
      e: 'ORDER_TRADE_UPDATE', E: now, T: now,
      o: {
        s: order.symbol, c: order.clientOrderId, S: order.side, o: order.type, f: 'GTC', q: order.quantity, p: '0', ap: order.averagePrice ?? '0', sp: '0',
        x: order.execution, X: order.status, i: order.orderId, l: order.lastFilled, z: order.filled, L: order.averagePrice ?? '0', n: '0', N: 'USDT',
        T: now, t: 0, b: '0', a: '0', m: false, R: false, wt: 'CONTRACT_PRICE', ot: order.type, ps: 'BOTH', cp: false, rp: '0', pP: false, si: 0, ss: 0, V: 'EXPIRE_TAKER', pm: 'NONE', gtd: 0,
      },
    });
  }

  accountUpdate(symbol: string, amount: string, reason = 'ORDER'): number {
    const now = Date.now();
    return this.send({
      e: 'ACCOUNT_UPDATE', E: now, T: now,
      a: { m: reason, B: [{ a: 'USDT', wb: '10000', cw: '10000', bc: '0' }], P: [{ s: symbol, pa: amount, ep: '0', bep: '0', cr: '0', up: '0', mt: 'isolated', iw: '0', ps: 'BOTH' }] },
    });
  }

  /** What Binance sends when the key lapsed, before it closes the socket. */
  listenKeyExpired(listenKey: string): number {
    const sent = this.send({ e: 'listenKeyExpired', E: String(Date.now()), listenKey });
    return sent;
  }
}
