// `tradewire close`, `flatten`, `halt`, `resume`, `reconcile`, `backup` and `signal`: ask the running daemon over HTTP.
import { parse, stringify } from 'lossless-json';
import { requestDaemon, type DaemonAnswer } from './daemon-client.ts';
import { EXIT, type Output } from './output.ts';
import type { CliSettings } from './settings.ts';
import { renderTable } from './table.ts';

export interface ActOptions {
  settings: CliSettings;
  json?: boolean | undefined;
}

type Json = Record<string, unknown>;

const asObject = (body: unknown): Json => (typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Json) : {});
const text = (value: unknown): string => (value === undefined || value === null ? '' : typeof value === 'string' ? value : JSON.stringify(value));

/** The one line for a daemon that could not be reached (exit 3). */
function unreachable(url: string, reason: string, io: Output): number {
  io.err(`tradewire: the daemon is not reachable at ${url} (${reason}): is it running? Start it with \`tradewire start\`, or set TRADEWIRE_URL.`);
  return EXIT.unreachable;
}

/** Says why the admin API refused; exit 1. */
function refusedAdmin(answer: Extract<DaemonAnswer, { reached: true }>, io: Output): number {
  const body = asObject(answer.body);
  if (answer.status === 401) io.err('tradewire: the daemon refused the admin token (401): set ADMIN_TOKEN to the token the daemon runs with.');
  else if (answer.status === 403) io.err(`tradewire: ${text(body.message) || 'the admin API is off: set ADMIN_TOKEN where the daemon runs and restart it'} (403)`);
  else if (answer.status === 404 && body.error === 'not_found') io.err('tradewire: this daemon has no admin API (/api answers 404): update and restart it.');
  else io.err(`tradewire: ${text(body.message) || text(body.error) || `the daemon answered ${answer.status}`}${body.error && body.message ? ` (${text(body.error)})` : ''}`);
  return EXIT.failed;
}

/** Calls the admin API; on success hands the body to `show` (or prints it as JSON with --json). */
async function admin(options: ActOptions, io: Output, method: 'GET' | 'POST', path: string, payload: Json | undefined,
  show: (body: Json) => number, shownFailures: number[] = []): Promise<number> {
  const { settings } = options;
  if (settings.adminToken === undefined) {
    io.err('tradewire: no admin token: set ADMIN_TOKEN (the same token the daemon runs with).');
    return EXIT.failed;
  }
  const url = `${settings.url}/api${path}`;
  const answer = await requestDaemon({ method, url, token: settings.adminToken, body: payload === undefined ? undefined : JSON.stringify(payload) });
  if (!answer.reached) return unreachable(settings.url, answer.reason, io);
  const body = asObject(answer.body);
  if (options.json) {
    io.out(JSON.stringify(answer.body ?? {}, null, 2));
    return answer.status >= 200 && answer.status < 300 ? EXIT.ok : (answer.status === 401 || answer.status === 403 ? refusedAdmin(answer, io) : EXIT.failed);
  }
  // A close or flatten that did not close everything answers 409 with the per-position results: show them, then fail.
  if ((answer.status === 409 && Array.isArray(body.positions)) || shownFailures.includes(answer.status)) {
    show(body);
    return EXIT.failed;
  }
  if (answer.status < 200 || answer.status >= 300) return refusedAdmin(answer, io);
  return show(body);
}

const only = (account: string | undefined): Json => (account === undefined ? {} : { account });

function describeResult(r: Json): string {
  const what = `${text(r.symbol)} (${text(r.side)} ${text(r.quantity)} at ${text(r.account)})`;
  if (r.outcome === 'closed') return `closed ${what} at ${text(r.exitPrice)}: P&L ${text(r.realizedPnl)}`;
  return `${text(r.outcome)}: ${what}: ${text(r.reason)}`;
}

export function runClose(options: ActOptions & { symbol: string; account?: string | undefined }, io: Output): Promise<number> {
  return admin(options, io, 'POST', '/close', { symbol: options.symbol, ...only(options.account) }, (body) => {
    io.out(describeResult(body));
    return body.outcome === 'closed' ? EXIT.ok : EXIT.failed;
  });
}

export function runFlatten(options: ActOptions & { account?: string | undefined }, io: Output): Promise<number> {
  return admin(options, io, 'POST', '/flatten', only(options.account), (body) => {
    const positions = (Array.isArray(body.positions) ? body.positions : []).map(asObject);
    const cancelled = (Array.isArray(body.cancelledEntries) ? body.cancelledEntries : []).map(asObject);
    if (positions.length === 0) io.out('No open positions to close.');
    else {
      const table = {
        columns: [{ header: 'ACCOUNT' }, { header: 'SYMBOL' }, { header: 'SIDE' }, { header: 'QTY', align: 'right' as const },
          { header: 'OUTCOME' }, { header: 'EXIT', align: 'right' as const }, { header: 'P&L', align: 'right' as const }, { header: 'NOTE' }],
        rows: positions.map((r) => [text(r.account), text(r.symbol), text(r.side), text(r.quantity), text(r.outcome), text(r.exitPrice) || '-',
          text(r.realizedPnl) || '-', text(r.reason)]),
      };
      for (const line of renderTable(table)) io.out(line);
    }
    for (const c of cancelled) io.out(`entry order ${text(c.clientOrderId)} (${text(c.symbol)} at ${text(c.account)}): ${text(c.outcome)}${c.reason ? ` ${text(c.reason)}` : ''}`);
    return body.ok === true ? EXIT.ok : EXIT.failed;
  });
}

