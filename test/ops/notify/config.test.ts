// The notifications section of the config: defaults, validation, and its secrets kept out of printed configs.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfigText } from '../../../src/config/load.ts';
import { MASK, maskSecrets } from '../../../src/config/mask.ts';

const BASE = `
accounts:
  paper: { broker: paper }
strategies:
  default: { account: paper }
`;
const DISCORD_URL = 'https://discord.com/api/webhooks/1/secret-part-of-discord-url';

describe('notifications config', () => {
  it('is off with no channels, and a channel gets every event, a 2 s batch and 10 lines by default', () => {
    expect(parseConfigText(BASE, 't.yaml', {}).config.notifications).toEqual({ channels: {}, dailySummaryAt: '21:00', maxQueued: 1000 });
    const { config } = parseConfigText(`${BASE}
notifications:
  channels:
    phone: { type: telegram, botToken: "\${TG_TOKEN}", chatId: -100123, events: { fills: false } }
`, 't.yaml', { TG_TOKEN: '1:abc' });
    expect(config.notifications.channels.phone).toEqual({
      type: 'telegram', botToken: '1:abc', chatId: '-100123', commands: true, enabled: true, batchWindowMs: 2000, maxLines: 10,
      events: { fills: false, closes: true, refusals: true, errors: true, killSwitch: true, dailySummary: true },
    });
  });

  it('refuses an unknown event name, a bad chat id and a missing webhook URL', () => {
    const bad = (yaml: string) => () => parseConfigText(`${BASE}\nnotifications:\n  channels:\n${yaml}`, 't.yaml', {});
    expect(bad('    a: { type: discord, webhookUrl: "https://x.test/h", events: { fill: true } }')).toThrow(/fill/);
    expect(bad('    a: { type: telegram, botToken: "1:x", chatId: "my chat" }')).toThrow(/chat id/);
    expect(bad('    a: { type: slack }')).toThrow(/webhookUrl/);
  });

  it('a webhook URL or bot token written in the file is masked when printed, and warned about', () => {
    const loaded = parseConfigText(`${BASE}
notifications:
  channels:
    ops: { type: discord, webhookUrl: "${DISCORD_URL}" }
    phone: { type: telegram, botToken: "1:telegram-secret", chatId: 42 }
`, 't.yaml', {});
    const printed = stringify(maskSecrets(loaded.config, { envPaths: loaded.envPaths }));
    expect(printed).not.toContain('secret-part-of-discord-url');
    expect(printed).not.toContain('telegram-secret');
    expect(printed).toContain(MASK);
    expect(loaded.warnings.join('\n')).toMatch(/webhookUrl is written in the file/);
    expect(loaded.warnings.join('\n')).toMatch(/botToken is written in the file/);
  });
});
