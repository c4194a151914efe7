// The journal's schema as an ordered list of migrations; a released migration is never edited, only followed by a new one.

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/*
 * Conventions every migration keeps:
 * - money, prices and quantities are TEXT holding exact decimal strings (tradewire computes with Decimal, never in SQL);
 * - times are ISO-8601 UTC text as Date#toISOString writes it, so that text order is time order and
 *   leases and claims can be compared in SQL;
 * - views are for people reading the journal with the sqlite3 shell: they CAST before comparing
 *   (as text, '9' > '100') and round float sums for display only.
 */
const JOURNAL_V1 = /* sql */ `
CREATE TABLE signals (
  signal_id    TEXT PRIMARY KEY,                -- tradewire's own ULID, given at intake
  strategy     TEXT NOT NULL,
  user_id      TEXT,                            -- the alert's own id (idempotency key), if it had one
  ticker       TEXT,
  symbol       TEXT,
  action       TEXT,
  sentiment    TEXT,
  payload      TEXT NOT NULL CHECK (json_valid(payload)),  -- the raw alert, secret removed
  received_at  TEXT NOT NULL,
  status       TEXT NOT NULL CHECK (status IN ('received','queued','executed','partial','rejected','failed','duplicate','stale','halted')),
  reason       TEXT,
  content_hash TEXT,
  updated_at   TEXT NOT NULL
);
CREATE INDEX signals_by_user_id ON signals (strategy, user_id, received_at);
CREATE INDEX signals_by_content ON signals (strategy, content_hash, received_at);
CREATE INDEX signals_by_received ON signals (received_at);

CREATE TABLE executions (
  id               INTEGER PRIMARY KEY,
  signal_id        TEXT NOT NULL REFERENCES signals (signal_id),
  account          TEXT NOT NULL,
  strategy         TEXT NOT NULL,
  status           TEXT NOT NULL CHECK (status IN ('queued','running','executed','rejected','failed','stale','halted')),
  reason           TEXT,
  lease_owner      TEXT,
  lease_expires_at TEXT,
  created_at       TEXT NOT NULL,
  updated_at       TEXT NOT NULL,
  UNIQUE (signal_id, account)
);

CREATE TABLE positions (
  id                  TEXT PRIMARY KEY,         -- a ULID: client ids of orders tradewire starts itself derive from it
  account             TEXT NOT NULL,
  strategy            TEXT NOT NULL,
  symbol              TEXT NOT NULL,
  side                TEXT NOT NULL CHECK (side IN ('long','short')),
  quantity            TEXT NOT NULL,
  average_entry_price TEXT NOT NULL,
  entry_fees          TEXT NOT NULL DEFAULT '0',
  stop_price          TEXT,
  target_price        TEXT,
  trail_percent       TEXT,
  trail_amount        TEXT,
  high_water          TEXT,
  low_water           TEXT,
  protection          TEXT CHECK (protection IN ('native','attached','after_fill','emulated')),
  status              TEXT NOT NULL CHECK (status IN ('opening','open','closing','closed','external')),
  claimed_by          TEXT,
  claim_expires_at    TEXT,
  opened_at           TEXT NOT NULL,
  updated_at          TEXT NOT NULL,
  trading_day         TEXT NOT NULL,
  signal_id           TEXT REFERENCES signals (signal_id)
);
-- One-way positions: at most one live (not closed) position per account and symbol.
CREATE UNIQUE INDEX positions_one_live ON positions (account, symbol) WHERE status <> 'closed';
CREATE INDEX positions_by_status ON positions (status, account);

CREATE TABLE executed_orders (
  id                       INTEGER PRIMARY KEY,
  client_order_id          TEXT NOT NULL UNIQUE,
  broker_order_id          TEXT,
  signal_id                TEXT REFERENCES signals (signal_id),
  execution_id             INTEGER REFERENCES executions (id),
  position_id              TEXT REFERENCES positions (id),
  parent_client_order_id   TEXT,                -- a bracket leg's entry
  replaces_client_order_id TEXT,                -- the order this one replaced (the old one ends 'replaced')
  account                  TEXT NOT NULL,
  strategy                 TEXT NOT NULL,
  symbol                   TEXT NOT NULL,
  side                     TEXT NOT NULL CHECK (side IN ('buy','sell')),
  leg                      TEXT NOT NULL CHECK (leg IN ('entry','stop','target','exit')),
  type                     TEXT NOT NULL CHECK (type IN ('market','limit','stop','stop_limit','trailing_stop')),
  quantity                 TEXT NOT NULL,
  limit_price              TEXT,
  stop_price               TEXT,
  trail_amount             TEXT,
  trail_percent            TEXT,
  time_in_force            TEXT,
  status                   TEXT NOT NULL CHECK (status IN ('pending_submit','submitted','accepted','held','partially_filled','pending_cancel','unknown','filled','cancelled','rejected','expired','replaced')),
  filled_quantity          TEXT NOT NULL DEFAULT '0',
  average_fill_price       TEXT,
  reason                   TEXT,
  created_at               TEXT NOT NULL,
  updated_at               TEXT NOT NULL
);
CREATE INDEX executed_orders_by_account_symbol ON executed_orders (account, symbol, status);
CREATE INDEX executed_orders_by_signal ON executed_orders (signal_id);
CREATE INDEX executed_orders_by_position ON executed_orders (position_id);
CREATE INDEX executed_orders_by_broker_id ON executed_orders (account, broker_order_id);

CREATE TABLE order_events (
  id          INTEGER PRIMARY KEY,
  order_id    INTEGER NOT NULL REFERENCES executed_orders (id),
  from_status TEXT,                             -- NULL for the intent itself
  to_status   TEXT NOT NULL,
  detail      TEXT CHECK (detail IS NULL OR json_valid(detail)),
  at          TEXT NOT NULL
);
CREATE INDEX order_events_by_order ON order_events (order_id, id);

CREATE TABLE fills (
  id             TEXT PRIMARY KEY,
  broker_fill_id TEXT NOT NULL,                 -- the broker's trade/execution id (generated where the broker has none)
  order_id       INTEGER NOT NULL REFERENCES executed_orders (id),
  account        TEXT NOT NULL,
  symbol         TEXT NOT NULL,
  side           TEXT NOT NULL CHECK (side IN ('buy','sell')),
  quantity       TEXT NOT NULL,
  price          TEXT NOT NULL,
  fee            TEXT NOT NULL DEFAULT '0',
  fee_currency   TEXT,
  liquidity      TEXT CHECK (liquidity IS NULL OR liquidity IN ('maker','taker')),
  at             TEXT NOT NULL,
  UNIQUE (account, broker_fill_id)
);
CREATE INDEX fills_by_order ON fills (order_id);

CREATE TABLE closed_positions (
  id               INTEGER PRIMARY KEY,
  position_id      TEXT NOT NULL REFERENCES positions (id),
  account          TEXT NOT NULL,
  strategy         TEXT NOT NULL,
  symbol           TEXT NOT NULL,
  side             TEXT NOT NULL CHECK (side IN ('long','short')),
  quantity         TEXT NOT NULL,
  entry_price      TEXT NOT NULL,
  exit_price       TEXT NOT NULL,
  realized_pnl     TEXT NOT NULL,               -- net of fees
  realized_pnl_pct TEXT,
  fees             TEXT NOT NULL DEFAULT '0',
  exit_reason      TEXT NOT NULL CHECK (exit_reason IN ('take_profit','stop_loss','trailing_stop','signal','manual','kill_switch','session_end','reconcile','liquidation')),
  opened_at        TEXT NOT NULL,
  closed_at        TEXT NOT NULL,
  trading_day      TEXT NOT NULL
);
CREATE INDEX closed_positions_by_day ON closed_positions (account, trading_day);
CREATE INDEX closed_positions_by_strategy ON closed_positions (strategy, closed_at);
CREATE INDEX closed_positions_by_position ON closed_positions (position_id);

CREATE TABLE equity_snapshots (
  account        TEXT NOT NULL,
  trading_day    TEXT NOT NULL,
  equity         TEXT NOT NULL,
  cash           TEXT NOT NULL,
  realized_pnl   TEXT NOT NULL,
  unrealized_pnl TEXT NOT NULL,
  at             TEXT NOT NULL,
  PRIMARY KEY (account, trading_day)
);

CREATE TABLE account_state (
  account          TEXT PRIMARY KEY,
  halted           INTEGER NOT NULL DEFAULT 0 CHECK (halted IN (0, 1)),
  halted_reason    TEXT,
  halted_until_day TEXT,                        -- NULL: until resumed by hand
  day_start_equity TEXT,
  trading_day      TEXT,
  updated_at       TEXT NOT NULL
);

-- Display rounding: ROUND on the nearest double of 123.455 (123.45499999...) gives 123.45. Scaling by
-- (1 + 1e-12) first makes a half round away from zero, as a person rounding by hand expects, for any
-- amount of up to about twelve significant digits. Display only: decisions use the exact text columns.
CREATE VIEW v_open_positions AS
SELECT id, account, strategy, symbol, side, quantity, average_entry_price, entry_fees, stop_price, target_price,
       trail_percent, trail_amount, protection, status, claimed_by, claim_expires_at, opened_at, trading_day, signal_id
FROM positions
WHERE status <> 'closed'
ORDER BY account, symbol;

CREATE VIEW v_trades AS
SELECT id, position_id, account, strategy, symbol, side, quantity, entry_price, exit_price,
       ROUND(CAST(realized_pnl AS REAL) * (1 + 1e-12), 2)     AS realized_pnl,
       ROUND(CAST(realized_pnl_pct AS REAL) * (1 + 1e-12), 2) AS realized_pnl_pct,
       ROUND(CAST(fees AS REAL) * (1 + 1e-12), 2)             AS fees,
       exit_reason, opened_at, closed_at, trading_day
FROM closed_positions
ORDER BY closed_at, id;

CREATE VIEW v_daily_pnl AS
SELECT account, trading_day,
       COUNT(*)                                                          AS trades,
       SUM(CASE WHEN CAST(realized_pnl AS REAL) > 0 THEN 1 ELSE 0 END)   AS wins,
       ROUND(SUM(CAST(realized_pnl AS REAL)) * (1 + 1e-12), 2)           AS realized_pnl,
       ROUND(SUM(CAST(fees AS REAL)) * (1 + 1e-12), 2)                   AS fees
FROM closed_positions
GROUP BY account, trading_day
ORDER BY account, trading_day;

CREATE VIEW v_strategy_stats AS
SELECT strategy,
       COUNT(*)                                                                          AS trades,
       SUM(CASE WHEN CAST(realized_pnl AS REAL) > 0 THEN 1 ELSE 0 END)                   AS wins,
       ROUND(100.0 * SUM(CASE WHEN CAST(realized_pnl AS REAL) > 0 THEN 1 ELSE 0 END) / COUNT(*) * (1 + 1e-12), 2) AS win_rate_pct,
       ROUND(SUM(CAST(realized_pnl AS REAL)) * (1 + 1e-12), 2)                           AS total_pnl,
       ROUND(SUM(CAST(realized_pnl AS REAL)) / COUNT(*) * (1 + 1e-12), 2)                AS avg_pnl,
       ROUND(SUM(CAST(fees AS REAL)) * (1 + 1e-12), 2)                                   AS fees
FROM closed_positions
GROUP BY strategy
ORDER BY strategy;
`;