export function runHalt(options: ActOptions & { account?: string | undefined; reason?: string | undefined }, io: Output): Promise<number> {
  return admin(options, io, 'POST', '/halt', { ...only(options.account), ...(options.reason ? { reason: options.reason } : {}) }, (body) => {
    const accounts = Array.isArray(body.halted) ? body.halted.map(text) : [];
    io.out(`Entries halted at ${accounts.join(', ')} (${text(body.reason)}). Exits, cancels and protection keep working; \`tradewire resume\` lifts it.`);
    return EXIT.ok;
  });
}

export function runResume(options: ActOptions & { account?: string | undefined }, io: Output): Promise<number> {
  return admin(options, io, 'POST', '/resume', only(options.account), (body) => {
    const accounts = Array.isArray(body.resumed) ? body.resumed.map(text) : [];
    io.out(`Entries resumed at ${accounts.join(', ')}.`);
    return EXIT.ok;
  });
}

/** One line per account, then a table of what differed and what was done about it. */
function showReconcile(body: Json, io: Output): number {
  const reports = (Array.isArray(body.reports) ? body.reports : []).map(asObject);
  const rows: string[][] = [];
  for (const report of reports) {
    const differences = (Array.isArray(report.differences) ? report.differences : []).map(asObject);
    if (report.error !== undefined) io.out(`${text(report.account)}: could not be reconciled, the journal is untouched: ${text(report.error)}`);
    else if (differences.length === 0) io.out(`${text(report.account)}: the journal agrees with the broker.`);
    else io.out(`${text(report.account)}: ${differences.length} difference(s), the journal now follows the broker:`);
    for (const d of differences) rows.push([text(report.account), text(d.symbol), text(d.kind), text(d.detail)]);
  }
  if (rows.length > 0) {
    for (const line of renderTable({ columns: [{ header: 'ACCOUNT' }, { header: 'SYMBOL' }, { header: 'DIFFERENCE' }, { header: 'WHAT WAS DONE' }], rows })) io.out(line);
  }
  return body.ok === true ? EXIT.ok : EXIT.failed;
}

export function runReconcile(options: ActOptions, io: Output): Promise<number> {
  // A broker that could not be read answers 502 with the reports: shown, then exit 1.
  return admin(options, io, 'POST', '/reconcile', {}, (body) => showReconcile(body, io), [502]);
}

export function runBackup(options: ActOptions, io: Output): Promise<number> {
  return admin(options, io, 'POST', '/backup', {}, (body) => {
    io.out(`Backup written to ${text(body.file)}`);
    return EXIT.ok;
  });
}

/**
 * Sends an alert to the running daemon's webhook, as TradingView would: the passphrase is added from WEBHOOK_PASSPHRASE
 * (or the config, or the generated file next to the journal) unless the JSON carries one. Numbers keep their text.
 */
export async function runSignal(options: ActOptions & { alert: string; strategy?: string | undefined }, io: Output): Promise<number> {
  let alert: unknown;
  try {
    alert = parse(options.alert);
  } catch (error) {
    io.err(`tradewire: the alert is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT.usage;
  }
  if (typeof alert !== 'object' || alert === null || Array.isArray(alert)) {
    io.err('tradewire: the alert must be a JSON object, such as \'{"ticker":"AAPL","action":"buy","price":"187.5"}\'');
    return EXIT.usage;
  }
  const body = alert as Json;
  if (body.passphrase === undefined) {
    if (options.settings.passphrase === undefined) {
      io.err('tradewire: no webhook passphrase: set WEBHOOK_PASSPHRASE (or put "passphrase" in the alert).');
      return EXIT.failed;
    }
    body.passphrase = options.settings.passphrase;
  }
  const path = options.strategy === undefined ? '/webhook' : `/webhook/${encodeURIComponent(options.strategy)}`;
  const answer = await requestDaemon({ method: 'POST', url: `${options.settings.url}${path}`, body: stringify(body) ?? '{}', timeoutMs: 30_000 });
  if (!answer.reached) return unreachable(options.settings.url, answer.reason, io);
  const reply = asObject(answer.body);
  const accepted = answer.status === 202 || answer.status === 200;
  if (options.json) {
    io.out(JSON.stringify(answer.body ?? { status: answer.status }, null, 2));
    return accepted ? EXIT.ok : EXIT.failed;
  }
  if (accepted) {
    const ignored = Array.isArray(reply.ignored) && reply.ignored.length > 0 ? ` (ignored fields: ${reply.ignored.map(text).join(', ')})` : '';
    io.out(`${text(reply.status)}: signal ${text(reply.signalId)}${ignored}`);
    return EXIT.ok;
  }
  if (answer.status === 401) {
    io.err('tradewire: the daemon refused the passphrase (401): set WEBHOOK_PASSPHRASE to the one it runs with.');
    return EXIT.failed;
  }
  io.err(`tradewire: the daemon refused the alert (${answer.status}): ${JSON.stringify(answer.body ?? '')}`);
  return EXIT.failed;
}
