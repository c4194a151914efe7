// The `tradewire` command line: one subcommand per operation; exit codes mean something (0 ok, 1 refused or failed, 2 usage, 3 daemon not reachable).
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { runBackup, runClose, runFlatten, runHalt, runReconcile, runResume, runSignal } from './act-commands.ts';
import { checkConfig } from './check-config.ts';
import { consoleOutput, EXIT } from './output.ts';
import { runPositions, runStats, runTrades } from './read-commands.ts';
import { resolveSettings, SettingsError, type CliSettings } from './settings.ts';

const io = consoleOutput;

function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number of days');
  return n;
}

interface CommonOptions { config?: string; db?: string; url?: string; json?: boolean }

async function settingsFor(opts: CommonOptions): Promise<CliSettings | undefined> {
  try {
    return await resolveSettings({ configFile: opts.config, databasePath: opts.db, url: opts.url, env: process.env, warn: io.err });
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    for (const line of error.message.split('\n')) io.err(line);
    process.exitCode = EXIT.failed;
    return undefined;
  }
}

/** Runs a command with its settings resolved; its exit code becomes the process's. */
function withSettings<T extends CommonOptions>(run: (settings: CliSettings, opts: T) => number | Promise<number>) {
  return async (opts: T) => {
    const settings = await settingsFor(opts);
    if (settings) process.exitCode = await run(settings, opts);
  };
}

const program = new Command();
program.name('tradewire').description('TradingView alerts to broker orders, safely.').exitOverride()
  .addHelpText('after', `
Reading commands (positions, trades, stats) read the journal directly; the daemon need not run.
Acting commands (close, flatten, halt, resume, reconcile, backup) ask the running daemon's admin API with ADMIN_TOKEN;
signal posts to its webhook with WEBHOOK_PASSPHRASE.

Exit codes:
  0  done
  1  refused or failed: the daemon said no (a wrong token, nothing to close, a close that did not fill),
     no journal to read, an invalid config
  2  usage: an unknown command or option, a bad value, an alert that is not JSON
  3  the daemon is not reachable (not running, or TRADEWIRE_URL / --url points elsewhere)`);

const readCommand = (name: string, description: string) => program.command(name).description(description)
  .option('-c, --config <file>', 'config file (default: $CONFIG_FILE or config/tradewire.yaml), for the journal\'s path')
  .option('--db <file>', 'the journal (default: $DATABASE_PATH or database.path of the config)')
  .option('--json', 'machine-readable JSON (exact decimals as text)');

const actCommand = (name: string, description: string) => program.command(name).description(description)
  .option('-c, --config <file>', 'config file (default: $CONFIG_FILE or config/tradewire.yaml), for the daemon\'s address')
  .option('--url <url>', 'the daemon (default: $TRADEWIRE_URL, else http://HOST:PORT of the config)')
  .option('--json', 'print the daemon\'s JSON answer');

program.command('start')
  .description('run the daemon in the foreground')
  .option('--role <role>', 'all (everything); api (webhook and admin API); worker (executes signals, watches positions); monitor (watches positions only)', 'all')
  .action(async (opts: { role: string }) => {
    if (!['all', 'api', 'worker', 'monitor'].includes(opts.role)) {
      console.error(`tradewire: unknown role '${opts.role}' (all, api, worker or monitor)`);
      process.exitCode = EXIT.usage;
      return;
    }
    await import('../main.ts').then(async (m) => {
      try {
        const daemon = await m.startDaemon(process.env, undefined, opts.role as 'all' | 'api' | 'worker' | 'monitor');
        const stop = () => { void daemon.stop().then(() => process.exit(0)); };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
        process.on('SIGHUP', () => { void daemon.reload(); });
      } catch (error) {
        if (error instanceof m.StartupError) {
          console.error(error.message);
          process.exit(1);
        }
        throw error;
      }
    });
  });

program.command('redis')
  .description('run the private Redis (a socket under data/redis/) in the foreground, for roles started as separate processes')
  .action(async () => {
    const [{ runPrivateRedis }, { StartupError }] = await Promise.all([import('../ops/private-redis-command.ts'), import('../runtime/roles.ts')]);
    try {
      const supervisor = await runPrivateRedis(process.env);
      const stop = () => { void supervisor.stop().then(() => process.exit(0)); };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    } catch (error) {
      if (error instanceof StartupError) {
        console.error(error.message);
        process.exit(1);
      }
      throw error;
    }
  });

