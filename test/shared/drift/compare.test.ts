import { describe, expect, it } from 'vitest';
import {
  type ColumnChange,
  compareSchema,
  describeChange,
  fingerprintOf,
  holds,
  isBreaking,
  type NeededColumn,
  neededColumns,
  type SeenColumn,
} from '#shared/drift/compare';
import { GAME_ROUNDS_STREAM, operatorConfig } from '../mapping/fixtures.ts';

const config = operatorConfig({ game_rounds: GAME_ROUNDS_STREAM });
const needed = neededColumns(config, 'game_rounds');

const c = (name: string, type: string, kind: SeenColumn['kind'], precision?: number, scale?: number): SeenColumn => ({
  name,
  type,
  kind,
  ...(precision !== undefined ? { precision, scale: scale ?? 0 } : {}),
});

/** The game_rounds table as the fixtures map it, on PostgreSQL. */
const TABLE: readonly SeenColumn[] = [
  c('round_id', 'character varying(24)', 'text'),
  c('customer_id', 'character varying(16)', 'text'),
  c('game_code', 'character varying(32)', 'text'),
  c('studio', 'character varying(32)', 'text'),
  c('bet_amount', 'numeric(18,2)', 'decimal', 18, 2),
  c('win_amount', 'numeric(18,2)', 'decimal', 18, 2),
  c('bonus_bet_amount', 'numeric(18,2)', 'decimal', 18, 2),
  c('currency_code', 'character(3)', 'text'),
  c('round_state', 'character varying(8)', 'text'),
  c('started_ts', 'timestamp without time zone', 'timestamp'),
  c('settled_ts', 'timestamp without time zone', 'timestamp'),
  c('modified_ts', 'timestamp without time zone', 'timestamp'),
  c('internal_note', 'text', 'text'),
];

const replace = (name: string, by: SeenColumn | null): SeenColumn[] =>
  TABLE.flatMap((x) => (x.name === name ? (by ? [by] : []) : [x]));

const compare = (live: readonly SeenColumn[], previous: readonly SeenColumn[] | undefined = TABLE): ColumnChange[] =>
  compareSchema({ engine: 'postgres', stream: 'game_rounds', needed, live, previous });

describe('neededColumns', () => {
  it('lists every mapped column the stream reads, with the landed type it feeds', () => {
    const byColumn = Object.fromEntries(needed.map((n) => [n.column, n]));
    expect(Object.keys(byColumn).sort()).toEqual(
      [
        'bet_amount',
        'bonus_bet_amount',
        'currency_code',
        'customer_id',
        'game_code',
        'modified_ts',
        'round_id',
        'round_state',
        'settled_ts',
        'started_ts',
        'studio',
        'win_amount',
      ].sort(),
    );
    expect(byColumn.bet_amount).toMatchObject({
      landed: { kind: 'decimal', precision: 18, scale: 2 },
      required: false,
    });
    expect(byColumn.round_id?.required).toBe(true);
    expect(byColumn.modified_ts?.required).toBe(true);
    expect(byColumn.round_state?.enumerated).toBe(true);
    expect(byColumn.internal_note).toBeUndefined();
  });
});

