/** The resolved per-stream plan: one reading of the config for the source plan, mapper, file drops and landed schema. */
import { describe, expect, it } from 'vitest';
import { parseOperatorConfig } from '#shared/config/load';
import type { OperatorConfig } from '#shared/config/schema';
import { fieldPlan, resolvePlans, resolveStreamPlan, type StreamPlan } from '#shared/config/stream-plan';
import { edit, FILE, FILES, PG } from './fixtures.ts';

function parse(text: string): OperatorConfig {
  const result = parseOperatorConfig(text, FILE);
  if (!result.config) throw new Error(`fixture does not parse: ${JSON.stringify(result.issues)}`);
  return result.config;
}

const field = (plan: StreamPlan, name: string) => {
  const f = fieldPlan(plan, name);
  if (!f) throw new Error(`no field ${name}`);
  return f;
};

/** PG with a players stream beside payments. */
const PLAYERS = `${PG}  players:
    table: accounts
    columns:
      player_id: acct_id
      updated_at: changed_at
      email: mail
      birth_date: dob
      country: { column: ctry, pii: pseudonymize }
`;

describe('resolveStreamPlan: time zone', () => {
  it('reads a database source in source.timeZone', () => {
    const config = parse(edit(PG, '  database: casino\n', '  database: casino\n  timeZone: Europe/Malta\n'));
    expect(resolveStreamPlan(config, 'payments').timeZone).toBe('Europe/Malta');
  });

  it('reads a database source in UTC when source.timeZone is not set', () => {
    expect(resolveStreamPlan(parse(PG), 'payments').timeZone).toBe('UTC');
  });

  it('reads a file drop in fileDrop.timeZone', () => {
    const config = parse(edit(FILES, 'fileDrop:\n', 'fileDrop:\n  timeZone: America/New_York\n'));
    expect(resolveStreamPlan(config, 'players').timeZone).toBe('America/New_York');
  });

  it('reads a file drop in UTC when fileDrop.timeZone is not set', () => {
    expect(resolveStreamPlan(parse(FILES), 'players')).toMatchObject({ timeZone: 'UTC', fileDropTimeZone: 'UTC' });
  });

  it('checks dropped files in fileDrop.timeZone, also beside a database source read in its own zone', () => {
    const files = parse(edit(FILES, 'fileDrop:\n', 'fileDrop:\n  timeZone: America/New_York\n'));
    expect(resolveStreamPlan(files, 'players').fileDropTimeZone).toBe('America/New_York');
    const both = parse(
      edit(
        edit(PG, '  database: casino\n', '  database: casino\n  timeZone: Europe/Malta\n'),
        'streams:',
        'fileDrop:\n  timeZone: Asia/Tokyo\n  principals:\n    - arn:aws:iam::210987654321:role/casino-data-export\nstreams:',
      ),
    );
    expect(resolveStreamPlan(both, 'payments')).toMatchObject({
      timeZone: 'Europe/Malta',
      fileDropTimeZone: 'Asia/Tokyo',
    });
  });
});

describe('resolveStreamPlan: cursor and key', () => {
  it('takes the column mapped to the canonical cursor when no cursor is set', () => {
    const plan = resolveStreamPlan(parse(PG), 'payments');
    expect(plan.cursor).toEqual({
      field: 'updated_at',
      column: 'updated_at',
      configPath: 'streams.payments.columns.updated_at',
      explicit: false,
      storage: undefined,
    });
  });

  it('prefers streams.<stream>.cursor, with its cursorType', () => {
    const config = parse(
      edit(PG, '    table: payments\n', '    table: payments\n    cursor: modified_ts\n    cursorType: zoned\n'),
    );
    const plan = resolveStreamPlan(config, 'payments');
    expect(plan.cursor).toMatchObject({
      column: 'modified_ts',
      configPath: 'streams.payments.cursor',
      explicit: true,
      storage: 'zoned',
    });
    // The cursor column is selected even though no field maps it.
    expect(plan.selectedColumns.at(-1)).toBe('modified_ts');
  });

  it('resolves the key column and its treatment', () => {
    const plan = resolveStreamPlan(parse(PLAYERS), 'players');
    expect(plan.key).toEqual({ field: 'player_id', column: 'acct_id', treatment: 'pseudonymize' });
    expect(resolveStreamPlan(parse(PG), 'payments').key).toEqual({
      field: 'payment_id',
      column: 'id',
      treatment: 'keep',
    });
  });

  it('leaves an unmapped key or cursor undefined for the consumer to refuse', () => {
    const config = parse(PG);
    const stream = config.streams.payments!;
    const { payment_id: _key, updated_at: _cursor, ...columns } = stream.columns;
    const plan = resolveStreamPlan({ ...config, streams: { payments: { ...stream, columns } } }, 'payments');
    expect(plan.key.column).toBeUndefined();
    expect(plan.cursor.column).toBeUndefined();
  });
});

describe('resolveStreamPlan: money', () => {
  it('names the source column of every money field and of the currency', () => {
    const config = parse(
      edit(
        PG,
        '      amount: amount\n',
        '      amount: { column: amt, precision: 18, scale: 2 }\n      currency: ccy\n',
      ),
    );
    const plan = resolveStreamPlan(config, 'payments');
    expect(plan.moneyColumns).toEqual({ amount: 'amt' });
    expect(plan.currencyColumn).toBe('ccy');
    expect(field(plan, 'amount').valueType).toEqual({ kind: 'decimal', precision: 18, scale: 2 });
    expect(field(plan, 'amount').landedType).toEqual({ kind: 'decimal', precision: 18, scale: 2 });
  });

  it('keeps the canonical DECIMAL(38,10) when the mapping gives no precision', () => {
    const plan = resolveStreamPlan(parse(PG), 'payments');
    expect(field(plan, 'amount').valueType).toEqual({ kind: 'decimal', precision: 38, scale: 10 });
    expect(plan.currencyColumn).toBeUndefined();
  });

  it('does not reconcile a dropped money field', () => {
    const config = parse(edit(PG, '      amount: amount\n', '      amount: { column: amount, pii: drop }\n'));
    const plan = resolveStreamPlan(config, 'payments');
    expect(plan.moneyColumns).toEqual({});
    expect(plan.selectedColumns).not.toContain('amount');
  });
});