program.command('check-config')
  .description('validate the config file and print the effective config with secrets masked')
  .option('-c, --config <file>', 'config file (default: $CONFIG_FILE or config/tradewire.yaml)')
  .option('--online', "also try each account's credentials against its broker (reads the balance, never orders)")
  .action(async (opts: { config?: string; online?: boolean }) => {
    process.exitCode = await checkConfig({ file: opts.config, env: process.env, online: opts.online, out: (line) => console.log(line) });
  });

readCommand('positions', 'open positions, from the journal (the daemon need not run)')
  .option('--account <name>', 'only this account')
  .action(withSettings((s, opts: CommonOptions & { account?: string }) => runPositions({ databasePath: s.databasePath, json: opts.json, account: opts.account }, io)));

readCommand('trades', 'closed trades, oldest first, from the journal')
  .option('--days <n>', 'only trades closed in the last N days', positiveNumber)
  .option('--strategy <name>', 'only this strategy')
  .option('--csv', 'CSV with exact values, for a spreadsheet')
  .action(withSettings((s, opts: CommonOptions & { days?: number; strategy?: string; csv?: boolean }) =>
    runTrades({ databasePath: s.databasePath, json: opts.json, days: opts.days, strategy: opts.strategy, csv: opts.csv }, io)));

readCommand('stats', 'trades, win rate, P&L, profit factor, max drawdown, fill rate and slippage by strategy')
  .option('--days <n>', 'only the last N days', positiveNumber)
  .option('--strategy <name>', 'only this strategy')
  .action(withSettings((s, opts: CommonOptions & { days?: number; strategy?: string }) =>
    runStats({ databasePath: s.databasePath, json: opts.json, days: opts.days, strategy: opts.strategy }, io)));

actCommand('close', 'close the position in SYMBOL now (exit reason manual)')
  .argument('<symbol>', 'the broker symbol (AAPL, BTCUSDT; NASDAQ:AAPL works too)')
  .option('--account <name>', 'the account, when the symbol is open at several')
  .action(async (symbol: string, opts: CommonOptions & { account?: string }) => {
    const settings = await settingsFor(opts);
    if (settings) process.exitCode = await runClose({ settings, json: opts.json, symbol, account: opts.account }, io);
  });

actCommand('flatten', 'cancel resting entries and close every open position tradewire opened (exit reason manual)')
  .option('--account <name>', 'only this account')
  .action(withSettings((settings, opts: CommonOptions & { account?: string }) => runFlatten({ settings, json: opts.json, account: opts.account }, io)));

actCommand('halt', 'stop new entries and adds (exits, cancels and protection keep working) until resumed')
  .option('--account <name>', 'only this account (default: every account)')
  .option('--reason <text>', 'why, kept with the halt')
  .action(withSettings((settings, opts: CommonOptions & { account?: string; reason?: string }) =>
    runHalt({ settings, json: opts.json, account: opts.account, reason: opts.reason }, io)));

actCommand('resume', 'allow entries again after a halt or the kill switch')
  .option('--account <name>', 'only this account (default: every account)')
  .action(withSettings((settings, opts: CommonOptions & { account?: string }) => runResume({ settings, json: opts.json, account: opts.account }, io)));

actCommand('signal', 'send an alert to the running daemon\'s webhook, as TradingView would (a test alert)')
  .argument('<json>', 'the alert message, e.g. \'{"ticker":"AAPL","action":"buy","price":"187.5"}\'')
  .option('--strategy <name>', 'post to /webhook/<name>')
  .action(async (json: string, opts: CommonOptions & { strategy?: string }) => {
    const settings = await settingsFor(opts);
    if (settings) process.exitCode = await runSignal({ settings, json: opts.json, alert: json, strategy: opts.strategy }, io);
  });

actCommand('reconcile', 'reconcile the journal with every broker now (corrects the journal, never trades)')
  .action(withSettings((settings, opts: CommonOptions) => runReconcile({ settings, json: opts.json }, io)));

actCommand('backup', 'take an online backup of the journal now')
  .action(withSettings((settings, opts: CommonOptions) => runBackup({ settings, json: opts.json }, io)));

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  } else {
    console.error(`tradewire: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
    process.exitCode = EXIT.failed;
  }
}
