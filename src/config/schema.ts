// The one zod schema of tradewire's config file: every default of PRODUCT.md lives here, so a minimal file gets them.
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { isDecimalText, toDecimal, type Decimal } from '../domain/money.ts';
import { LEVEL_ANCHORS, parseLevelSize } from '../domain/scale-out.ts';

const DECIMAL_HINT = 'expected a decimal number such as 0.05 (plain digits, no hex, NaN or Infinity)';

/** A decimal from its source text (or a safe integer): YAML floats reach it as text, never as a float. */
export const decimalSchema = z
  .union([z.string(), z.number()], { error: DECIMAL_HINT })
  .transform((value, ctx) => {
    if (typeof value === 'number' && !Number.isSafeInteger(value)) {
      ctx.addIssue({ code: 'custom', message: `${value} is not exact as a number: quote it ("${value}")` });
      return z.NEVER;
    }
    if (typeof value === 'string' && !isDecimalText(value.trim())) {
      ctx.addIssue({ code: 'custom', message: `${DECIMAL_HINT}, got ${JSON.stringify(value)}` });
      return z.NEVER;
    }
    return toDecimal(value);
  });

export const positiveDecimal = decimalSchema.refine((d) => d.gt(0), { message: 'must be greater than 0' });
export const nonNegativeDecimal = decimalSchema.refine((d) => d.gte(0), { message: 'must be 0 or more' });

const positiveInt = z.int().positive();
const nonNegativeInt = z.int().nonnegative();
const nonEmpty = z.string().min(1);

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export const timeZoneSchema = z.string().refine(isTimeZone, { message: 'expected an IANA time zone such as UTC or America/New_York' });
const clockTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected a time of day as HH:MM (24 h)');
const timeWindow = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$/, 'expected a window as HH:MM-HH:MM');

/** The source addresses TradingView sends webhooks from (its documentation lists these four). */
export const TRADINGVIEW_SOURCES = ['52.89.214.238', '34.212.75.30', '54.218.53.128', '52.32.178.7'] as const;

const IPV4 = String.raw`(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}`;
const sourceSchema = z.union([
  z.literal('tradingview'),
  z.string().regex(new RegExp(`^${IPV4}(/([12]?\\d|3[0-2]))?$`), 'expected an IPv4 address, a CIDR such as 10.0.0.0/8, or tradingview'),
  z.ipv6(),
  z.cidrv6(),
]);

const PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal'] as const;
const TRUST_TRUE_MESSAGE = 'true trusts the left-most X-Forwarded-For address, which the client writes: name the proxies instead, ' +
  'trustProxy: 1 for one nginx or Caddy in front (on this host or not), or their addresses, trustProxy: ["127.0.0.1"] (loopback, the default, ' +
  'trusts a proxy on this host)';
const proxyAddress = z.union([z.enum(PROXY_NAMES), z.string().regex(new RegExp(`^${IPV4}(/([12]?\\d|3[0-2]))?$`)), z.ipv6(), z.cidrv6()], {
  error: 'expected an IP address, a CIDR such as 10.0.0.0/8, or loopback, linklocal or uniquelocal',
});

/**
 * Which proxies' X-Forwarded-For entries are believed (express's `trust proxy`): a hop count, or proxy addresses. Never
 * `true`: express then takes the left-most entry, which the client writes, and a forged one would pass the allow-list.
 */
export const trustProxySchema = z.union([
  z.literal(false),
  z.int().min(0).max(10),
  z.enum(PROXY_NAMES),
  z.array(proxyAddress).min(1),
], { error: (issue) => (issue.input === true ? TRUST_TRUE_MESSAGE
  : 'expected a number of proxy hops (1 for one nginx or Caddy in front), a list of proxy addresses or CIDRs, loopback, or false') });

