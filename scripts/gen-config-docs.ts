/**
 * Generates docs/config.md, the operator config reference, from the config schema and the
 * canonical data model: `npm run config:docs`. A test regenerates it in memory and fails when the
 * committed file differs.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import {
  CANONICAL_STREAMS,
  glueType,
  LANDED_PARTITION_COLUMNS,
  LATEST_VERSION_FIRST,
  METADATA_FIELDS,
  STREAM_NAMES,
  sourceValueColumn,
  UNMAPPED_VALUE,
} from '../lambdas/shared/canonical.ts';
import {
  core,
  defaultOf,
  defOf,
  discriminatorValues,
  expectedOf,
  isOptional,
  metaOf,
  type Schema,
  sampleOf,
} from '../lambdas/shared/config/introspect.ts';
import { minimalConfigExample } from '../lambdas/shared/config/load.ts';
import { operatorConfigSchema } from '../lambdas/shared/config/schema.ts';
import { CREDENTIALS_HINT } from '../lambdas/shared/config/validate.ts';
import { cell, code } from './markdown.ts';

/** Where the generated reference lives, relative to the repository root. */
export const CONFIG_DOCS_PATH = 'docs/config.md';

/** Placeholder names for keys chosen by the config author, by the path of their mapping. */
const PLACEHOLDERS: Record<string, string> = {
  streams: '<stream>',
  'streams.<stream>.columns': '<field>',
  'streams.<stream>.columns.<field>.values': '<source value>',
};

/** A value as inline YAML (flow style), e.g. `rate(15 minutes)`, `[a, b]`, `{ a: 1 }`. */
function inlineYaml(value: unknown): string {
  return stringify(value, { collectionStyle: 'flow', lineWidth: 0 }).trim();
}

interface Section {
  readonly title: string;
  readonly intro?: string;
  readonly rows: string[];
}

class ReferenceWriter {
  readonly sections: Section[] = [];

  /** Documents the keys of an object schema and, after it, each nested object. */
  object(title: string, prefix: string, schema: Schema, intro?: string): void {
    const rows: string[] = [];
    const section: Section = { title, rows, ...(intro ? { intro } : {}) };
    this.sections.push(section);
    const nested: (() => void)[] = [];
    for (const [key, field] of Object.entries(defOf(core(schema)).shape ?? {})) {
      const path = prefix ? `${prefix}.${key}` : key;
      const collapsed = this.sameValueSchema(field);
      if (collapsed) {
        const placeholder = PLACEHOLDERS[path] ?? '<key>';
        const names = Object.keys(defOf(core(field)).shape ?? {});
        rows.push(this.row(path, field, `a mapping of ${names.join(', ')}`, 'see below'));
        nested.push(() =>
          this.value(
            `${path}.${placeholder}`,
            collapsed,
            `${code(placeholder)} is one of ${names.map(code).join(', ')}; each one left out is not landed.`,
          ),
        );
        continue;
      }
      rows.push(this.row(path, field));
      nested.push(() => this.value(path, field));
    }
    for (const n of nested) n();
  }

  /** Documents what is inside a value, when it is a mapping of its own. */
  private value(path: string, schema: Schema, intro?: string): void {
    const c = core(schema);
    const def = defOf(c);
    const description = metaOf(schema).description;
    if (def.type === 'object') {
      this.object(code(path), path, c, intro ?? description);
    } else if (def.type === 'union') {
      const discriminator = def.discriminator;
      for (const option of def.options ?? []) {
        const od = defOf(core(option));
        if (od.type === 'object') {
          const which = discriminator
            ? `${code(path)} with ${discriminator}: ${discriminatorValues(option, discriminator).join(', ')}`
            : `${code(path)} as a mapping`;
          this.object(which, path, option, intro ?? description);
        } else {
          this.value(path, option);
        }
      }
    } else if (def.type === 'record' && def.valueType) {
      const valueDef = defOf(core(def.valueType));
      if (valueDef.type === 'object' || valueDef.type === 'union') {
        this.value(`${path}.${PLACEHOLDERS[path] ?? '<key>'}`, def.valueType, intro);
      }
    }
  }

  /** The one value schema of an object whose keys all take the same kind of value (streams). */
  private sameValueSchema(field: Schema): Schema | undefined {
    const def = defOf(core(field));
    if (def.type !== 'object') return undefined;
    const values = Object.values(def.shape ?? {}).map(core);
    const [first] = values;
    return values.length > 1 && first && values.every((v) => v === first) ? first : undefined;
  }

  private row(path: string, field: Schema, type?: string, example?: string): string {
    const meta = metaOf(field);
    const c = core(field);
    const kind = defOf(c).type;
    const nestedKind = kind === 'object' || (kind === 'union' && defOf(c).discriminator !== undefined);
    const dflt = defaultOf(field);
    let defaultText: string;
    if (!isOptional(field)) defaultText = '—';
    else if (dflt && nestedKind && !isFilledObject(dflt.value)) defaultText = 'defaults of its keys';
    else if (dflt) defaultText = code(inlineYaml(dflt.value));
    else defaultText = meta.whenAbsent ?? '';
    const exampleText = example ?? (nestedKind ? 'see below' : code(inlineYaml(sampleOf(field))));
    return `| ${code(path)} | ${cell(type ?? (nestedKind ? `a mapping (see below)` : expectedOf(field)))} | ${isOptional(field) ? 'no' : 'yes'} | ${cell(defaultText)} | ${cell(meta.description ?? '')} | ${cell(exampleText)} |`;
  }
}

