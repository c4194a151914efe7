// The `tradewire` command line: one subcommand per operation; exit codes mean something (0 ok, 1 refused or invalid, 2 usage).
import { Command } from 'commander';
import { checkConfig } from './check-config.ts';

const program = new Command();
program.name('tradewire').description('TradingView alerts to broker orders, safely.').exitOverride();

program.command('start')
  .description('run the daemon in the foreground')
  .option('--role <role>', 'all (everything), api (webhook and HTTP only) or worker (executes queued signals only)', 'all')
  .action(async (opts: { role: string }) => {
    if (!['all', 'api', 'worker'].includes(opts.role)) {
      console.error(`tradewire: unknown role '${opts.role}' (all, api or worker)`);
      process.exitCode = 2;
      return;
    }
    await import('../main.ts').then(async (m) => {
      try {
        const daemon = await m.startDaemon(process.env, undefined, opts.role as 'all' | 'api' | 'worker');
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

program.command('check-config')
  .description('validate the config file and print the effective config with secrets masked')
  .option('-c, --config <file>', 'config file (default: $CONFIG_FILE or config/tradewire.yaml)')
  .action(async (opts: { config?: string }) => {
    process.exitCode = await checkConfig({ file: opts.config, env: process.env, out: (line) => console.log(line) });
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  const code = (error as { exitCode?: number }).exitCode;
  process.exitCode = code === 0 ? 0 : 2;
}