const serverSchema = z.strictObject({
  host: nonEmpty.default('127.0.0.1'),
  port: z.int().min(0).max(65535).default(8080),
  // Behind nginx or Caddy the client address is in X-Forwarded-For: only the named proxies' entries are believed.
  trustProxy: trustProxySchema.default('loopback'),
  bodyLimitBytes: positiveInt.default(65536),
  /** Absent: every source may call; 'tradingview' expands to TradingView's four addresses. */
  allowedSources: z.array(sourceSchema).min(1).optional(),
  adminToken: nonEmpty.optional(),
  /** Wrong admin tokens a source may send a minute; past it, 429 for the rest of the minute (the token is not compared). */
  adminFailedAuthPerMinute: positiveInt.default(10),
  /** Lets a scraper on another host read /metrics with this bearer token (METRICS_TOKEN); absent, /metrics answers loopback only. */
  metricsToken: nonEmpty.optional(),
  /** Where the roles without an HTTP server (worker, monitor) serve /metrics, on server.host; 0 for none. */
  metricsPort: z.int().min(0).max(65535).default(9464),
  queueBoard: z.strictObject({
    /** Failed jobs may be retried from Bull Board at /admin/queues; otherwise the board only shows. */
    allowRetries: z.boolean().default(false),
  }).prefault({}),
  // An alert is a few hundred bytes and TradingView gives up after 3 s: a request still arriving after these is a slow
  // client holding a connection, cut off with 408 (Node's own defaults are 300 s and 60 s).
  requestTimeoutMs: positiveInt.default(10_000),
  headersTimeoutMs: positiveInt.default(5_000),
  /** How long an idle kept-alive connection stays open for the next request. */
  keepAliveTimeoutMs: positiveInt.default(5_000),
  /** Connections open at once; past it a new one is closed at once. Room for a burst of hundreds of alerts. */
  maxConnections: positiveInt.default(1024),
}).refine((server) => server.headersTimeoutMs <= server.requestTimeoutMs, {
  message: 'headersTimeoutMs must not be longer than requestTimeoutMs', path: ['headersTimeoutMs'],
});

const webhookSchema = z.strictObject({
  passphrase: nonEmpty.optional(),
  idDedupeWindowSeconds: positiveInt.default(86400),
  contentDedupeWindowSeconds: nonNegativeInt.default(10),
  maxSignalAgeSeconds: positiveInt.default(60),
  failedAuthPerMinute: positiveInt.default(20),
  strategyRatePerSecond: positiveInt.default(50),
  strategyBurst: positiveInt.default(200),
});

/**
 * Expected entry slippage of a real broker's account when none is configured, in percent: 0.1 % is a few ticks beyond a
 * liquid stock's or a major perpetual's spread, and errs on the side of a smaller position.
 */
export const DEFAULT_EXPECTED_SLIPPAGE_PERCENT = '0.1';

const killSwitchSchema = z.strictObject({
  maxDailyLossPercent: positiveDecimal.prefault('5'),
  flatten: z.boolean().default(true),
});

const accountSizingSchema = z.strictObject({
  expectedSlippagePercent: nonNegativeDecimal.optional().describe(
    'How far (percent of the price) a market or stop entry may fill beyond the price it is sized from. risk_percent and '
    + 'risk_dollar_amount count it into the risk per unit, so a slipped fill with an absolute stop stays within the budget. '
    + `Absent: the paper account's slippagePercent; ${DEFAULT_EXPECTED_SLIPPAGE_PERCENT} for a real broker.`,
  ),
});

// Every account's trading day (kill switch, daily P&L) starts at midnight in its own zone.
const accountCommon = {
  timeZone: timeZoneSchema.default('UTC'),
  killSwitch: killSwitchSchema.prefault({}),
  sizing: accountSizingSchema.prefault({}),
};

const FEED_SOURCES = ['binance-usdm-mark', 'binance-spot-trades', 'alpaca-iex'] as const;

/** A paper account priced by a market feed instead of alerts and the admin API (README: "Paper: prices from a market feed"). */
export const priceFeedSchema = z.strictObject({
  source: z.enum(FEED_SOURCES),
  /** No price for this long: no stop or target fires on the last one, and a market order is refused stale_quote. */
  staleAfterSeconds: positiveInt.default(10),
  /** Symbols watched from the start (the strategies'); open positions, live orders and entries are watched anyway. */
  watch: z.array(nonEmpty).default([]),
  /** tradewire symbol → the venue's, where they differ ({BTCUSD: BTCUSDT}). */
  venueSymbols: z.record(nonEmpty, nonEmpty).default({}),
  /** The stream's address (a proxy, a test); default: the source's own. */
  streamUrl: z.url().optional(),
  /** alpaca-iex: the REST host for the latest trade; default https://data.alpaca.markets. */
  restUrl: z.url().optional(),
  /** alpaca-iex: the user's market-data keys, from the environment (${ALPACA_KEY_ID}, ${ALPACA_SECRET_KEY}). */
  keyId: nonEmpty.optional(),
  secretKey: nonEmpty.optional(),
}).superRefine((feed, ctx) => {
  const alpaca = feed.source === 'alpaca-iex';
  for (const key of ['keyId', 'secretKey'] as const) {
    if (alpaca && feed[key] === undefined) ctx.addIssue({ code: 'custom', path: [key], message: `alpaca-iex needs ${key}, from the environment` });
    if (!alpaca && feed[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `${feed.source} is public: it takes no ${key}` });
  }
  if (!alpaca && feed.restUrl !== undefined) ctx.addIssue({ code: 'custom', path: ['restUrl'], message: 'restUrl goes with alpaca-iex' });
});