describe('resolveStreamPlan: PII', () => {
  const plan = resolveStreamPlan(parse(PLAYERS), 'players');

  it('applies the canonical default treatments', () => {
    expect(field(plan, 'email')).toMatchObject({ column: 'mail', treatment: 'pseudonymize', personal: true });
    expect(field(plan, 'email').landedType).toEqual({ kind: 'string' });
    expect(field(plan, 'birth_date')).toMatchObject({ column: 'dob', treatment: 'drop', personal: true });
    expect(field(plan, 'updated_at')).toMatchObject({ treatment: 'keep', personal: false });
  });

  it("applies the mapping's pii override, and a pseudonymized field lands as a string", () => {
    const country = field(plan, 'country');
    expect(country).toMatchObject({ column: 'ctry', treatment: 'pseudonymize', personal: true });
    expect(country.valueType).toEqual({ kind: 'string' });
    expect(country.landedType).toEqual({ kind: 'string' });
  });

  it('keeps personal data in clear when the config says so with a justification', () => {
    const config = parse(
      edit(
        PLAYERS,
        '      email: mail\n',
        '      email: { column: mail, pii: keep, justification: Contractual contact for responsible-gambling outreach }\n',
      ),
    );
    expect(field(resolveStreamPlan(config, 'players'), 'email')).toMatchObject({ treatment: 'keep', personal: true });
  });

  it('never selects a dropped column; selects the rest in canonical order, then cursor and key', () => {
    expect(plan.selectedColumns).toEqual(['acct_id', 'changed_at', 'ctry', 'mail']);
  });
});

describe('resolveStreamPlan: source, format, key audit, enumerations', () => {
  it('takes the schema of the stream, else of the source, else the database', () => {
    expect(resolveStreamPlan(parse(PG), 'payments')).toMatchObject({ schema: 'public', table: 'payments' });
    const own = parse(edit(PG, '    table: payments\n', '    table: payments\n    schema: reporting\n'));
    expect(resolveStreamPlan(own, 'payments').schema).toBe('reporting');
    const mysql = parse(edit(PG, '  type: postgres\n', '  type: mysql\n'));
    expect(resolveStreamPlan(mysql, 'payments').schema).toBe('casino');
    expect(resolveStreamPlan(parse(FILES), 'players')).toMatchObject({ schema: undefined, table: undefined });
  });

  it('copies the operator values map of an enumeration', () => {
    expect(field(resolveStreamPlan(parse(PG), 'payments'), 'status').values).toEqual({
      OK: 'approved',
      KO: 'declined',
    });
  });

  it('fills in the CSV defaults of a stream without a format', () => {
    expect(resolveStreamPlan(parse(FILES), 'players').format).toEqual({
      type: 'csv',
      delimiter: ',',
      quote: '"',
      encoding: 'utf-8',
      decimalSeparator: '.',
      timestampFormat: 'iso8601',
      dateFormat: 'yyyy-MM-dd',
    });
  });

  it('audits keys by the stream default on databases and never on file drops', () => {
    expect(resolveStreamPlan(parse(PG), 'payments').keyAudit).toEqual({
      enabled: true,
      schedule: 'cron(30 3 * * ? *)',
    });
    const off = parse(edit(PG, '    table: payments\n', '    table: payments\n    keyAudit: { enabled: false }\n'));
    expect(resolveStreamPlan(off, 'payments').keyAudit.enabled).toBe(false);
    expect(resolveStreamPlan(parse(FILES), 'players').keyAudit.enabled).toBe(false);
  });

  it('takes the key comparison of the source', () => {
    const mysql = parse(edit(PG, '  type: postgres\n', '  type: mysql\n'));
    expect(resolveStreamPlan(mysql, 'payments').keyComparison).toEqual({ caseInsensitive: true, padSpace: true });
  });
});

describe('resolvePlans', () => {
  it('resolves every configured stream once, in canonical order, and only those', () => {
    const plans = resolvePlans(parse(PLAYERS));
    expect([...plans.keys()]).toEqual(['players', 'payments']);
    expect(plans.get('payments')?.configured).toBe(true);
  });

  it('gives an unconfigured stream the canonical treatments and no columns', () => {
    const plan = resolveStreamPlan(parse(PG), 'players');
    expect(plan.configured).toBe(false);
    expect(plan.selectedColumns).toEqual([]);
    expect(field(plan, 'birth_date').treatment).toBe('drop');
  });

  it('is frozen, so no consumer changes what another sees', () => {
    const plan = resolveStreamPlan(parse(PLAYERS), 'players');
    for (const part of [
      plan,
      plan.fields,
      plan.fields[0],
      plan.cursor,
      plan.key,
      plan.selectedColumns,
      plan.moneyColumns,
      plan.keyComparison,
      plan.format,
      plan.keyAudit,
    ]) {
      expect(Object.isFrozen(part)).toBe(true);
    }
    expect(() => {
      (plan as { timeZone: string }).timeZone = 'Europe/Malta';
    }).toThrow(TypeError);
  });
});