describe('compareSchema', () => {
  it('finds nothing when the table is as last seen', () => {
    expect(compare(TABLE)).toEqual([]);
  });

  it('fails a dropped mapped column, naming the column, its old type and the config path', () => {
    const changes = compare(replace('studio', null));
    expect(changes).toEqual([
      expect.objectContaining({
        change: 'dropped',
        column: 'studio',
        fields: ['provider'],
        from: 'character varying(32)',
      }),
    ]);
    expect(changes.every(isBreaking)).toBe(true);
    expect(describeChange(changes[0]!)).toContain('streams.game_rounds.columns.provider');
  });

  it('says the cursor cannot be read without it', () => {
    const [change] = compare(replace('modified_ts', null));
    expect(change).toMatchObject({ change: 'dropped', column: 'modified_ts' });
    expect(change?.fix).toContain('cannot be read without it');
  });

  it('recognizes a rename: the mapped column is gone and a new one of the same type appeared', () => {
    const changes = compare(replace('studio', c('provider_name', 'character varying(32)', 'text')));
    expect(changes).toEqual([
      expect.objectContaining({
        change: 'renamed',
        column: 'studio',
        renamedTo: 'provider_name',
        to: 'character varying(32)',
      }),
    ]);
    expect(changes[0]?.fix).toBe(
      'if the column was renamed, set streams.game_rounds.columns.provider to provider_name',
    );
    expect(isBreaking(changes[0]!)).toBe(true);
  });

  it('fails a retype the landed type cannot hold: text into DECIMAL', () => {
    const [change, ...rest] = compare(replace('bet_amount', c('bet_amount', 'text', 'text')));
    expect(rest).toEqual([]);
    expect(change).toMatchObject({ change: 'incompatible', column: 'bet_amount', from: 'numeric(18,2)', to: 'text' });
    expect(isBreaking(change!)).toBe(true);
  });

  it('fails a decimal that grew beyond the landed DECIMAL and says which precision and scale would hold it', () => {
    const [change] = compare(replace('win_amount', c('win_amount', 'numeric(20,4)', 'decimal', 20, 4)));
    expect(change).toMatchObject({ change: 'incompatible', from: 'numeric(18,2)', to: 'numeric(20,4)' });
    expect(change?.fix).toContain('DECIMAL(18,2) does not hold numeric(20,4)');
    expect(change?.fix).toContain(
      'set streams.game_rounds.columns.payout.precision: 20 and streams.game_rounds.columns.payout.scale: 4',
    );
  });

  it('fails a decimal that lost its declared precision', () => {
    const [change] = compare(replace('win_amount', c('win_amount', 'numeric', 'decimal')));
    expect(change).toMatchObject({ change: 'incompatible', to: 'numeric' });
  });

  it('accepts and reports a widening the landed type holds: varchar length, decimal within the landed type', () => {
    const wider = operatorConfig({
      game_rounds: {
        ...GAME_ROUNDS_STREAM,
        columns: { ...GAME_ROUNDS_STREAM.columns, stake: { column: 'bet_amount', precision: 22, scale: 4 } },
      },
    });
    const changes = compareSchema({
      engine: 'postgres',
      stream: 'game_rounds',
      needed: neededColumns(wider, 'game_rounds'),
      live: replace('bet_amount', c('bet_amount', 'numeric(20,4)', 'decimal', 20, 4)).map((x) =>
        x.name === 'studio' ? c('studio', 'character varying(64)', 'text') : x,
      ),
      previous: TABLE,
    });
    expect(changes).toEqual([
      expect.objectContaining({
        change: 'widened',
        column: 'studio',
        from: 'character varying(32)',
        to: 'character varying(64)',
      }),
      expect.objectContaining({ change: 'widened', column: 'bet_amount', from: 'numeric(18,2)', to: 'numeric(20,4)' }),
    ]);
    expect(changes.some(isBreaking)).toBe(false);
  });

  it('reports a new column by name and type, and never as needed', () => {
    const changes = compare([...TABLE, c('bonus_code', 'character varying(20)', 'text')]);
    expect(changes).toEqual([{ change: 'added', column: 'bonus_code', to: 'character varying(20)' }]);
    expect(isBreaking(changes[0]!)).toBe(false);
    expect(describeChange(changes[0]!)).toBe('column bonus_code (character varying(20)) added (not read)');
  });

  it('reports an unmapped column removed or retyped without failing', () => {
    expect(compare(replace('internal_note', null))).toEqual([
      { change: 'removed', column: 'internal_note', from: 'text' },
    ]);
    expect(compare(replace('internal_note', c('internal_note', 'jsonb', 'json')))).toEqual([
      { change: 'retyped', column: 'internal_note', from: 'text', to: 'jsonb' },
    ]);
  });

  it('without a fingerprint (first run) checks the mapping only: a missing column or an unconvertible kind', () => {
    expect(compareSchema({ engine: 'postgres', stream: 'game_rounds', needed, live: TABLE })).toEqual([]);
    const missing = compareSchema({ engine: 'postgres', stream: 'game_rounds', needed, live: replace('studio', null) });
    expect(missing).toEqual([expect.objectContaining({ change: 'dropped', column: 'studio' })]);
    expect(missing[0]).not.toHaveProperty('from');
    const json = compareSchema({
      engine: 'postgres',
      stream: 'game_rounds',
      needed,
      live: replace('started_ts', c('started_ts', 'jsonb', 'json')),
    });
    expect(json).toEqual([expect.objectContaining({ change: 'incompatible', column: 'started_ts', to: 'jsonb' })]);
  });

  it('compares MySQL names case-insensitively', () => {
    const upper = TABLE.map((x) => ({ ...x, name: x.name.toUpperCase() }));
    expect(compareSchema({ engine: 'mysql', stream: 'game_rounds', needed, live: upper, previous: TABLE })).toEqual([]);
  });
});

describe('holds', () => {
  const need = (landed: NeededColumn['landed']): NeededColumn => ({
    column: 'x',
    fields: ['x'],
    landed,
    enumerated: false,
    required: false,
  });

  it('takes int → bigint into a BIGINT, not into an INT', () => {
    expect(holds(c('x', 'bigint', 'integer'), need({ kind: 'int64' })).ok).toBe(true);
    expect(holds(c('x', 'bigint', 'integer'), need({ kind: 'int32' }))).toMatchObject({ ok: false, kindOk: true });
    expect(holds(c('x', 'integer', 'integer'), need({ kind: 'int32' })).ok).toBe(true);
    expect(holds(c('x', 'int(10) unsigned', 'integer'), need({ kind: 'int32' })).ok).toBe(false);
    expect(holds(c('x', 'bigint(20) unsigned', 'integer'), need({ kind: 'int64' })).ok).toBe(false);
  });

  it('takes an integer into a DECIMAL with enough integer digits', () => {
    expect(holds(c('x', 'bigint', 'integer'), need({ kind: 'decimal', precision: 38, scale: 10 })).ok).toBe(true);
    expect(holds(c('x', 'bigint', 'integer'), need({ kind: 'decimal', precision: 18, scale: 2 })).ok).toBe(false);
    expect(holds(c('x', 'integer', 'integer'), need({ kind: 'decimal', precision: 18, scale: 2 })).ok).toBe(true);
  });

  it('refuses kinds the coercer cannot convert', () => {
    expect(holds(c('x', 'jsonb', 'json'), need({ kind: 'decimal', precision: 18, scale: 2 }))).toMatchObject({
      ok: false,
      kindOk: false,
    });
    expect(holds(c('x', 'jsonb', 'json'), need({ kind: 'string' })).ok).toBe(true);
  });
});

describe('fingerprintOf', () => {
  it('is independent of column order and changes with a type', () => {
    const a = fingerprintOf(TABLE);
    expect(fingerprintOf([...TABLE].reverse()).hash).toBe(a.hash);
    expect(fingerprintOf(replace('studio', c('studio', 'text', 'text'))).hash).not.toBe(a.hash);
    expect(a.columns).toHaveLength(TABLE.length);
  });
});