const paperAccountSchema = z.strictObject({
  broker: z.literal('paper'),
  currency: z.string().regex(/^[A-Z]{3,5}$/, 'expected a currency code such as USD').default('USD'),
  startingCash: positiveDecimal.prefault('100000'),
  /** A fraction of the notional per fill: 0.001 is 0.1 %. */
  feeRate: nonNegativeDecimal.refine((d) => d.lt(1), { message: 'a fraction of the notional, below 1 (0.001 is 0.1 %)' }).prefault('0'),
  feePerOrder: nonNegativeDecimal.prefault('0'),
  slippagePercent: nonNegativeDecimal.prefault('0.05'),
  /** Absent: paper-<account>.db next to the journal (see the transform on configSchema). */
  ledgerPath: nonEmpty.optional(),
  priceFeed: priceFeedSchema.optional().describe(
    'Prices this paper account from a market feed (binance-usdm-mark, binance-spot-trades, alpaca-iex) instead of alerts and the admin API.',
  ),
  ...accountCommon,
});

const liveFlag = z.boolean().default(false);

const alpacaAccountSchema = z.strictObject({
  broker: z.literal('alpaca'),
  environment: z.enum(['paper', 'live']),
  keyId: nonEmpty,
  secretKey: nonEmpty,
  baseUrl: z.url().optional(),
  live: liveFlag,
  /** Order events over the venue's WebSocket (fills acted on at once); off: the position loop's polling only. */
  streams: z.boolean().default(true),
  /** The trade_updates WebSocket, needed with a baseUrl of one's own; default: the environment's. */
  streamUrl: z.url().optional(),
  ...accountCommon,
});

const binanceAccountSchema = z.strictObject({
  broker: z.literal('binance-usdm'),
  environment: z.enum(['testnet', 'demo', 'live']),
  apiKey: nonEmpty,
  apiSecret: nonEmpty,
  baseUrl: z.url().optional(),
  /** Absent: the leverage already set on the exchange stays. */
  leverage: z.int().min(1).max(125).optional(),
  marginType: z.enum(['isolated', 'cross']).default('isolated'),
  positionMode: z.enum(['one_way', 'hedge']).default('one_way'),
  // Stops on the mark price are not set off by a wick in the last traded price.
  workingType: z.enum(['MARK_PRICE', 'CONTRACT_PRICE']).default('MARK_PRICE'),
  live: liveFlag,
  /** The user data stream (fills acted on at once); off: the position loop's polling only. */
  streams: z.boolean().default(true),
  /** The user data stream's WebSocket host, needed with a baseUrl of one's own; default: the environment's. */
  streamUrl: z.url().optional(),
  ...accountCommon,
});

// Coinbase's sandbox only returns canned answers and Kite has none: these accounts always trade real money.
const realMoneyOnly = z.literal(true, { error: 'this broker has no paper environment: set live: true to confirm real-money trading' });

const coinbaseAccountSchema = z.strictObject({
  broker: z.literal('coinbase'),
  /** The CDP API key name (organizations/.../apiKeys/...). */
  keyName: nonEmpty,
  /** The CDP private key (PEM), from the environment. */
  privateKey: nonEmpty,
  baseUrl: z.url().optional(),
  live: realMoneyOnly,
  ...accountCommon,
});

