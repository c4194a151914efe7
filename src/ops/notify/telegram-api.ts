// Telegram Bot API calls: sendMessage and getUpdates, with the {ok, result} / {ok:false, error_code, description, parameters} answers.
import { z } from 'zod';
import { postJson, type FetchLike, type SendResult, type Sender } from './sender.ts';

export const TELEGRAM_API = 'https://api.telegram.org';

const failure = z.object({
  ok: z.literal(false),
  error_code: z.number().optional(),
  description: z.string().optional(),
  parameters: z.object({ retry_after: z.number().optional() }).partial().optional(),
});

const chatSchema = z.object({ id: z.union([z.number(), z.string()]) });
const messageSchema = z.object({ message_id: z.number(), date: z.number().optional(), chat: chatSchema, text: z.string().optional() });
const updateSchema = z.object({
  update_id: z.number().int(),
  message: messageSchema.optional(),
  callback_query: z.object({ id: z.string(), data: z.string().optional(), message: messageSchema.optional() }).optional(),
});
const updatesAnswer = z.object({ ok: z.literal(true), result: z.array(z.unknown()) });

export type TelegramUpdate = z.infer<typeof updateSchema>;

/** Escapes text for parse_mode HTML (the only three characters Telegram asks for). */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export interface TelegramOptions {
  botToken: string;
  chatId: string;
  apiUrl?: string | undefined;
  fetch?: FetchLike;
  signal?: AbortSignal;
}

const methodUrl = (options: TelegramOptions, method: string) => `${options.apiUrl ?? TELEGRAM_API}/bot${options.botToken}/${method}`;

async function readFailure(answer: Response): Promise<SendResult> {
  let json: unknown;
  try { json = await answer.json(); } catch { json = undefined; }
  const parsed = failure.safeParse(json);
  const code = parsed.success ? parsed.data.error_code ?? answer.status : answer.status;
  const description = parsed.success ? parsed.data.description ?? '' : '';
  const retryAfter = parsed.success ? parsed.data.parameters?.retry_after : undefined;
  if (code === 429) return { ok: false, retryable: true, retryAfterMs: retryAfter === undefined ? undefined : retryAfter * 1000, error: `telegram 429: ${description}` };
  return { ok: false, retryable: code >= 500, error: `telegram ${code}: ${description}` };
}

export function telegramSender(options: TelegramOptions): Sender {
  const fetchImpl = options.fetch ?? fetch;
  return {
    service: 'telegram',
    maxLength: 4096,
    async send(text: string): Promise<SendResult> {
      const answer = await postJson(fetchImpl, methodUrl(options, 'sendMessage'),
        { chat_id: options.chatId, text: escapeHtml(text), parse_mode: 'HTML', disable_web_page_preview: true }, options.signal);
      if (!(answer instanceof Response)) return answer;
      if (answer.ok) {
        const body = (await answer.json().catch(() => undefined)) as { ok?: unknown } | undefined;
        if (body?.ok === true) return { ok: true };
      }
      return readFailure(answer);
    },
  };
}

/** One long poll: the updates after `offset` (each validated; malformed ones skipped but still acknowledged). */
export async function getUpdates(options: TelegramOptions, offset: number | undefined, timeoutSeconds: number, signal: AbortSignal):
  Promise<{ ok: true; updates: TelegramUpdate[]; lastId?: number | undefined } | Extract<SendResult, { ok: false }>> {
  const fetchImpl = options.fetch ?? fetch;
  let answer: Response;
  try {
    answer = await fetchImpl(methodUrl(options, 'getUpdates'), {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ offset, timeout: timeoutSeconds, allowed_updates: ['message', 'callback_query'] }),
      signal: AbortSignal.any([signal, AbortSignal.timeout((timeoutSeconds + 10) * 1000)]),
    });
  } catch (error) {
    return { ok: false, retryable: true, error: error instanceof Error && error.name === 'AbortError' ? 'stopped' : 'network error' };
  }
  if (!answer.ok) return readFailure(answer) as Promise<Extract<SendResult, { ok: false }>>;
  const parsed = updatesAnswer.safeParse(await answer.json().catch(() => undefined));
  if (!parsed.success) return { ok: false, retryable: true, error: 'telegram getUpdates: unexpected answer' };
  let lastId: number | undefined;
  const updates: TelegramUpdate[] = [];
  for (const raw of parsed.data.result) {
    const id = (raw as { update_id?: unknown }).update_id;
    if (typeof id === 'number') lastId = Math.max(lastId ?? id, id);
    const update = updateSchema.safeParse(raw);
    if (update.success) updates.push(update.data);
  }
  return { ok: true, updates, lastId };
}

/** Answers a command (not batched: a person is waiting for it). */
export async function reply(options: TelegramOptions, text: string, extra: Record<string, unknown> = {}): Promise<SendResult> {
  const answer = await postJson(options.fetch ?? fetch, methodUrl(options, 'sendMessage'),
    { chat_id: options.chatId, text: escapeHtml(text), parse_mode: 'HTML', disable_web_page_preview: true, ...extra }, options.signal);
  if (!(answer instanceof Response)) return answer;
  return answer.ok ? { ok: true } : readFailure(answer);
}

export async function answerCallback(options: TelegramOptions, callbackQueryId: string): Promise<void> {
  await postJson(options.fetch ?? fetch, methodUrl(options, 'answerCallbackQuery'), { callback_query_id: callbackQueryId }, options.signal);
}
