// Telegram commands (/status, /profit, /halt, /resume, /flatten with confirmation) by long polling getUpdates,
// from the configured chat only; what each does is the admin API's (TradingCommands), never decided here.
import type { Logger } from '../logger.ts';
import { answerCallback, getUpdates, reply, type TelegramOptions, type TelegramUpdate } from './telegram-api.ts';
import type { TradingCommands } from './trading-commands.ts';

export const FLATTEN_CONFIRM_MS = 60_000;
const CONFIRM_DATA = 'flatten:confirm';

export interface TelegramBotOptions {
  api: TelegramOptions;
  commands: TradingCommands;
  logger: Logger;
  now?: () => number;
  /** getUpdates' long-poll timeout (Telegram holds the request up to this long when nothing is new). */
  pollTimeoutSeconds?: number;
  /** The least time between two polls that came back empty, and the wait after a failed poll (doubling to 60 s). */
  pollIntervalMs?: number;
}

const HELP = 'Commands: /status (open positions), /profit (closed trades), /halt (stop new entries), /resume, /flatten (close everything; asks to confirm)';

export class TelegramBot {
  private offset: number | undefined;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private flattenAskedAt: number | undefined;
  private readonly foreignChats = new Set<string>();
  private readonly now: () => number;
  private startedAt = 0;

  constructor(private readonly options: TelegramBotOptions) {
    this.now = options.now ?? Date.now;
  }

  start(): void {
    if (this.loop) return;
    this.startedAt = this.now();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      timer.unref();
      this.abort.signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
    });
  }

  private async run(): Promise<void> {
    const api = { ...this.options.api, signal: this.abort.signal };
    const interval = this.options.pollIntervalMs ?? 1000;
    let failures = 0;
    while (!this.abort.signal.aborted) {
      const began = this.now();
      const answer = await getUpdates(api, this.offset, this.options.pollTimeoutSeconds ?? 25, this.abort.signal);
      if (this.abort.signal.aborted) return;
      if (!answer.ok) {
        failures += 1;
        const wait = Math.max(answer.retryAfterMs ?? 0, Math.min(60_000, interval * 2 ** Math.min(failures - 1, 6)));
        if (failures === 1 || failures % 10 === 0) {
          this.options.logger.warn({ event: 'notify.telegram.poll_failed', failures, error: answer.error, retryInMs: wait }, `telegram getUpdates failed: ${answer.error}`);
        }
        await this.sleep(wait);
        continue;
      }
      failures = 0;
      // Acknowledged by the next poll's offset, even one that could not be read: it is never delivered again.
      if (answer.lastId !== undefined) this.offset = answer.lastId + 1;
      for (const update of answer.updates) {
        try {
          await this.handle(update, api);
        } catch (error) {
          this.options.logger.error({ event: 'notify.telegram.command_failed', error: error instanceof Error ? error.message : String(error) }, 'telegram command failed');
        }
      }
      if (answer.updates.length === 0 && this.now() - began < interval) await this.sleep(interval);
    }
  }

  private fromOurChat(chatId: string | number): boolean {
    const chat = String(chatId);
    if (chat === this.options.api.chatId) return true;
    if (!this.foreignChats.has(chat)) {
      this.foreignChats.add(chat);
      this.options.logger.warn({ event: 'notify.telegram.foreign_chat', chat }, `telegram: ignoring messages from chat ${chat} (not the configured chat)`);
    }
    return false;
  }

  private async handle(update: TelegramUpdate, api: TelegramOptions): Promise<void> {
    if (update.callback_query) {
      const query = update.callback_query;
      if (!query.message || !this.fromOurChat(query.message.chat.id)) return;
      await answerCallback(api, query.id);
      if (query.data === CONFIRM_DATA) await this.confirmFlatten(api);
      return;
    }
    const message = update.message;
    if (!message?.text || !this.fromOurChat(message.chat.id)) return;
    // A command sent while the daemon was down is not acted on when it comes back: the trader may not want it any more.
    if (message.date !== undefined && message.date * 1000 < this.startedAt - FLATTEN_CONFIRM_MS) {
      this.options.logger.info({ event: 'notify.telegram.stale_command', text: message.text.slice(0, 40) }, 'telegram: ignoring a command sent before the daemon started');
      return;
    }
    const [head = '', ...args] = message.text.trim().split(/\s+/);
    const command = head.toLowerCase().replace(/@\w+$/, '');
    this.options.logger.info({ event: 'notify.telegram.command', command }, `telegram command ${command}`);
    const { commands } = this.options;
    const answer = async (work: () => Promise<string>) => {
      let textOut: string;
      try {
        textOut = await work();
      } catch (error) {
        textOut = `Failed: ${error instanceof Error ? error.message : String(error)}`;
      }
      await reply(api, textOut);
    };
    switch (command) {
      case '/status': return answer(() => commands.status());
      case '/profit': return answer(() => commands.profit());
      case '/halt': return answer(() => commands.halt(args.length > 0 ? `halted from Telegram: ${args.join(' ')}` : 'halted from Telegram'));
      case '/resume': return answer(() => commands.resume());
      case '/flatten':
        if (args[0]?.toLowerCase() === 'confirm') return this.confirmFlatten(api);
        this.flattenAskedAt = this.now();
        await reply(api, 'This closes EVERY open position and cancels resting entries. Send /flatten confirm within 60 s (or tap the button) to go ahead.',
          { reply_markup: { inline_keyboard: [[{ text: 'Yes, flatten everything', callback_data: CONFIRM_DATA }]] } });
        return;
      case '/help':
      case '/start':
        await reply(api, HELP);
        return;
      default:
        if (command.startsWith('/')) await reply(api, `Unknown command ${command}. ${HELP}`);
    }
  }

  private async confirmFlatten(api: TelegramOptions): Promise<void> {
    const asked = this.flattenAskedAt;
    this.flattenAskedAt = undefined;
    if (asked === undefined || this.now() - asked > FLATTEN_CONFIRM_MS) {
      await reply(api, 'No flatten is waiting for confirmation (it lasts 60 s): send /flatten first.');
      return;
    }
    this.options.logger.warn({ event: 'notify.telegram.flatten' }, 'flatten confirmed from Telegram');
    let out: string;
    try {
      out = await this.options.commands.flatten();
    } catch (error) {
      out = `Flatten failed: ${error instanceof Error ? error.message : String(error)}`;
    }
    await reply(api, out);
  }
}