const ibkrAccountSchema = z.strictObject({
  broker: z.literal('ibkr'),
  // The Client Portal gateway holds the session; paper or live is chosen by the login, so `live` states which.
  gatewayUrl: z.url().default('https://localhost:5000/v1/api'),
  accountId: nonEmpty,
  /** Gateway question ids ('o163') tradewire may confirm on an order; any other question refuses the order. */
  allowedPrompts: z.array(z.string().regex(/^[a-z]?\d+$/, 'a message id such as o163')).default([]),
  /** Absent: off for a gateway on this machine (self-signed certificate), on for any other host; off is refused for another host. */
  verifyCertificate: z.boolean().optional(),
  live: liveFlag,
  ...accountCommon,
}).superRefine((account, ctx) => {
  const host = new URL(account.gatewayUrl).hostname.toLowerCase();
  const local = ['localhost', '127.0.0.1', '[::1]', '::1'].includes(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
  if (account.verifyCertificate === false && !local) {
    ctx.addIssue({ code: 'custom', path: ['verifyCertificate'], message: 'certificate verification can be turned off only for a gateway on this machine (localhost, 127.0.0.1, ::1)' });
  }
});

const zerodhaAccountSchema = z.strictObject({
  broker: z.literal('zerodha'),
  apiKey: nonEmpty,
  apiSecret: nonEmpty,
  /** Expires at 6 AM IST every day: refresh it in the environment. */
  accessToken: nonEmpty,
  baseUrl: z.url().optional(),
  /** Where a bare symbol trades (INFY is NSE:INFY); a symbol elsewhere is written EXCHANGE:TRADINGSYMBOL. */
  exchange: z.enum(['NSE', 'BSE', 'NFO']).default('NSE'),
  /** CNC delivery (no shorting), MIS intraday (squared off by Zerodha before the close), NRML for F&O carried overnight. */
  product: z.enum(['CNC', 'MIS', 'NRML']).default('CNC'),
  /** Sent with every market and stop-market order (SEBI 2026 rules refuse 0): -1 lets Kite choose, 1 to 100 caps the slippage in %. */
  marketProtection: z.union([z.literal(-1), z.int().min(1).max(100)]).default(-1),
  /** GTT legs are limit orders: a stop without its own limit is sent with one this many % beyond its trigger. */
  gttStopLimitPercent: positiveDecimal.refine((d) => d.lte(20), { message: 'at most 20 (%)' }).prefault('2'),
  live: realMoneyOnly,
  ...accountCommon,
});

export const accountSchema = z
  .discriminatedUnion('broker', [
    paperAccountSchema, alpacaAccountSchema, binanceAccountSchema, coinbaseAccountSchema, ibkrAccountSchema, zerodhaAccountSchema,
  ])
  .superRefine((account, ctx) => {
    // A live endpoint needs `live: true` as well, so that a copied environment line never trades real money by itself.
    if ('environment' in account && account.environment === 'live' && account.live !== true) {
      ctx.addIssue({ code: 'custom', path: ['live'], message: 'environment: live needs live: true to confirm real-money trading' });
    }
    if ('environment' in account && account.environment !== 'live' && account.live === true) {
      ctx.addIssue({ code: 'custom', path: ['live'], message: `live: true contradicts environment: ${account.environment}` });
    }
  });

// Cross-field checks read the parsed shape, so they run once the fields themselves are valid.
const noIssuesYet = (payload: { issues: unknown[] }): boolean => payload.issues.length === 0;

const STOP_ANCHORS = ['stopPrice', 'percent', 'amount', 'trailPercent', 'trailAmount'] as const;

export const stopLossSchema = z
  .strictObject({
    type: z.enum(['stop', 'stop_limit', 'trailing_stop']).optional(),
    stopPrice: positiveDecimal.optional(),
    limitPrice: positiveDecimal.optional(),
    percent: positiveDecimal.optional(),
    amount: positiveDecimal.optional(),
    trailPercent: positiveDecimal.optional(),
    trailAmount: positiveDecimal.optional(),
  })
  .superRefine((stop, ctx) => {
    const anchors = STOP_ANCHORS.filter((key) => stop[key] !== undefined);
    if (anchors.length !== 1) {
      ctx.addIssue({ code: 'custom', message: `expected exactly one of ${STOP_ANCHORS.join(', ')}${anchors.length ? `, got ${anchors.join(' and ')}` : ''}` });
    }
    const trailing = stop.trailPercent !== undefined || stop.trailAmount !== undefined;
    if (stop.type !== undefined && (stop.type === 'trailing_stop') !== trailing) {
      ctx.addIssue({ code: 'custom', path: ['type'], message: 'type trailing_stop goes with trailPercent or trailAmount, and only with them' });
    }
    if (stop.limitPrice !== undefined && stop.type !== 'stop_limit') {
      ctx.addIssue({ code: 'custom', path: ['limitPrice'], message: 'limitPrice goes with type: stop_limit' });
    }
  });

const TARGET_ANCHORS = ['limitPrice', 'percent', 'amount'] as const;

export const takeProfitSchema = z
  .strictObject({
    limitPrice: positiveDecimal.optional(),
    percent: positiveDecimal.optional(),
    amount: positiveDecimal.optional(),
  })
  .superRefine((target, ctx) => {
    const anchors = TARGET_ANCHORS.filter((key) => target[key] !== undefined);
    if (anchors.length !== 1) {
      ctx.addIssue({ code: 'custom', message: `expected exactly one of ${TARGET_ANCHORS.join(', ')}${anchors.length ? `, got ${anchors.join(' and ')}` : ''}` });
    }
  });

/** A level's size: "50%" of the position, "rest", or an absolute quantity ("0.5", 10). */
const levelSizeSchema = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const size = parseLevelSize(String(value));
  if (size === undefined || (typeof value === 'number' && !Number.isSafeInteger(value))) {
    ctx.addIssue({ code: 'custom', message: `expected a percent ("50%"), "rest" or a quantity, got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return size;
});

/** One scale-out level: one price anchor and its size. */
export const takeProfitLevelSchema = z
  .strictObject({
    limitPrice: positiveDecimal.optional(),
    percent: positiveDecimal.optional(),
    amount: positiveDecimal.optional(),
    rMultiple: positiveDecimal.optional(),
    size: levelSizeSchema,
  })
  .superRefine((level, ctx) => {
    const anchors = LEVEL_ANCHORS.filter((key) => level[key] !== undefined);
    if (anchors.length !== 1) {
      ctx.addIssue({ code: 'custom', message: `expected exactly one of ${LEVEL_ANCHORS.join(', ')}${anchors.length ? `, got ${anchors.join(' and ')}` : ''}` });
    }
  });

/** A single target (TradersPost's shape), or a list of scale-out levels. */
export const takeProfitOrLevelsSchema = z.union([
  takeProfitSchema,
  z.array(takeProfitLevelSchema).min(1, 'a list of take-profit levels needs at least one level').superRefine((levels, ctx) => {
    levels.forEach((level, index) => {
      if (level.size.kind === 'rest' && index !== levels.length - 1) ctx.addIssue({ code: 'custom', path: [index, 'size'], message: '"rest" goes on the last level only' });
    });
  }),
]);

/** What happens to a trade after its entry: stop moves and a time limit (Managing a trade in the README). */
export const manageSchema = z.strictObject({
  breakeven: z.strictObject({
    afterTarget: positiveInt.optional(),
    atR: positiveDecimal.optional(),
    offsetPercent: nonNegativeDecimal.optional(),
    offset: nonNegativeDecimal.optional(),
  }).superRefine((be, ctx) => {
    if ((be.afterTarget === undefined) === (be.atR === undefined)) ctx.addIssue({ code: 'custom', message: 'expected exactly one of afterTarget, atR' });
    if (be.offsetPercent !== undefined && be.offset !== undefined) ctx.addIssue({ code: 'custom', message: 'give offsetPercent or offset, not both' });
  }).optional(),
  trailAfter: z.strictObject({ rMultiple: positiveDecimal }).optional(),
  trailPercent: positiveDecimal.optional(),
  maxHoldMinutes: positiveInt.optional(),
}).superRefine((manage, ctx) => {
  if ((manage.trailAfter === undefined) !== (manage.trailPercent === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['trailPercent'], message: 'trailAfter and trailPercent go together' });
  }
});

const kellySchema = z.strictObject({
  /** A fraction of trades won, between 0 and 1. */
  winRate: positiveDecimal.refine((d) => d.lt(1), { message: 'a fraction between 0 and 1 (0.55 is 55 %)' }).optional(),
  /** Average win ÷ average loss. */
  payoff: positiveDecimal.optional(),
  /** Share of the full Kelly bet actually taken. */
  fraction: positiveDecimal.refine((d) => d.lte(1), { message: 'at most 1 (full Kelly)' }).prefault('0.5'),
  maxPercent: positiveDecimal.prefault('25'),
  fromJournal: z.boolean().default(false),
});

export const SIZING_MODES = ['fixed_quantity', 'dollar_amount', 'percent_of_equity', 'risk_percent', 'risk_dollar_amount', 'kelly'] as const;

export const sizingSchema = z
  .strictObject({
    mode: z.enum(SIZING_MODES).default('percent_of_equity'),
    value: positiveDecimal.optional(),
    kelly: kellySchema.optional(),
  })
  .superRefine((sizing, ctx) => {
    if (sizing.mode !== 'kelly' && sizing.value === undefined) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `sizing mode ${sizing.mode} needs a value` });
    }
    if (sizing.mode === 'kelly') {
      const kelly = sizing.kelly;
      if (!kelly || (!kelly.fromJournal && (kelly.winRate === undefined || kelly.payoff === undefined))) {
        ctx.addIssue({ code: 'custom', path: ['kelly'], message: 'kelly sizing needs kelly.winRate and kelly.payoff, or kelly.fromJournal: true' });
      }
    }
  });

export const riskSchema = z.strictObject({
  maxOpenPositions: positiveInt.optional(),
  maxPositionPercent: positiveDecimal.optional(),
  maxTotalExposurePercent: positiveDecimal.optional(),
  maxDailyLossPercent: positiveDecimal.optional(),
  cooldownSeconds: nonNegativeInt.optional(),
  maxMarginPercent: positiveDecimal.optional(),
});

export const subscriptionSchema = z.strictObject({
  account: nonEmpty,
  /** Replaces the strategy's sizing for this account. */
  sizing: sizingSchema.optional(),
  /** Merged over the strategy's risk limits for this account. */
  risk: riskSchema.optional(),
  /** false: this account sizes by its own rules even when the alert carries a quantity. */
  quantityFromAlert: z.boolean().default(true),
});

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

const strategyFields = z.strictObject({
  enabled: z.boolean().default(true),
  /** This strategy's own webhook secret, from the environment. */
  passphrase: nonEmpty.optional(),
  /** Shorthand for `subscriptions: [{account: ...}]`. */
  account: nonEmpty.optional(),
  subscriptions: z.array(subscriptionSchema).min(1, 'expected at least one subscription').optional(),
  /** TradingView ticker → broker symbol; unmapped tickers lose their exchange prefix ('NASDAQ:AAPL' → 'AAPL'). */
  symbols: z.record(nonEmpty, nonEmpty).default({}),
  /** Broker symbols (after the map) this strategy may trade; absent: any. */
  allowedSymbols: z.array(nonEmpty).min(1).optional(),
  allowShorts: z.boolean().default(false),
  allowReversal: z.boolean().default(true),
  pyramiding: z.strictObject({
    enabled: z.boolean().default(false),
    maxEntries: positiveInt.default(1),
  }).prefault({}),
  allowAccountOverride: z.boolean().default(false),
  /** Flatten this strategy's positions at sessionEnd every trading day. */
  intraday: z.strictObject({
    enabled: z.boolean().default(false),
    sessionEnd: clockTime,
    timeZone: timeZoneSchema,
  }).optional(),
  /** Entries only inside these windows (a window whose end is before its start runs past midnight). */
  session: z.strictObject({
    timeZone: timeZoneSchema,
    windows: z.array(timeWindow).min(1).default(['09:30-16:00']),
    days: z.array(z.enum(WEEKDAYS)).min(1).default(['mon', 'tue', 'wed', 'thu', 'fri']),
  }).optional(),
  stopLoss: stopLossSchema.prefault({ percent: '2' }),
  takeProfit: takeProfitOrLevelsSchema.prefault({ percent: '4' }),
  /** Stop moves (breakeven, trail after an R multiple) and a time limit for the strategy's trades. */
  manage: manageSchema.optional(),
  sizing: sizingSchema.prefault({ mode: 'percent_of_equity', value: '10' }),
  risk: riskSchema.prefault({}),
  /** Overrides of execution.maxExecutionDelaySeconds and execution.reversalTimeoutSeconds for this strategy. */
  maxExecutionDelaySeconds: positiveInt.optional(),
  reversalTimeoutSeconds: positiveInt.optional(),
});

export const strategySchema = strategyFields
  .superRefine((strategy, ctx) => {
    if (strategy.account === undefined && strategy.subscriptions === undefined) {
      ctx.addIssue({ code: 'custom', path: ['subscriptions'], message: 'expected subscriptions (or the shorthand account: <name>): the accounts this strategy trades' });
    }
    if (strategy.account !== undefined && strategy.subscriptions !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['account'], message: 'give either account or subscriptions, not both' });
    }
    const seen = new Set<string>();
    strategy.subscriptions?.forEach((sub, index) => {
      if (seen.has(sub.account)) ctx.addIssue({ code: 'custom', path: ['subscriptions', index, 'account'], message: `account ${sub.account} is subscribed twice` });
      seen.add(sub.account);
    });
  }, { when: noIssuesYet })
  .transform(({ account, subscriptions, ...strategy }) => ({
    ...strategy,
    subscriptions: subscriptions ?? [{ account: account as string, quantityFromAlert: true }],
  }));

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const nameSchema = z.string().regex(NAME, 'expected a name of letters, digits, _ . - (used in URLs and ids)');

/** Which events a notification channel is sent (every one on unless switched off). */
const notifyEventsSchema = z.strictObject({
  fills: z.boolean().default(true),
  closes: z.boolean().default(true),
  /** Refusals that need a person: protection failed, reversal timeout, a halted account. */
  refusals: z.boolean().default(true),
  errors: z.boolean().default(true),
  killSwitch: z.boolean().default(true),
  dailySummary: z.boolean().default(true),
}).prefault({});

const notifyChannelCommon = {
  enabled: z.boolean().default(true),
  events: notifyEventsSchema,
  /** Events arriving within this long of the first are sent as one message (a burst of fills is one message). */
  batchWindowMs: z.int().min(0).max(60_000).default(2000),
  /** A batched message shows this many lines, then a count of the rest. */
  maxLines: z.int().min(1).max(50).default(10),
};

// The webhook URLs hold their secret in the path: give them from the environment (${DISCORD_WEBHOOK_URL}) so that
// check-config masks them; tradewire never logs them.
const discordChannelSchema = z.strictObject({ type: z.literal('discord'), webhookUrl: z.url(), username: nonEmpty.optional(), ...notifyChannelCommon });
const slackChannelSchema = z.strictObject({ type: z.literal('slack'), webhookUrl: z.url(), ...notifyChannelCommon });
const telegramChannelSchema = z.strictObject({
  type: z.literal('telegram'),
  botToken: nonEmpty,
  /** The one chat the bot writes to and takes commands from (a negative id is a group). */
  chatId: z.union([z.string().regex(/^-?\d+$|^@\w+$/, 'expected a numeric chat id or @channelname'), z.int()]).transform(String),
  /** /status, /profit, /halt, /resume, /flatten from that chat (long polling getUpdates). */
  commands: z.boolean().default(true),
  /** The Bot API's address; for a local Bot API server (or a test). */
  apiUrl: z.url().optional(),
  ...notifyChannelCommon,
});

export const notificationsSchema = z.strictObject({
  channels: z.record(nameSchema, z.discriminatedUnion('type', [discordChannelSchema, slackChannelSchema, telegramChannelSchema])).default({}),
  /** The daily summary's time of day, in UTC (HH:MM); `off` for none. */
  dailySummaryAt: z.union([clockTime, z.literal('off')]).default('21:00'),
  /** Notifications held per channel while a service is slow or down; past it the oldest are dropped (counted). */
  maxQueued: z.int().min(10).max(100_000).default(1000),
}).prefault({});

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const rawConfigSchema = z.strictObject({
  server: serverSchema.prefault({}),
  webhook: webhookSchema.prefault({}),
  redis: z.strictObject({
    /** Unset (or the default): the default address if a Redis answers there, else a private one under data/redis/ (README). */
    url: z.string().regex(/^(rediss?:\/\/|\/)/, 'expected a redis:// or rediss:// URL, or the absolute path of a unix socket').default('redis://127.0.0.1:6379'),
    /** Key prefix: two instances on one Redis never share keys. */
    prefix: nonEmpty.default('tradewire'),
  }).prefault({}),
  database: z.strictObject({ path: nonEmpty.default('data/trading.db') }).prefault({}),
  logging: z.strictObject({ level: z.enum(LOG_LEVELS).default('info') }).prefault({}),
  positions: z.strictObject({ loopIntervalMs: z.int().min(100).default(1000) }).prefault({}),
  retries: z.strictObject({
    attempts: positiveInt.default(3),
    baseDelayMs: positiveInt.default(250),
    maxDelayMs: positiveInt.default(5000),
  }).prefault({}),
  queue: z.strictObject({
    /** Execution lanes: signals for one account and symbol share a lane and run in order; lanes run in parallel. */
    lanes: z.int().min(1).max(256).default(16),
    /** A crashed worker's job is taken up again after about this long (BullMQ's lock, renewed while the job runs). */
    lockDurationSeconds: z.int().min(2).max(300).default(10),
  }).prefault({}),
  execution: z.strictObject({
    maxExecutionDelaySeconds: positiveInt.default(60),
    reversalTimeoutSeconds: positiveInt.default(30),
    maxQuoteAgeSeconds: positiveInt.default(10).describe(
      'An entry sized from a quote older than this fetches it again once, and is refused as stale_quote if it is still older.',
    ),
  }).prefault({}),
  backup: z.strictObject({
    dir: nonEmpty.default('data/backups'),
    keep: positiveInt.default(7),
    /** node-cron expression, in UTC: nightly at 02:30 unless set; `off` for no scheduled backup. */
    cron: nonEmpty.default('30 2 * * *'),
  }).prefault({}),
  accounts: z.record(nameSchema, accountSchema).refine((accounts) => Object.keys(accounts).length > 0, { message: 'expected at least one account' }),
  strategies: z.record(nameSchema, strategySchema).refine((strategies) => Object.keys(strategies).length > 0, { message: 'expected at least one strategy' }),
  notifications: notificationsSchema,
});

export const configSchema = rawConfigSchema
  .superRefine((config, ctx) => {
    for (const [name, strategy] of Object.entries(config.strategies)) {
      strategy.subscriptions.forEach((sub, index) => {
        const account = config.accounts[sub.account];
        const path = ['strategies', name, 'subscriptions', index, 'account'];
        if (!account) {
          ctx.addIssue({ code: 'custom', path, message: `no account named ${sub.account} (configured: ${Object.keys(config.accounts).join(', ')})` });
        } else if (isLiveAccount(account) && config.webhook.passphrase === undefined && strategy.passphrase === undefined) {
          ctx.addIssue({ code: 'custom', path, message: `account ${sub.account} is live: set WEBHOOK_PASSPHRASE or this strategy's passphrase` });
        }
      });
    }
    if (config.retries.maxDelayMs < config.retries.baseDelayMs) {
      ctx.addIssue({ code: 'custom', path: ['retries', 'maxDelayMs'], message: 'must be at least baseDelayMs' });
    }
  }, { when: noIssuesYet })
  .transform((config) => ({
    ...config,
    accounts: Object.fromEntries(
      Object.entries(config.accounts).map(([name, account]) => [
        name,
        account.broker === 'paper'
          // Next to the journal, so that DATABASE_PATH moves a paper account's ledger with it.
          ? { ...account, ledgerPath: account.ledgerPath ?? join(dirname(config.database.path), `paper-${name}.db`) }
          : account,
      ]),
    ),
  }));

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type ServerConfig = Config['server'];
export type WebhookConfig = Config['webhook'];
export type AccountConfig = Config['accounts'][string];
export type PaperAccountConfig = Extract<AccountConfig, { broker: 'paper' }>;
export type PriceFeedConfig = z.output<typeof priceFeedSchema>;
export type AlpacaAccountConfig = Extract<AccountConfig, { broker: 'alpaca' }>;
export type BinanceUsdmAccountConfig = Extract<AccountConfig, { broker: 'binance-usdm' }>;
export type CoinbaseAccountConfig = Extract<AccountConfig, { broker: 'coinbase' }>;
export type IbkrAccountConfig = Extract<AccountConfig, { broker: 'ibkr' }>;
export type ZerodhaAccountConfig = Extract<AccountConfig, { broker: 'zerodha' }>;
export type BrokerName = AccountConfig['broker'];
export type KillSwitchConfig = AccountConfig['killSwitch'];
export type StrategyConfig = Config['strategies'][string];
export type SubscriptionConfig = StrategyConfig['subscriptions'][number];
export type SizingConfig = z.output<typeof sizingSchema>;
export type SizingMode = SizingConfig['mode'];
export type RiskConfig = z.output<typeof riskSchema>;
export type StopLossConfig = z.output<typeof stopLossSchema>;
export type TakeProfitConfig = z.output<typeof takeProfitSchema>;
export type TakeProfitLevelConfig = z.output<typeof takeProfitLevelSchema>;
export type ManageConfig = z.output<typeof manageSchema>;
export type LogLevel = Config['logging']['level'];
export type NotificationsConfig = Config['notifications'];
export type NotifyChannelConfig = NotificationsConfig['channels'][string];

/** The entry slippage sizing reckons with at an account: its own setting, else the paper venue's, else the default. */
export function expectedSlippagePercent(account: AccountConfig): Decimal {
  if (account.sizing.expectedSlippagePercent !== undefined) return account.sizing.expectedSlippagePercent;
  return account.broker === 'paper' ? account.slippagePercent : toDecimal(DEFAULT_EXPECTED_SLIPPAGE_PERCENT);
}

/** Expands the 'tradingview' preset; undefined means every source is allowed. */
export function allowedSourceList(server: ServerConfig): string[] | undefined {
  return server.allowedSources?.flatMap((source) => (source === 'tradingview' ? [...TRADINGVIEW_SOURCES] : [source]));
}

/** Whether an account trades real money (tradewire then never starts without an explicit webhook secret). */
export function isLiveAccount(account: Pick<AccountConfig, 'broker'>): boolean {
  return 'live' in account && account.live === true;
}
