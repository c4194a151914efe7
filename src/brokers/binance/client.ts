// The Binance USD-M REST client: public and signed calls, the server clock, -1021 recovery and the rate-limit gate.
import type { z } from 'zod';
import { createHttpClient } from '../http.ts';
import type { HttpClient, HttpMethod, Params } from '../http.ts';
import type { Logger } from '../../ops/logger.ts';
import { binanceErrorMapper, ClockSkewError, RateGate } from './errors.ts';
import { binanceSigner, ServerClock } from './signer.ts';
import { serverTimeSchema } from './wire.ts';

export const BASE_URLS = {
  live: 'https://fapi.binance.com',
  testnet: 'https://testnet.binancefuture.com',
  demo: 'https://demo-fapi.binance.com',
} as const;
export type BinanceEnvironment = keyof typeof BASE_URLS;

const DEFAULT_WEIGHT_LIMIT = 2400;
/** The share of the weight budget after which the client waits for the next minute. */
const WEIGHT_HEADROOM = 0.95;

export interface BinanceClientOptions {
  broker: string;
  baseUrl: string;
  apiKey: string;
  apiSecret: string;
  recvWindowMs?: number | undefined;
  timeoutMs?: number | undefined;
  clock?: (() => Date) | undefined;
  fetch?: (() => typeof globalThis.fetch) | undefined;
  logger: Pick<Logger, 'debug' | 'trace'>;
}

export interface Call<S extends z.ZodType> {
  method: HttpMethod;
  path: string;
  params?: Params | undefined;
  schema: S;
}

export class BinanceClient {
  readonly clock: ServerClock;
  readonly gate: RateGate;
  private readonly publicHttp: HttpClient;
  private readonly signedHttp: HttpClient;

  constructor(options: BinanceClientOptions) {
    const localNow = (): number => (options.clock ? options.clock().getTime() : Date.now());
    this.clock = new ServerClock(localNow);
    this.gate = new RateGate(localNow, options.broker);
    const common = {
      broker: options.broker,
      baseUrl: options.baseUrl,
      fetch: options.fetch,
      clock: options.clock,
      timeoutMs: options.timeoutMs ?? 10_000,
      logger: options.logger,
      mapError: binanceErrorMapper(this.gate),
      // Leverage brackets come as JSON numbers (0.0065): never through a float.
      losslessNumbers: true,
      requestIdHeaders: ['x-mbx-uuid'],
    };
    this.publicHttp = createHttpClient(common);
    this.signedHttp = createHttpClient({
      ...common,
      sign: binanceSigner({
        apiKey: options.apiKey, apiSecret: options.apiSecret, recvWindowMs: options.recvWindowMs ?? 5_000, serverNow: () => this.clock.now(),
      }),
    });
  }

  /** Binance's request-weight budget per minute (2400 unless exchangeInfo says otherwise). */
  weightLimit = DEFAULT_WEIGHT_LIMIT;
  private readonly weightSeen = new WeakSet<object>();

  /** Unsigned market-data endpoints. */
  async public<S extends z.ZodType>(call: Call<S>): Promise<z.output<S>> {
    this.gate.check();
    try {
      return await this.publicHttp.request({ method: call.method, path: call.path, query: call.params, schema: call.schema });
    } finally {
      this.watchWeight(this.publicHttp);
    }
  }

  /**
   * SIGNED endpoints. A -1021 (our timestamp outside the recvWindow) means the exchange refused the request
   * before acting on it, so resyncing the clock and sending it once more cannot double an order.
   */
  async signed<S extends z.ZodType>(call: Call<S>): Promise<z.output<S>> {
    this.gate.check();
    const send = async (): Promise<z.output<S>> => {
      try {
        return await this.signedHttp.request({ method: call.method, path: call.path, query: call.params, schema: call.schema });
      } finally {
        this.watchWeight(this.signedHttp);
      }
    };
    try {
      return await send();
    } catch (error) {
      if (!(error instanceof ClockSkewError)) throw error;
      await this.syncTime();
      this.gate.check();
      return send();
    }
  }

  /**
   * Stops before Binance has to: once the minute's used weight (X-MBX-USED-WEIGHT-1M) nears the budget, calls
   * wait for the next minute, when the count starts again, instead of running into 429s and then a ban.
   */
  private watchWeight(http: HttpClient): void {
    // The snapshot is the latest answer that carried the headers: one already read says nothing new.
    const snapshot = http.lastRateLimit;
    if (snapshot === undefined || this.weightSeen.has(snapshot)) return;
    this.weightSeen.add(snapshot);
    const used = Number(snapshot.headers['x-mbx-used-weight-1m']);
    if (!Number.isFinite(used) || used < this.weightLimit * WEIGHT_HEADROOM) return;
    const now = this.clock.now();
    this.gate.hold(60_000 - (now % 60_000), `request weight ${used} of ${this.weightLimit} used this minute`);
  }

  async syncTime(): Promise<number> {
    return this.clock.sync(async () => (await this.public({ method: 'GET', path: '/fapi/v1/time', schema: serverTimeSchema })).serverTime);
  }
}
