/**
 * Generates config/operator-config.schema.json, the JSON Schema editors use to complete and check
 * operator configs as they are typed (`# yaml-language-server: $schema=../operator-config.schema.json`
 * at the top of each file), from the zod config schema: `npm run config:docs`. A test regenerates it
 * in memory and fails when the committed file differs.
 *
 * The JSON Schema checks each field alone (types, ranges, patterns, enumerations, unknown keys);
 * the checks that span fields (credentials anywhere, required fields per source type, TLS in
 * production, PII overrides) stay with `connector validate` and `cdk synth`.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { operatorConfigSchema } from '../lambdas/shared/config/schema.ts';

/** Where the generated schema lives, relative to the repository root. */
export const CONFIG_SCHEMA_PATH = 'config/operator-config.schema.json';

/** The modeline every operator config starts with, relative to config/operators/. */
export const SCHEMA_MODELINE = '# yaml-language-server: $schema=../operator-config.schema.json';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * Our metadata keys become text editors show: `whenAbsent` and `expected` are appended to the
 * description (JSON Schema has no keyword for them, and unknown keywords upset some validators).
 */
function tidy(node: Json): Json {
  if (Array.isArray(node)) return node.map(tidy);
  if (node === null || typeof node !== 'object') return node;
  const out: { [key: string]: Json } = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'whenAbsent' || key === 'expected') continue;
    out[key] = tidy(value);
  }
  const notes = [
    typeof node.expected === 'string' ? `Expected: ${node.expected}.` : '',
    typeof node.whenAbsent === 'string' ? `When absent: ${node.whenAbsent}.` : '',
  ].filter((n) => n !== '');
  if (notes.length > 0) {
    out.description = [typeof out.description === 'string' ? out.description : '', ...notes]
      .filter((t) => t !== '')
      .join(' ');
  }
  return out;
}

/** The JSON Schema of an operator config file, as committed. */
export function generateConfigSchema(): string {
  const generated = z.toJSONSchema(operatorConfigSchema, {
    target: 'draft-7',
    io: 'input',
    // Refinements (time zone names, schedule expressions) cannot be expressed; the loader checks them.
    unrepresentable: 'any',
  }) as { [key: string]: Json };
  const { $schema, ...rest } = generated;
  const schema = {
    $schema: $schema ?? 'http://json-schema.org/draft-07/schema#',
    title: 'Operator config of the iGaming data connector',
    ...(tidy(rest) as { [key: string]: Json }),
  };
  return `${JSON.stringify(schema, null, 2)}\n`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  writeFileSync(join(root, CONFIG_SCHEMA_PATH), generateConfigSchema());
  console.log(`wrote ${CONFIG_SCHEMA_PATH}`);
}