// The unrealized P&L the account held when its trading day began: what a position carried in from yesterday had
// already gained or lost is not today's, so the kill switch counts only the move since (NULL: nothing was held).
const DAY_START_UNREALIZED_V2 = `
ALTER TABLE account_state ADD COLUMN day_start_unrealized TEXT;
`;

// Funding of perpetual futures (Binance): each settlement once, and the position whose fees it went into.
const FUNDING_V3 = `
CREATE TABLE funding_payments (
  account      TEXT NOT NULL,
  broker_id    TEXT NOT NULL,                   -- the broker's transaction id
  symbol       TEXT NOT NULL,
  amount       TEXT NOT NULL,                   -- signed: received > 0, paid < 0
  asset        TEXT NOT NULL,
  position_id  TEXT REFERENCES positions (id),  -- NULL: no tradewire position held the symbol then
  at           TEXT NOT NULL,
  PRIMARY KEY (account, broker_id)
);
CREATE INDEX funding_by_position ON funding_payments (position_id);
`;

// Managing a trade: scale-out target orders name their level; a trade closed for its time limit says so
// (exit_reason 'time', which needs the table rebuilt: SQLite cannot alter a CHECK); v_trades shows the P&L in R
// (against the position's first stop: its initial risk), and v_level_fills each partial exit with its level.
const TRADE_MANAGEMENT_V4 = `
ALTER TABLE executed_orders ADD COLUMN level INTEGER;

DROP VIEW v_trades;
DROP VIEW v_daily_pnl;
DROP VIEW v_strategy_stats;

CREATE TABLE closed_positions_v4 (
  id               INTEGER PRIMARY KEY,
  position_id      TEXT NOT NULL REFERENCES positions (id),
  account          TEXT NOT NULL,
  strategy         TEXT NOT NULL,
  symbol           TEXT NOT NULL,
  side             TEXT NOT NULL CHECK (side IN ('long','short')),
  quantity         TEXT NOT NULL,
  entry_price      TEXT NOT NULL,
  exit_price       TEXT NOT NULL,
  realized_pnl     TEXT NOT NULL,
  realized_pnl_pct TEXT,
  fees             TEXT NOT NULL DEFAULT '0',
  exit_reason      TEXT NOT NULL CHECK (exit_reason IN ('take_profit','stop_loss','trailing_stop','signal','manual','kill_switch','session_end','reconcile','liquidation','time')),
  opened_at        TEXT NOT NULL,
  closed_at        TEXT NOT NULL,
  trading_day      TEXT NOT NULL
);
INSERT INTO closed_positions_v4 SELECT id, position_id, account, strategy, symbol, side, quantity, entry_price, exit_price, realized_pnl,
  realized_pnl_pct, fees, exit_reason, opened_at, closed_at, trading_day FROM closed_positions;
DROP TABLE closed_positions;
ALTER TABLE closed_positions_v4 RENAME TO closed_positions;
CREATE INDEX closed_positions_by_day ON closed_positions (account, trading_day);
CREATE INDEX closed_positions_by_strategy ON closed_positions (strategy, closed_at);
CREATE INDEX closed_positions_by_position ON closed_positions (position_id);

-- The stop a position was opened with: its first stop order's price before any amendment moved it (a trailing
-- stop's first level is not kept: no R).
CREATE VIEW v_initial_stops AS
SELECT position_id,
       COALESCE((SELECT json_extract(e.detail, '$.before.stopPrice') FROM order_events e
                 WHERE e.order_id = o.id AND json_extract(e.detail, '$.amended') = 1 AND json_extract(e.detail, '$.before.stopPrice') IS NOT NULL
                 ORDER BY e.id LIMIT 1), stop_price) AS initial_stop
FROM executed_orders o
WHERE leg = 'stop' AND stop_price IS NOT NULL AND position_id IS NOT NULL
  AND id = (SELECT MIN(id) FROM executed_orders f WHERE f.position_id = o.position_id AND f.leg = 'stop' AND f.stop_price IS NOT NULL);

CREATE VIEW v_trades AS
SELECT c.id, c.position_id, c.account, c.strategy, c.symbol, c.side, c.quantity, c.entry_price, c.exit_price,
       ROUND(CAST(c.realized_pnl AS REAL) * (1 + 1e-12), 2)     AS realized_pnl,
       ROUND(CAST(c.realized_pnl_pct AS REAL) * (1 + 1e-12), 2) AS realized_pnl_pct,
       ROUND(CAST(c.fees AS REAL) * (1 + 1e-12), 2)             AS fees,
       c.exit_reason, c.opened_at, c.closed_at, c.trading_day,
       ROUND(CAST(c.realized_pnl AS REAL)
             / NULLIF(ABS(CAST(c.entry_price AS REAL) - CAST(s.initial_stop AS REAL)) * CAST(c.quantity AS REAL), 0), 2) AS r_multiple
FROM closed_positions c
LEFT JOIN v_initial_stops s ON s.position_id = c.position_id
ORDER BY c.closed_at, c.id;

-- Each fill of a scale-out target, with its level: the partial exits of a trade, one row each.
CREATE VIEW v_level_fills AS
SELECT o.position_id, o.level, o.client_order_id, f.id AS fill_id, f.quantity, f.price, f.fee, f.at
FROM fills f JOIN executed_orders o ON o.id = f.order_id
WHERE o.level IS NOT NULL
ORDER BY o.position_id, o.level, f.at;

CREATE VIEW v_daily_pnl AS
SELECT account, trading_day,
       COUNT(*)                                                          AS trades,
       SUM(CASE WHEN CAST(realized_pnl AS REAL) > 0 THEN 1 ELSE 0 END)   AS wins,
       ROUND(SUM(CAST(realized_pnl AS REAL)) * (1 + 1e-12), 2)           AS realized_pnl,
       ROUND(SUM(CAST(fees AS REAL)) * (1 + 1e-12), 2)                   AS fees
FROM closed_positions
GROUP BY account, trading_day
ORDER BY account, trading_day;

CREATE VIEW v_strategy_stats AS
SELECT strategy,
       COUNT(*)                                                                          AS trades,
       SUM(CASE WHEN CAST(realized_pnl AS REAL) > 0 THEN 1 ELSE 0 END)                   AS wins,
       ROUND(100.0 * SUM(CASE WHEN CAST(realized_pnl AS REAL) > 0 THEN 1 ELSE 0 END) / COUNT(*) * (1 + 1e-12), 2) AS win_rate_pct,
       ROUND(SUM(CAST(realized_pnl AS REAL)) * (1 + 1e-12), 2)                           AS total_pnl,
       ROUND(SUM(CAST(realized_pnl AS REAL)) / COUNT(*) * (1 + 1e-12), 2)                AS avg_pnl,
       ROUND(SUM(CAST(fees AS REAL)) * (1 + 1e-12), 2)                                   AS fees
FROM closed_positions
GROUP BY strategy
ORDER BY strategy;
`;

/** Every migration, in order; versions start at 1 and have no gaps. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'journal', sql: JOURNAL_V1 },
  { version: 2, name: 'day start unrealized', sql: DAY_START_UNREALIZED_V2 },
  { version: 3, name: 'funding payments', sql: FUNDING_V3 },
  { version: 4, name: 'trade management', sql: TRADE_MANAGEMENT_V4 },
];
