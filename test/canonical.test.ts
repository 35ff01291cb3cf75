import { describe, expect, it } from 'vitest';
import {
  CANONICAL_STREAMS,
  type FieldType,
  getField,
  getStream,
  glueType,
  isStreamName,
  LANDED_PARTITION_COLUMNS,
  LATEST_VERSION_FIRST,
  METADATA_FIELDS,
  STREAM_NAMES,
  sourceValueColumn,
  UNMAPPED_VALUE,
} from '#shared/canonical';

const streams = STREAM_NAMES.map((name) => CANONICAL_STREAMS[name]);

describe('canonical streams', () => {
  it('are keyed by their own name, in the documented order', () => {
    expect(Object.keys(CANONICAL_STREAMS)).toEqual([...STREAM_NAMES]);
    for (const name of STREAM_NAMES) {
      expect(getStream(name).name).toBe(name);
      expect(getStream(name).description.length).toBeGreaterThan(10);
    }
  });

  it.each(STREAM_NAMES)('%s has a non-nullable primary key and a non-nullable timestamp cursor', (name) => {
    const stream = CANONICAL_STREAMS[name];
    const key = getField(name, stream.primaryKey);
    const cursor = getField(name, stream.cursor);
    expect(key, `primary key ${stream.primaryKey}`).toBeDefined();
    expect(cursor, `cursor ${stream.cursor}`).toBeDefined();
    expect(key?.nullable).toBe(false);
    expect(cursor?.nullable).toBe(false);
    expect(cursor?.type.kind).toBe('timestamp');
    expect(key?.pii).not.toBe('drop');
    expect(key?.values).toBeUndefined();
  });

  it.each(STREAM_NAMES)('%s has unique field names that do not clash with generated columns', (name) => {
    const names = CANONICAL_STREAMS[name].fields.map((f) => f.name);
    expect(new Set(names).size).toBe(names.length);
    const generated = [
      ...METADATA_FIELDS.map((f) => f.name),
      ...LANDED_PARTITION_COLUMNS.map((c) => c.name),
      ...CANONICAL_STREAMS[name].fields.filter((f) => f.values).map((f) => sourceValueColumn(f.name)),
    ];
    expect(names.filter((n) => generated.includes(n))).toEqual([]);
    for (const n of names) expect(n).toMatch(/^[a-z][a-z0-9_]*$/);
  });

  it('links every stream but players to a player', () => {
    for (const stream of streams) {
      const player = getField(stream.name, 'player_id');
      expect(player, stream.name).toBeDefined();
      expect(player?.nullable).toBe(false);
      expect(player?.pii).toBe('pseudonymize');
      expect(player?.personal).toBe(true);
    }
    expect(CANONICAL_STREAMS.players.primaryKey).toBe('player_id');
  });

  it('stores money as decimals, never floats', () => {
    const money = streams.flatMap((s) => s.fields.filter((f) => f.money));
    expect(money.map((f) => f.name)).toEqual(
      expect.arrayContaining(['amount', 'balance_after', 'stake', 'payout', 'bonus_stake', 'wagering_requirement']),
    );
    for (const field of money) {
      expect(field.type).toEqual({ kind: 'decimal', precision: 38, scale: 10 });
    }
    // A decimal that is not money would miss reconciliation.
    const decimals = streams.flatMap((s) => s.fields.filter((f) => f.type.kind === 'decimal'));
    expect(decimals.every((f) => f.money)).toBe(true);
  });

  it('lets every enumeration fall back to "unmapped"', () => {
    const enums = streams.flatMap((s) => s.fields.filter((f) => f.values));
    expect(enums.length).toBeGreaterThanOrEqual(7);
    for (const field of enums) {
      expect(field.values).toContain(UNMAPPED_VALUE);
      expect(new Set(field.values).size).toBe(field.values?.length);
      expect(field.type.kind).toBe('string');
    }
  });

  it('marks personal data, which is never kept in clear by default', () => {
    const personal = streams.flatMap((s) => s.fields.filter((f) => f.personal).map((f) => `${s.name}.${f.name}`));
    expect(personal).toEqual(expect.arrayContaining(['players.email', 'players.birth_date', 'sessions.ip']));
    for (const stream of streams) {
      for (const field of stream.fields.filter((f) => f.personal)) {
        expect(field.pii, `${stream.name}.${field.name}`).not.toBe('keep');
      }
    }
  });

  it('gives metadata columns that are never NULL', () => {
    expect(METADATA_FIELDS.map((f) => f.name)).toEqual([
      '_cursor',
      '_run_id',
      '_extracted_at',
      '_cursor_us',
      '_source_seq',
      '_deleted',
    ]);
    for (const field of METADATA_FIELDS) expect(field.nullable).toBe(false);
  });

  it('lands the version as two BIGINT columns (Parquet INT64, Glue bigint) that order versions latest first', () => {
    for (const name of ['_cursor_us', '_source_seq']) {
      const field = METADATA_FIELDS.find((f) => f.name === name)!;
      expect(field.type).toEqual({ kind: 'int64' });
      expect(glueType(field.type)).toBe('bigint');
    }
    expect(LATEST_VERSION_FIRST).toBe('_cursor_us DESC, _source_seq DESC');
  });
});

describe('helpers', () => {
  it('recognizes stream names', () => {
    expect(isStreamName('payments')).toBe(true);
    expect(isStreamName('payements')).toBe(false);
    expect(isStreamName('')).toBe(false);
  });

  it('finds fields by name', () => {
    expect(getField('payments', 'amount')?.money).toBe(true);
    expect(getField('payments', 'amout')).toBeUndefined();
  });

  it('names the column that keeps the original enumeration value', () => {
    expect(sourceValueColumn('status')).toBe('status_source');
  });

  it.each<[FieldType, string]>([
    [{ kind: 'string' }, 'string'],
    [{ kind: 'int32' }, 'int'],
    [{ kind: 'int64' }, 'bigint'],
    [{ kind: 'boolean' }, 'boolean'],
    [{ kind: 'decimal', precision: 18, scale: 2 }, 'decimal(18,2)'],
    [{ kind: 'timestamp' }, 'timestamp'],
    [{ kind: 'date' }, 'date'],
  ])('maps %o to the Glue type %s', (type, glue) => {
    expect(glueType(type)).toBe(glue);
  });
});
