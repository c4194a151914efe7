// The JSON Schema of the config file, generated from the zod schema, for editor completion and checks.
import { z } from 'zod';
import { configSchema } from './schema.ts';

/** The schema of what a user writes (io 'input': defaults shown, decimals as text or numbers). */
export function configJsonSchema(): Record<string, unknown> {
  // Draft 7 is what yaml-language-server and most editors understand best.
  const schema = z.toJSONSchema(configSchema, { io: 'input', target: 'draft-7', unrepresentable: 'any' });
  return { ...schema, title: 'tradewire config', description: 'config/tradewire.yaml: see PRODUCT.md, Config and Defaults.' };
}
