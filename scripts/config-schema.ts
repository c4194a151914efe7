// Writes config/tradewire.schema.json from the zod schema: run after changing src/config/schema.ts.
import { writeFileSync } from 'node:fs';
import { configJsonSchema } from '../src/config/json-schema.ts';

const target = new URL('../config/tradewire.schema.json', import.meta.url);
writeFileSync(target, `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
console.log(`wrote ${target.pathname}`);
