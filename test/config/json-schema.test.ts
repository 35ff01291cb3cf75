/**
 * The editor schema (config/operator-config.schema.json): generated from the zod schema and kept in
 * sync, referenced by every example config, accepting every example and refusing the field-level
 * bad-config cases that the loader refuses (the cross-field rules stay with the loader).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { listConfigFiles, parseOperatorConfig } from '#shared/config/load';
import { CONFIG_SCHEMA_PATH, generateConfigSchema, SCHEMA_MODELINE } from '../../scripts/gen-config-schema.ts';
import { edit, FILE, FILES, PG } from './fixtures.ts';

const REPO = join(import.meta.dirname, '..', '..');
const committed = readFileSync(join(REPO, CONFIG_SCHEMA_PATH), 'utf8');
const validate = new Ajv({ allErrors: true, strict: false }).compile(JSON.parse(committed));

/** Whether the JSON Schema accepts a YAML config text. */
function accepts(text: string): boolean {
  return validate(parse(text)) === true;
}

/** Field-level mistakes (the same edits as errors.test.ts): both the loader and the editor schema refuse each. */
const BAD: readonly (readonly [string, string])[] = [
  ['top-level typo', `${PG}snapsot:\n  days: 30\n`],
  ['nested typo', `${PG}incremental:\n  schedule: rate(15 minutes)\n  lookbackMinuts: 30\n`],
  ['stream key typo', edit(PG, '    table: payments', '    tabel: payments')],
  ['network key of no variant', edit(PG, '    mode: created', '    mode: created\n    cdir: 10.0.0.0/16')],
  ['mapping key typo', edit(PG, 'amount: amount', 'amount: { colum: amount }')],
  ['unknown stream', edit(PG, '  payments:', '  payements:')],
  ['missing region', edit(PG, 'region: eu-west-1\n', '')],
  ['unquoted account', edit(PG, 'account: "123456789012"', 'account: 123456789012')],
  ['short account', edit(PG, '"123456789012"', '"12345678901"')],
  ['bad region', edit(PG, 'region: eu-west-1', 'region: europe-west1')],
  ['bad stage', edit(PG, 'stage: production', 'stage: prod')],
  ['bad source type', edit(PG, 'type: postgres', 'type: oracle')],
  ['missing source type', edit(PG, '  type: postgres\n', '')],
  ['number as column', edit(PG, 'amount: amount', 'amount: 5')],
  ['log retention not offered', `${PG}retention:\n  logDays: 42\n`],
  ['not an e-mail', `${PG}alerts:\n  emails:\n    - oncall@example.com\n    - not-an-email\n`],
  ['too many parallel windows', `${PG}snapshot:\n  maxParallelWindows: 100\n`],
  ['negative lookback', `${PG}incremental:\n  lookbackMinutes: -5\n`],
  ['unsafe table name', edit(PG, '    table: payments', '    table: "payments; DROP TABLE x"')],
  ['bad operator id', edit(PG, 'operatorId: test-op', 'operatorId: Test_Op')],
  ['bad tls mode', edit(PG, '  database: casino', '  database: casino\n  tls: maybe')],
  ['bad removal policy', `${PG}removalPolicy: sometimes\n`],
];

describe('config/operator-config.schema.json', () => {
  it('is up to date with the config schema', () => {
    expect(committed, `${CONFIG_SCHEMA_PATH} is out of date: run \`npm run config:docs\` and commit the result`).toBe(
      generateConfigSchema(),
    );
  });

  it('is referenced by every example config, and accepts each of them', () => {
    const files = listConfigFiles(join(REPO, 'config', 'operators'));
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      expect(text.split('\n')[0], file).toBe(SCHEMA_MODELINE);
      expect(accepts(text), `${file}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
    expect(accepts(PG)).toBe(true);
    expect(accepts(FILES)).toBe(true);
  });

  it.each(BAD)('refuses what the loader refuses: %s', (_name, text) => {
    expect(parseOperatorConfig(text, FILE).config).toBeUndefined();
    expect(accepts(text)).toBe(false);
  });

  it('tells editors what each field is for', () => {
    const schema = JSON.parse(committed) as {
      properties: Record<string, { description?: string; properties?: Record<string, { description?: string }> }>;
    };
    expect(schema.properties.operatorId?.description).toBe('Stable operator identifier, used in resource names.');
    expect(schema.properties.snapshot?.properties?.targetRowsPerWindow?.description).toContain(
      'When absent: windows are exactly `windowHours` long.',
    );
    expect(committed).not.toContain('"whenAbsent"');
  });
});
