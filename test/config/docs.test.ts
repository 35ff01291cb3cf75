import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CANONICAL_STREAMS, STREAM_NAMES } from '#shared/canonical';
import { NO_EXAMPLE } from '#shared/config/introspect';
import { parseOperatorConfig } from '#shared/config/load';
import { operatorConfigSchema } from '#shared/config/schema';
import { CONFIG_DOCS_PATH, generateConfigDocs } from '../../scripts/gen-config-docs.ts';
import { FILE } from './fixtures.ts';

const REPO = join(import.meta.dirname, '..', '..');

interface JsonSchema {
  readonly type?: string;
  readonly description?: string;
  readonly default?: unknown;
  readonly examples?: readonly unknown[];
  readonly enum?: readonly unknown[];
  readonly const?: unknown;
  readonly whenAbsent?: string;
  readonly properties?: Record<string, JsonSchema>;
  readonly required?: readonly string[];
  readonly additionalProperties?: JsonSchema | boolean;
  readonly items?: JsonSchema;
  readonly anyOf?: readonly JsonSchema[];
  readonly oneOf?: readonly JsonSchema[];
}

interface Property {
  readonly path: string;
  readonly schema: JsonSchema;
  readonly required: boolean;
}

/** Every property of every object in the schema, as zod exports it for input (what authors write). */
function properties(schema: JsonSchema, path = ''): Property[] {
  const out: Property[] = [];
  for (const option of [...(schema.anyOf ?? []), ...(schema.oneOf ?? [])]) out.push(...properties(option, path));
  for (const [key, child] of Object.entries(schema.properties ?? {})) {
    const here = path ? `${path}.${key}` : key;
    out.push({ path: here, schema: child, required: schema.required?.includes(key) ?? false });
    out.push(...properties(child, here));
  }
  if (typeof schema.additionalProperties === 'object')
    out.push(...properties(schema.additionalProperties, `${path}.*`));
  if (schema.items) out.push(...properties(schema.items, `${path}[]`));
  return out;
}

const jsonSchema = z.toJSONSchema(operatorConfigSchema, { io: 'input' }) as JsonSchema;
const all = properties(jsonSchema);

describe('docs/config.md', () => {
  const docs = generateConfigDocs();

  it('is up to date with the schema and the canonical model', () => {
    const committed = readFileSync(join(REPO, CONFIG_DOCS_PATH), 'utf8');
    expect(committed, `${CONFIG_DOCS_PATH} is out of date: run \`npm run config:docs\` and commit the result`).toBe(
      docs,
    );
  });

  it('documents every field with its default', () => {
    expect(docs).toContain('| `snapshot.maxParallelWindows` | an integer from 1 to 16 | no | `2` |');
    expect(docs).toContain('| `snapshot.days` | an integer from 1 to 3650 | no | `90` |');
    expect(docs).toContain('| `region` | an AWS region code like eu-west-1 | yes | — |');
    expect(docs).toContain('| `source.schema` |');
    expect(docs).toContain('| `streams.<stream>.columns.<field>.pii` |');
    expect(docs).toContain('| `fileDrop.sftp.userName` |');
    for (const { path } of all) {
      const shown = path.replace(
        /^streams\.(players|sessions|payments|wallet_transactions|game_rounds|bonuses|compliance_events)/,
        'streams.<stream>',
      );
      const docPath = shown.replace('.columns.*', '.columns.<field>');
      if (docPath.includes('*') || docPath.includes('[]') || docPath.split('.').pop() === '<stream>') continue;
      expect(docs, `${docPath} is not documented`).toContain(`| \`${docPath}\` |`);
    }
  });

  it('never falls back to a placeholder example', () => {
    expect(docs).not.toContain(NO_EXAMPLE);
  });

  it('lists every canonical stream and field', () => {
    for (const name of STREAM_NAMES) {
      expect(docs).toContain(`### ${name}\n`);
      for (const field of CANONICAL_STREAMS[name].fields) expect(docs).toMatch(new RegExp(`\\| \`${field.name}\``));
    }
    expect(docs).toContain('| `amount` | decimal(38,10) | yes | keep |');
    expect(docs).toContain('| `player_id` (primary key) | string | no | pseudonymize (personal data) |');
    expect(docs).toContain('`unmapped` (original in `status_source`)');
    expect(docs).toContain('Primary key: `payment_id`. Default cursor: `updated_at`.');
  });

  it('shows a minimal example that is a valid config', () => {
    const example = /## Minimal example[\s\S]*?```yaml\n([\s\S]*?)```/.exec(docs)?.[1];
    expect(example).toBeDefined();
    expect(parseOperatorConfig(example ?? '', FILE).issues).toEqual([]);
  });
});

describe('the schema', () => {
  it('has many properties (the walk below is not vacuous)', () => {
    expect(all.length).toBeGreaterThan(60);
  });

  it('gives every optional field a default or says what happens when it is absent', () => {
    const undocumented = all
      .filter((p) => !p.required)
      .filter((p) => p.schema.default === undefined && !(p.schema.whenAbsent && p.schema.whenAbsent.length > 5))
      .map((p) => p.path);
    expect(undocumented, 'add .default() or .meta({ whenAbsent }) to these fields').toEqual([]);
  });

  it('describes every field', () => {
    // Stream keys are described by the canonical stream description.
    const undescribed = all.filter((p) => !p.schema.description && !p.path.endsWith('.*')).map((p) => p.path);
    expect(undescribed).toEqual([]);
  });

  it('has a valid example for every scalar field (used in error messages)', () => {
    const scalar = (s: JsonSchema) => ['string', 'number', 'integer', 'boolean'].includes(s.type ?? '');
    const withoutExample = all
      .filter((p) => scalar(p.schema) || (p.schema.type === 'array' && p.schema.items && scalar(p.schema.items)))
      .filter(
        (p) =>
          p.schema.default === undefined &&
          !p.schema.examples?.length &&
          !p.schema.enum &&
          p.schema.const === undefined &&
          !p.schema.items?.examples?.length,
      )
      .map((p) => p.path);
    expect(withoutExample).toEqual([]);
  });
});