function renderSection(section: Section): string {
  const head = `### ${section.title}\n\n${section.intro ? `${cell(section.intro)}\n\n` : ''}`;
  const table = [
    '| Path | Type | Required | Default | Description | Example |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  return head + [...table, ...section.rows].join('\n');
}

/** Whether a default is an object with keys (shown as it is), rather than `{}` filled in by its keys' defaults. */
function isFilledObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && Object.keys(value).length > 0;
}

function canonicalSection(): string {
  const out: string[] = [
    '## Canonical streams',
    '',
    'Each stream lands as one table in Athena, `<stream>`, holding its current state (see the [data dictionary](data-dictionary.md)). Map your tables and columns onto these fields under `streams.<stream>.columns`; unmapped fields land as NULL and columns you do not map are never read.',
    '',
    `- **Type** is the Athena/Glue type of the landed column. Money is a decimal: set \`precision\`/\`scale\` in the mapping to match your source. A pseudonymized field lands as a string (hex HMAC) whatever its type.`,
    '- **PII** is the default treatment: `keep` lands the value as is, `pseudonymize` lands an HMAC-SHA256 of it with the operator key (joins still work), `drop` does not land it. Override it with `pii:` in the mapping; keeping *personal* data in clear requires a `justification`.',
    "- **Keys**: a primary key, or a field that *references* another stream's key, is a join key. When it is pseudonymized, the HMAC is taken over its key form under `source.keyComparison` (trailing spaces dropped under `padSpace`, Unicode simple case folding under `caseInsensitive`), so values the source compares as equal get one pseudonym and join as in the source. A key kept in clear lands exactly as the source holds it. See docs/architecture.md, *Keys join as in the source*.",
    `- **Values** are the canonical values of an enumeration: map your values onto them with \`values:\`. A value without a mapping lands as \`${UNMAPPED_VALUE}\`, and your original value is kept in \`<field>_source\`.`,
    '- Fields that are never NULL (primary key, cursor, `player_id`) must be mapped.',
    '',
  ];
  for (const name of STREAM_NAMES) {
    const stream = CANONICAL_STREAMS[name];
    out.push(
      `### ${name}`,
      '',
      `${stream.description} Primary key: ${code(stream.primaryKey)}. Default cursor: ${code(stream.cursor)}.`,
      '',
      '| Field | Type | Nullable | PII | Values | Description |',
      '| --- | --- | --- | --- | --- | --- |',
    );
    for (const field of stream.fields) {
      const role = [
        field.name === stream.primaryKey ? 'primary key' : '',
        field.name === stream.cursor ? 'cursor' : '',
        field.references ? `references ${field.references}` : '',
      ].filter(Boolean);
      const values = field.values
        ? `${field.values.map(code).join(', ')} (original in ${code(sourceValueColumn(field.name))})`
        : '';
      out.push(
        `| ${code(field.name)}${role.length > 0 ? ` (${role.join(', ')})` : ''} | ${glueType(field.type)} | ${field.nullable ? 'yes' : 'no'} | ${field.pii}${field.personal ? ' (personal data)' : ''} | ${cell(values)} | ${cell(field.description)} |`,
      );
    }
    out.push('');
  }
  out.push(
    '### Columns added to every stream',
    '',
    '| Column | Type | Nullable | Description |',
    '| --- | --- | --- | --- |',
    ...METADATA_FIELDS.map(
      (f) => `| ${code(f.name)} | ${glueType(f.type)} | ${f.nullable ? 'yes' : 'no'} | ${cell(f.description)} |`,
    ),
    ...LANDED_PARTITION_COLUMNS.map(
      (c) => `| ${code(c.name)} | partition (string) | no | ${cell(c.description)} Only in the landed tables. |`,
    ),
    '',
    'A key can land more than once (the lookback re-reads, a replay or a new upload lands again). The table',
    '`<stream>` holds one row per key, its current version: the one that comes first in `ORDER BY ' +
      LATEST_VERSION_FIRST +
      '`; see "Versions" in docs/architecture.md.',
    '',
  );
  return out.join('\n');
}

/** The complete text of docs/config.md. Pure: reads nothing from disk. */
export function generateConfigDocs(): string {
  const writer = new ReferenceWriter();
  writer.object('Top level', '', operatorConfigSchema);
  const parts = [
    '# Operator config reference',
    '',
    '<!-- Generated from lambdas/shared/config/schema.ts and lambdas/shared/canonical.ts by `npm run config:docs`. Do not edit by hand. -->',
    '',
    'Each operator and stage is one YAML file in `config/operators/` (e.g. `config/operators/acme-casino.yaml`), deployed as one stack. `cdk synth` validates every file first and synthesizes nothing while one is invalid; each problem names the file, line and path, what was expected, and a valid example.',
    '',
    `${CREDENTIALS_HINT}`,
    '',
    '## Minimal example',
    '',
    'Everything not shown takes its default.',
    '',
    '```yaml',
    minimalConfigExample(),
    '```',
    '',
    '## Fields',
    '',
    '*Required* keys must be present. An optional key that is left out takes the value in *Default*, or behaves as described there. `<stream>` stands for a canonical stream name and `<field>` for one of its fields (see [Canonical streams](#canonical-streams)).',
    '',
    // postgres and mysql share their network variants: document each once.
    [...new Set(writer.sections.map(renderSection))].join('\n\n'),
    '',
    canonicalSection(),
  ];
  return `${parts.join('\n').trimEnd()}\n`;
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  writeFileSync(join(root, CONFIG_DOCS_PATH), generateConfigDocs());
  console.log(`wrote ${CONFIG_DOCS_PATH}`);
}
