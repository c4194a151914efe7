// A seeded fault storm for the broker fakes: each private request draws what goes wrong from one reproducible PRNG.
//
// The same seed gives the same sequence of draws, so a storm that finds a defect can be replayed. What a draw means
// at the wire is the fake's business (its 5xx body, its 429's headers); this module only decides which fault, if any.

export interface StormOptions {
  seed: number;
  /** Share of private requests answered 5xx (default 0.3); half of them after the venue carried the request out. */
  serverErrorRate?: number | undefined;
  /** Share of private requests never answered in time (default 0.1); half of them after the venue carried the request out. */
  timeoutRate?: number | undefined;
  /** Chance that a request starts a burst of 429s (default 0.03). */
  rateLimitBurstRate?: number | undefined;
  /** How many requests in a row one burst refuses, inclusive range (default 2..4). */
  burstLength?: readonly [number, number] | undefined;
  /** The Retry-After of a 429, in seconds (default 1; never 0, a venue that limits says for how long). */
  retryAfterSeconds?: number | undefined;
  /** How long a timed-out request hangs before its (late, unread) answer, in ms: longer than the adapter's timeout (default 1000). */
  hangMs?: number | undefined;
  /** One IP ban (418) at this private request (1-based); only fakes that model bans (Binance) act on it. */
  banAtRequest?: number | undefined;
  /** The ban's Retry-After, in seconds (default 120: Binance's shortest ban). */
  banSeconds?: number | undefined;
}

export type StormDraw =
  | { kind: 'none' }
  | { kind: 'server_error'; status: 500 | 502 | 503; afterExecution: boolean }
  | { kind: 'timeout'; afterExecution: boolean }
  | { kind: 'rate_limited'; retryAfterSeconds: number }
  | { kind: 'banned'; retryAfterSeconds: number };

/** What a storm did, for a summary and for the test to know the faults really happened. */
export interface StormStats {
  requests: number;
  serverErrors: number;
  serverErrorsAfterExecution: number;
  timeouts: number;
  timeoutsAfterExecution: number;
  rateLimited: number;
  bursts: number;
  bans: number;
}

/** mulberry32: a small, fast 32-bit PRNG; good enough to spread faults, and exactly reproducible from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export class Storm {
  readonly stats: StormStats = { requests: 0, serverErrors: 0, serverErrorsAfterExecution: 0, timeouts: 0, timeoutsAfterExecution: 0, rateLimited: 0, bursts: 0, bans: 0 };
  readonly hangMs: number;
  private readonly random: () => number;
  private readonly serverErrorRate: number;
  private readonly timeoutRate: number;
  private readonly burstRate: number;
  private readonly burstLength: readonly [number, number];
  private readonly retryAfterSeconds: number;
  private burstLeft = 0;

  constructor(private readonly options: StormOptions) {
    this.random = seededRandom(options.seed);
    this.serverErrorRate = options.serverErrorRate ?? 0.3;
    this.timeoutRate = options.timeoutRate ?? 0.1;
    this.burstRate = options.rateLimitBurstRate ?? 0.03;
    this.burstLength = options.burstLength ?? [2, 4];
    this.retryAfterSeconds = Math.max(1, options.retryAfterSeconds ?? 1);
    this.hangMs = options.hangMs ?? 1_000;
    if (this.serverErrorRate + this.timeoutRate + this.burstRate > 1) throw new Error('storm: the rates add up to more than 1');
  }

  /** What the next private request meets. Every call consumes the same number of draws, so one seed is one storm. */
  draw(): StormDraw {
    this.stats.requests += 1;
    const roll = this.random();
    const half = this.random() < 0.5;
    const pick = this.random();
    if (this.options.banAtRequest === this.stats.requests) {
      this.stats.bans += 1;
      return { kind: 'banned', retryAfterSeconds: this.options.banSeconds ?? 120 };
    }
    if (this.burstLeft > 0) {
      this.burstLeft -= 1;
      this.stats.rateLimited += 1;
      return { kind: 'rate_limited', retryAfterSeconds: this.retryAfterSeconds };
    }
    if (roll < this.serverErrorRate) {
      this.stats.serverErrors += 1;
      if (half) this.stats.serverErrorsAfterExecution += 1;
      return { kind: 'server_error', status: pick < 1 / 3 ? 500 : pick < 2 / 3 ? 502 : 503, afterExecution: half };
    }
    if (roll < this.serverErrorRate + this.timeoutRate) {
      this.stats.timeouts += 1;
      if (half) this.stats.timeoutsAfterExecution += 1;
      return { kind: 'timeout', afterExecution: half };
    }
    if (roll < this.serverErrorRate + this.timeoutRate + this.burstRate) {
      const [min, max] = this.burstLength;
      this.burstLeft = min - 1 + Math.floor(pick * (max - min + 1));
      this.stats.bursts += 1;
      this.stats.rateLimited += 1;
      return { kind: 'rate_limited', retryAfterSeconds: this.retryAfterSeconds };
    }
    return { kind: 'none' };
  }
}
