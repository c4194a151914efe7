// Slack sender: an incoming webhook answers 200 "ok" or a status with an error word; a Web API style answer is {ok:false, error}.
import { z } from 'zod';
import { excerpt, postJson, retryAfterHeader, type FetchLike, type SendResult, type Sender } from './sender.ts';

const apiAnswer = z.object({ ok: z.boolean(), error: z.string().optional() });
// The errors Slack documents as passing: the same message may go through a moment later.
const TRANSIENT = new Set(['ratelimited', 'rate_limited', 'rollup_error', 'service_unavailable', 'fatal_error', 'internal_error', 'request_timeout']);

export function slackSender(options: { webhookUrl: string; fetch?: FetchLike; signal?: AbortSignal }): Sender {
  const fetchImpl = options.fetch ?? fetch;
  return {
    service: 'slack',
    // Slack takes far more, but a longer message is truncated in clients: a batch stays readable.
    maxLength: 3500,
    async send(text: string): Promise<SendResult> {
      // Slack reads <...> as links and mentions (<!channel>): the three control characters are escaped, as its docs ask.
      const escaped = text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
      const answer = await postJson(fetchImpl, options.webhookUrl, { text: escaped }, options.signal);
      if (!(answer instanceof Response)) return answer;
      const raw = (await answer.text()).trim();
      let json: unknown;
      try { json = JSON.parse(raw); } catch { json = undefined; }
      const api = apiAnswer.safeParse(json);
      if (answer.ok && (raw === 'ok' || (api.success && api.data.ok))) return { ok: true };
      const word = api.success ? api.data.error ?? 'ok:false' : excerpt(raw) || `status ${answer.status}`;
      if (answer.status === 429 || TRANSIENT.has(word)) {
        return { ok: false, retryable: true, retryAfterMs: retryAfterHeader(answer), error: `slack: ${word}` };
      }
      return { ok: false, retryable: answer.status >= 500, error: `slack answered ${answer.status}: ${word}` };
    },
  };
}
