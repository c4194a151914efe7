// What a chat command does, through the admin API the `tradewire` CLI calls (same routes, same answers): no trading logic here.
import { requestDaemon, type DaemonAnswer, type RequestOptions } from '../../cli/daemon-client.ts';

export interface TradingCommands {
  status(): Promise<string>;
  profit(): Promise<string>;
  halt(reason: string): Promise<string>;
  resume(): Promise<string>;
  flatten(): Promise<string>;
}

type Json = Record<string, unknown>;
const asObject = (v: unknown): Json => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {});
const list = (v: unknown): Json[] => (Array.isArray(v) ? v.map(asObject) : []);
const names = (v: unknown): string => (Array.isArray(v) ? v.map((n) => text(n)).join(', ') : '');
const text = (v: unknown): string => (v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v));

export interface AdminApiOptions {
  /** The daemon's own address, as the CLI's TRADEWIRE_URL (http://127.0.0.1:8080); a function when the port is known only after listen. */
  url: string | (() => string);
  /** The admin token the daemon runs with. */
  token: string;
  request?: (options: RequestOptions) => Promise<DaemonAnswer>;
}

export function adminApiCommands(options: AdminApiOptions): TradingCommands {
  const request = options.request ?? requestDaemon;
  const call = async (method: 'GET' | 'POST', path: string, payload?: Json): Promise<{ status: number; body: Json }> => {
    const base = typeof options.url === 'function' ? options.url() : options.url;
    const answer = await request({ method, url: `${base}/api${path}`, token: options.token,
      body: payload === undefined ? undefined : JSON.stringify(payload), timeoutMs: 60_000 });
    if (!answer.reached) throw new Error(`the admin API is not reachable (${answer.reason})`);
    const body = asObject(answer.body);
    if (answer.status === 401 || answer.status === 403) throw new Error(`the admin API refused (${answer.status}): ${text(body.message) || 'check ADMIN_TOKEN'}`);
    return { status: answer.status, body };
  };
  return {
    async status() {
      const { body } = await call('GET', '/positions');
      const positions = list(body.positions);
      const halted = list(body.accounts).filter((a) => a.halted === true).map((a) => `⛔ ${text(a.account)} halted: ${text(a.haltedReason)}`);
      const lines = positions.map((p) => `${text(p.symbol)} ${text(p.side)} ${text(p.quantity)} @ ${text(p.averageEntryPrice)} (${text(p.account)})`
        + (p.unrealizedPnl !== undefined ? ` uPnL ${text(p.unrealizedPnl)}` : '') + (p.status !== 'open' ? ` [${text(p.status)}]` : ''));
      return [positions.length === 0 ? 'No open positions.' : `${positions.length} open position(s):`, ...lines, ...halted].join('\n');
    },
    async profit() {
      const { body } = await call('GET', '/stats');
      const all = list(body.stats).find((s) => s.strategy === '(all)') ?? list(body.stats)[0];
      if (!all || all.trades === 0) return 'No closed trades yet.';
      return [`Closed trades: ${text(all.trades)} (${text(all.wins)} won, ${text(all.losses)} lost${all.winRatePct !== undefined ? `, ${text(all.winRatePct)}% win rate` : ''})`,
        `Realized P&L: ${text(all.totalPnl)} (fees ${text(all.fees)})`,
        ...(all.profitFactor !== undefined ? [`Profit factor: ${text(all.profitFactor)}`] : []),
        `Max drawdown: ${text(all.maxDrawdown)}`].join('\n');
    },
    async halt(reason) {
      const { status, body } = await call('POST', '/halt', { reason });
      if (status !== 200) throw new Error(text(body.message) || `halt answered ${status}`);
      return `Entries halted at ${names(body.halted)} (${text(body.reason)}). Exits and protection keep working; /resume lifts it.`;
    },
    async resume() {
      const { status, body } = await call('POST', '/resume', {});
      if (status !== 200) throw new Error(text(body.message) || `resume answered ${status}`);
      return `Entries resumed at ${names(body.resumed)}.`;
    },
    async flatten() {
      const { body } = await call('POST', '/flatten', {});
      const positions = list(body.positions);
      const lines = positions.map((r) => `${text(r.symbol)} (${text(r.account)}): ${text(r.outcome)}`
        + (r.outcome === 'closed' ? ` @ ${text(r.exitPrice)}, P&L ${text(r.realizedPnl)}` : r.reason ? `: ${text(r.reason)}` : ''));
      const failedEntries = list(body.cancelledEntries).filter((c) => c.outcome !== 'cancelled').length;
      return [positions.length === 0 ? 'No open positions to close.' : `Flatten: ${body.ok === true ? 'done' : 'NOT everything closed'}`, ...lines,
        ...(failedEntries > 0 ? [`${failedEntries} entry order(s) could not be cancelled`] : [])].join('\n');
    },
  };
}
