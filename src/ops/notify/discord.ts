// Discord webhook sender: POST {content}; 204 (or 200) is sent, 429 carries retry_after in seconds in its JSON body.
import { z } from 'zod';
import { excerpt, postJson, retryAfterHeader, type FetchLike, type SendResult, type Sender } from './sender.ts';

const rateLimited = z.object({ retry_after: z.number().nonnegative(), message: z.string().optional(), global: z.boolean().optional() });
const failure = z.object({ message: z.string(), code: z.number().optional() });

export function discordSender(options: { webhookUrl: string; username?: string | undefined; fetch?: FetchLike; signal?: AbortSignal }): Sender {
  const fetchImpl = options.fetch ?? fetch;
  return {
    service: 'discord',
    maxLength: 2000,
    async send(text: string): Promise<SendResult> {
      // allowed_mentions: a symbol or reason that reads like @everyone never pings a server.
      const body = { content: text, allowed_mentions: { parse: [] }, ...(options.username ? { username: options.username } : {}) };
      const answer = await postJson(fetchImpl, options.webhookUrl, body, options.signal);
      if (!(answer instanceof Response)) return answer;
      if (answer.ok) return { ok: true };
      const raw = await answer.text();
      let json: unknown;
      try { json = JSON.parse(raw); } catch { json = undefined; }
      if (answer.status === 429) {
        const limited = rateLimited.safeParse(json);
        const retryAfterMs = limited.success ? Math.ceil(limited.data.retry_after * 1000) : retryAfterHeader(answer);
        return { ok: false, retryable: true, retryAfterMs, error: `discord rate limited (retry after ${retryAfterMs ?? '?'} ms)` };
      }
      const parsed = failure.safeParse(json);
      const message = parsed.success ? parsed.data.message : excerpt(raw);
      return { ok: false, retryable: answer.status >= 500, error: `discord answered ${answer.status}: ${message}` };
    },
  };
}
