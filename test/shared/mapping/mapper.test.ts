import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type OperatorConfig, operatorConfigSchema } from '#shared/config/schema';
import { resolveStreamPlan } from '#shared/config/stream-plan';
import { landedColumns } from '#shared/landed-schema';
import { buildConverter, instantMicrosConverter } from '#shared/mapping/coerce';
import { CoercionError, MappingError } from '#shared/mapping/errors';
import { createRowMapper, type RowMapperOptions } from '#shared/mapping/mapper';
import { zoneConverter, zoneOffsetAt } from '#shared/mapping/time';
import { databaseSourceSeq, fileSourceSeq } from '#shared/mapping/version';
import { createPseudonymizer } from '#shared/pii/pseudonymizer';
import type { LandedBatch, SourceBatch, SourceColumn } from '#shared/types';
import { col, GAME_ROUNDS_COLUMNS, GAME_ROUNDS_STREAM, gameRoundRows, operatorConfig, TEST_KEY } from './fixtures.ts';

const hmac = (value: string) => createHmac('sha256', TEST_KEY).update(value).digest('hex');
const extractedAt = new Date('2024-05-01T12:00:00.000Z');
const READ_AT_US = 1_714_564_800_123_456n;

function mapper(overrides: Partial<RowMapperOptions> & Pick<RowMapperOptions, 'config' | 'stream' | 'sourceColumns'>) {
  return createRowMapper({
    pseudonymizer: createPseudonymizer(TEST_KEY),
    runId: 'run-1',
    extractedAt,
    sourceSeq: databaseSourceSeq(READ_AT_US),
    ...overrides,
  });
}

/** The landed column named `name`. */
function column(batch: LandedBatch, names: readonly { name: string }[], name: string) {
  const index = names.findIndex((c) => c.name === name);
  if (index < 0) throw new Error(`no landed column ${name}`);
  return batch.columns[index]!;
}

function coercionError(fn: () => unknown): CoercionError {
  try {
    fn();
  } catch (e) {
    if (e instanceof CoercionError) return e;
    throw e;
  }
  throw new Error('expected a CoercionError');
}

describe('game_rounds', () => {
  const config = operatorConfig({ game_rounds: GAME_ROUNDS_STREAM });
  const rows = gameRoundRows(6);
  const m = mapper({ config, stream: 'game_rounds', sourceColumns: GAME_ROUNDS_COLUMNS });
  const landed = m.map({ columns: GAME_ROUNDS_COLUMNS, rows });
  const get = (name: string) => column(landed, m.columns, name);

  it('lands columns aligned with the landed schema', () => {
    expect(m.columns.map((c) => c.name)).toEqual(landedColumns(config, 'game_rounds').map((c) => c.name));
    expect(landed.rowCount).toBe(6);
    expect(landed.columns).toHaveLength(m.columns.length);
    for (const values of landed.columns) expect(values).toHaveLength(6);
  });

  it('maps the same with the resolved plan given as without it', () => {
    const plan = resolveStreamPlan(config, 'game_rounds');
    const withPlan = mapper({ config, stream: 'game_rounds', sourceColumns: GAME_ROUNDS_COLUMNS, plan });
    expect(withPlan.columns).toEqual(m.columns);
    expect(withPlan.map({ columns: GAME_ROUNDS_COLUMNS, rows })).toEqual(landed);
  });

  it("refuses another stream's plan", () => {
    const plan = resolveStreamPlan(config, 'players');
    expect(() => mapper({ config, stream: 'game_rounds', sourceColumns: GAME_ROUNDS_COLUMNS, plan })).toThrow(
      /the plan given is the plan of stream players/,
    );
  });

  it('converts every value exactly to its landed type', () => {
    expect(get('round_id')).toEqual(rows.map((r) => r[0]));
    expect(get('player_id')).toEqual(rows.map((r) => hmac(r[1]!)));
    expect(get('stake')).toEqual(rows.map((r) => BigInt(r[4]!.replace('.', ''))));
    expect(get('stake')[0]).toBe(10n);
    expect(get('bonus_stake')[0]).toBe(50n);
    // Naive Malta wall-clock time (CET in March), microseconds truncated to milliseconds.
    expect(rows[1]![9]).toBe('2024-03-01 00:00:05.000037');
    expect(get('started_at')[1]).toBe(Date.parse('2024-02-29T23:00:05.000Z'));
    expect(get('settled_at')[0]).toBeNull();
    expect(get('settled_at')[1]).toBe(Date.parse('2024-02-29T23:00:08.123Z'));
    expect(get('status')).toEqual(['open', 'settled', 'settled', 'settled', 'cancelled', 'open']);
    expect(get('status_source')).toEqual(['OPEN', 'CLOSED', 'CLOSED', 'CLOSED', 'VOID', 'OPEN']);
  });

  it('adds the metadata columns', () => {
    expect(get('_cursor')).toEqual(get('updated_at'));
    expect(get('_cursor')[0]).toBe(Date.parse('2024-02-29T23:00:03.654Z'));
    expect(get('_run_id')).toEqual(Array(6).fill('run-1'));
    expect(get('_extracted_at')).toEqual(Array(6).fill(extractedAt.getTime()));
  });

  it('adds the version: the cursor in exact microseconds and the read time of the source', () => {
    // modified_ts of row 0 is 2024-03-01 00:00:03.654321 Malta time (CET).
    expect(rows[0]![11]).toBe('2024-03-01 00:00:03.654321');
    expect(get('_cursor_us')[0]).toBe(BigInt(Date.parse('2024-02-29T23:00:03.654Z')) * 1000n + 321n);
    get('_cursor_us').forEach((us, i) => {
      expect(typeof us).toBe('bigint');
      expect((us as bigint) / 1000n).toBe(BigInt(get('_cursor')[i] as number));
    });
    expect(get('_source_seq')).toEqual(Array(6).fill(READ_AT_US));
  });
});

describe('the zone of a time without an offset', () => {
  // A database operator in Malta that also takes file drops written in UTC.
  const config = operatorConfigSchema.parse({
    ...operatorConfig({ game_rounds: GAME_ROUNDS_STREAM }),
    fileDrop: { timeZone: 'UTC' },
  });
  const batch = (): SourceBatch => ({ columns: GAME_ROUNDS_COLUMNS, rows: gameRoundRows(2) });
  const startedAt = (origin: RowMapperOptions['origin']) => {
    const m = mapper({ config, stream: 'game_rounds', sourceColumns: GAME_ROUNDS_COLUMNS, origin });
    return column(m.map(batch()), m.columns, 'started_at')[1];
  };

  it('is the source zone for rows read from the database', () => {
    expect(gameRoundRows(2)[1]![9]).toBe('2024-03-01 00:00:05.000037');
    expect(startedAt(undefined)).toBe(Date.parse('2024-02-29T23:00:05.000Z'));
    expect(startedAt('database')).toBe(Date.parse('2024-02-29T23:00:05.000Z'));
  });

  it("is the file drop's zone for rows of a dropped file, as the file plan checks them", () => {
    expect(resolveStreamPlan(config, 'game_rounds').fileDropTimeZone).toBe('UTC');
    expect(startedAt('fileDrop')).toBe(Date.parse('2024-03-01T00:00:05.000Z'));
  });
});

describe('_source_seq of a file', () => {
  const config = operatorConfig({ game_rounds: GAME_ROUNDS_STREAM });
  const receivedAt = new Date('2024-06-01T10:00:00.750Z');
  const base = BigInt(Date.parse('2024-06-01T10:00:00Z') / 1000) * 1_000_000_000n;

  it('numbers the rows of the input across batches after the receive second', () => {
    const m = mapper({
      config,
      stream: 'game_rounds',
      sourceColumns: GAME_ROUNDS_COLUMNS,
      sourceSeq: fileSourceSeq(receivedAt),
    });
    const rows = gameRoundRows(5);
    const first = m.map({ columns: GAME_ROUNDS_COLUMNS, rows: rows.slice(0, 3) });
    const second = m.map({ columns: GAME_ROUNDS_COLUMNS, rows: rows.slice(3) });
    expect([...column(first, m.columns, '_source_seq'), ...column(second, m.columns, '_source_seq')]).toEqual([
      base,
      base + 1n,
      base + 2n,
      base + 3n,
      base + 4n,
    ]);
  });

  it('orders a later upload after every row of an earlier one, and refuses more rows than a second can number', () => {
    const earlier = fileSourceSeq(new Date('2024-06-01T10:00:00.999Z'));
    const later = fileSourceSeq(new Date('2024-06-01T10:00:01Z'));
    if (earlier.kind !== 'ordinal' || later.kind !== 'ordinal') throw new Error('expected ordinal sequences');
    expect(earlier.start + BigInt(earlier.maxRows - 1)).toBeLessThan(later.start);
    // Within the signed 64-bit range until 2262.
    const last = fileSourceSeq(new Date('2262-04-11T23:47:15Z'));
    if (last.kind !== 'ordinal') throw new Error('expected an ordinal sequence');
    expect(last.start + BigInt(last.maxRows - 1)).toBeLessThanOrEqual(2n ** 63n - 1n);
    expect(() => fileSourceSeq(new Date('2262-04-11T23:47:17Z'))).toThrow(RangeError);
    expect(() => fileSourceSeq(new Date(Number.NaN))).toThrow(RangeError);

    const m = mapper({
      config,
      stream: 'game_rounds',
      sourceColumns: GAME_ROUNDS_COLUMNS,
      sourceSeq: { kind: 'ordinal', start: base, maxRows: 4 },
    });
    m.map({ columns: GAME_ROUNDS_COLUMNS, rows: gameRoundRows(3) });
    expect(() => m.map({ columns: GAME_ROUNDS_COLUMNS, rows: gameRoundRows(2) })).toThrow(MappingError);
  });
});

describe('enumerations', () => {
  const config = operatorConfig({
    payments: {
      table: 'cashier',
      columns: {
        payment_id: 'id',
        player_id: 'customer',
        direction: 'dir',
        status: { column: 'state', values: { OK: 'approved', KO: 'declined' } },
        updated_at: 'changed',
      },
    },
  });
  const sourceColumns = [
    col('id', 'integer', 'bigint'),
    col('customer', 'text'),
    col('dir', 'text'),
    col('state', 'text', 'character(8)'),
    col('changed', 'timestamptz', 'timestamp with time zone'),
  ];
  const row = (state: string | null, dir: string | null) => ['1', 'c1', dir, state, '2024-05-01 10:00:00+00'];

  it('maps operator values, keeps canonical ones, counts the rest as unmapped', () => {
    const m = mapper({ config, stream: 'payments', sourceColumns });
    const landed = m.map({
      columns: sourceColumns,
      rows: [
        row('OK', 'deposit'),
        row('KO      ', 'withdrawal'),
        row('refunded', 'DEP'),
        row('WEIRD', null),
        row('constructor', 'deposit'),
        row('WEIRD', 'deposit'),
        row(null, 'deposit'),
      ],
    });
    const get = (name: string) => column(landed, m.columns, name);
    expect(get('status')).toEqual(['approved', 'declined', 'refunded', 'unmapped', 'unmapped', 'unmapped', null]);
    expect(get('status_source')).toEqual(['OK', 'KO      ', 'refunded', 'WEIRD', 'constructor', 'WEIRD', null]);
    expect(get('direction')).toEqual(['deposit', 'withdrawal', 'unmapped', null, 'deposit', 'deposit', 'deposit']);
    expect(get('payment_id')).toEqual(['1', '1', '1', '1', '1', '1', '1']);
    expect(m.unmappedCounts()).toEqual({ direction: 1, status: 3 });
    expect(m.unmapped().status).toEqual({ count: 3, samples: ['WEIRD', 'constructor'] });

    m.map({ columns: sourceColumns, rows: [row('NEW', 'deposit')] });
    expect(m.unmappedCounts().status).toBe(4);
  });

  it('lands unmapped canonical fields as NULL', () => {
    const m = mapper({ config, stream: 'payments', sourceColumns });
    const landed = m.map({ columns: sourceColumns, rows: [row('OK', 'deposit')] });
    for (const name of ['method', 'amount', 'currency', 'created_at']) {
      expect(column(landed, m.columns, name)).toEqual([null]);
    }
  });
});

describe('players: PII and types', () => {
  const config = operatorConfig({
    players: {
      table: 'customers',
      columns: {
        player_id: 'customer_id',
        updated_at: 'modified_ts',
        email: 'email_address',
        vip_level: 'vip_tier',
        birth_date: {
          column: 'dob',
          pii: 'keep',
          justification: 'Age verification reports require the full date of birth.',
        },
      },
    },
    payments: { table: 'cashier', columns: { payment_id: 'id', player_id: 'customer', updated_at: 'changed' } },
  });
  const players: SourceColumn[] = [
    col('customer_id', 'integer', 'integer'),
    col('modified_ts', 'timestamp', 'timestamp without time zone'),
    col('email_address', 'text'),
    col('vip_tier', 'integer', 'smallint'),
    col('dob', 'date'),
  ];
  const payments: SourceColumn[] = [col('id', 'text'), col('customer', 'text'), col('changed', 'timestamptz')];

  it('pseudonymizes player ids the same way in every stream, and normalizes e-mails', () => {
    const pm = mapper({ config, stream: 'players', sourceColumns: players });
    const landedPlayers = pm.map({
      columns: players,
      rows: [
        ['42', '2024-05-01 10:00:00', ' Alice@Example.COM ', '3', '1990-05-17'],
        ['43', '2024-05-01 10:00:00', 'alice@example.com', null, null],
      ],
    });
    const py = mapper({ config, stream: 'payments', sourceColumns: payments });
    const landedPayments = py.map({ columns: payments, rows: [['P1', '42', '2024-05-01 10:00:00+00']] });
    const playerIds = column(landedPlayers, pm.columns, 'player_id');
    expect(playerIds[0]).toBe(hmac('42'));
    expect(column(landedPayments, py.columns, 'player_id')).toEqual([playerIds[0]]);
    const emails = column(landedPlayers, pm.columns, 'email');
    expect(emails[0]).toBe(hmac('alice@example.com'));
    expect(emails[1]).toBe(emails[0]);
    expect(column(landedPlayers, pm.columns, 'vip_level')).toEqual([3, null]);
    expect(column(landedPlayers, pm.columns, 'birth_date')).toEqual([7441, null]);
    expect(column(landedPlayers, pm.columns, 'updated_at')).toEqual([
      Date.parse('2024-05-01T08:00:00Z'),
      Date.parse('2024-05-01T08:00:00Z'),
    ]);
    // Nothing of the clear-text identifiers lands.
    const asJson = JSON.stringify(landedPlayers.columns, (_, v) => (typeof v === 'bigint' ? String(v) : v));
    expect(asJson).not.toMatch(/alice|"42"/i);
  });

  it('hashes key and reference fields in the key form of source.keyComparison, database or files', () => {
    const streams = {
      players: { columns: { player_id: 'customer_id', updated_at: 'modified_ts' } },
      payments: {
        columns: {
          payment_id: 'id',
          player_id: 'customer',
          updated_at: 'changed',
          method: { column: 'method', pii: 'pseudonymize' as const },
        },
      },
    };
    const filesWith = (keyComparison?: { caseInsensitive: boolean; padSpace: boolean }) =>
      operatorConfigSchema.parse({
        operatorId: 'lucky-files',
        displayName: 'Lucky Files',
        stage: 'sandbox',
        account: '111111111111',
        region: 'eu-west-1',
        source: { type: 'files', ...(keyComparison ? { keyComparison } : {}) },
        fileDrop: { principals: [] },
        streams,
      });
    const playerColumns = [col('customer_id', 'text'), col('modified_ts', 'text')];
    const paymentColumns = [col('id', 'text'), col('customer', 'text'), col('changed', 'text'), col('method', 'text')];
    const land = (config: OperatorConfig) => {
      const pm = mapper({ config, stream: 'players', sourceColumns: playerColumns });
      const py = mapper({ config, stream: 'payments', sourceColumns: paymentColumns });
      const p = pm.map({ columns: playerColumns, rows: [['Ace-Key ', '2024-05-01T10:00:00Z']] });
      const y = py.map({
        columns: paymentColumns,
        rows: [
          ['Pay-1 ', 'ace-key', '2024-05-01T10:00:00Z', 'Card '],
          ['pay-2', 'Ace-Key ', '2024-05-01T10:00:00Z', 'card'],
        ],
      });
      return {
        player: column(p, pm.columns, 'player_id')[0],
        payments: column(y, py.columns, 'player_id'),
        paymentIds: column(y, py.columns, 'payment_id'),
        methods: column(y, py.columns, 'method'),
      };
    };

    // A file drop compares exactly unless the config says otherwise.
    const exact = land(filesWith());
    expect(exact.player).toBe(hmac('Ace-Key '));
    expect(exact.payments).toEqual([hmac('ace-key'), hmac('Ace-Key ')]);

    const folded = land(filesWith({ caseInsensitive: true, padSpace: true }));
    expect(folded.player).toBe(hmac('ace-key'));
    expect(folded.payments).toEqual([hmac('ace-key'), hmac('ace-key')]);
    // A clear key lands as it is; a pseudonymized field that is no key is hashed exactly.
    expect(folded.paymentIds).toEqual(['Pay-1 ', 'pay-2']);
    expect(folded.methods).toEqual([hmac('Card '), hmac('card')]);
  });

  it('does not land a dropped field even when it is mapped', () => {
    const dropped = operatorConfig({
      players: {
        table: 'customers',
        columns: { player_id: 'customer_id', updated_at: 'modified_ts', birth_date: 'dob' },
      },
    });
    const m = mapper({ config: dropped, stream: 'players', sourceColumns: players });
    expect(m.columns.map((c) => c.name)).not.toContain('birth_date');
  });

  it('redacts personal values in coercion errors', () => {
    const m = mapper({ config, stream: 'players', sourceColumns: players });
    const error = coercionError(() =>
      m.map({ columns: players, rows: [['42', '2024-05-01 10:00:00', 'a@b.c', '1', '1990-05-17 13:45:00']] }),
    );
    expect(error.message).toBe(
      'acme-casino/players: birth_date (column dob): <redacted personal value> has a time of day but the landed type is DATE (the time would be lost); map a date column in streams.players.columns.birth_date, or fix the source (first bad row: #0 of the batch)',
    );
    expect(error.message).not.toContain('1990');
  });

  it('names a NULL primary key', () => {
    const m = mapper({ config, stream: 'players', sourceColumns: players });
    const error = coercionError(() =>
      m.map({
        columns: players,
        rows: [
          ['1', '2024-05-01 10:00:00', null, null, null],
          [null, '2024-05-01 10:00:00', null, null, null],
        ],
      }),
    );
    expect(error.message).toBe(
      'acme-casino/players: player_id (column customer_id): value is NULL but player_id is required (primary key); fix the source row, or map a column without NULLs in streams.players.columns.player_id (first bad row: #1 of the batch)',
    );
    expect(error.rowIndex).toBe(1);
  });
});

describe('coercion errors', () => {
  const config = operatorConfig({
    payments: {
      table: 'cashier',
      columns: {
        payment_id: 'txn_id',
        player_id: 'customer',
        amount: { column: 'amt', precision: 18, scale: 2 },
        updated_at: 'changed',
      },
    },
  });
  const sourceColumns = [
    col('txn_id', 'text'),
    col('customer', 'text'),
    col('amt', 'decimal', 'numeric(18,3)'),
    col('changed', 'timestamp'),
  ];

  it('names operator, stream, field, column, value and the fix', () => {
    const m = mapper({ config, stream: 'payments', sourceColumns });
    const error = coercionError(() =>
      m.map({
        columns: sourceColumns,
        rows: [
          ['P-1', 'c1', '12.340', '2024-05-01 10:00:00'],
          ['P-2', 'c1', '12.345', '2024-05-01 10:00:00'],
        ],
      }),
    );
    expect(error.name).toBe('CoercionError');
    expect(error.retryable).toBe(false);
    expect(error.message).toBe(
      'acme-casino/payments: amount (column amt): value "12.345" has 3 decimals but the landed type is DECIMAL(18,2); widen scale in streams.payments.columns.amount or fix the source (first bad row: payment_id "P-2")',
    );
    expect(error).toMatchObject({ operatorId: 'acme-casino', stream: 'payments', field: 'amount', column: 'amt' });
  });

  it('truncates long values', () => {
    const m = mapper({ config, stream: 'payments', sourceColumns });
    const error = coercionError(() =>
      m.map({ columns: sourceColumns, rows: [['P-1', 'c1', '1'.repeat(500), '2024-05-01 10:00:00']] }),
    );
    expect(error.message).toContain(`value "${'1'.repeat(100)}…" has 500 integer digits`);
    expect(error.message.length).toBeLessThan(400);
  });

  it('refuses a cursor it cannot read, naming the cursor setting', () => {
    const m = mapper({ config, stream: 'payments', sourceColumns });
    const error = coercionError(() => m.map({ columns: sourceColumns, rows: [['P-1', 'c1', '1', 'yesterday']] }));
    expect(error.message).toMatch(
      /^acme-casino\/payments: updated_at \(column changed\): value "yesterday" is not a valid timestamp/,
    );
  });
});

describe('cursor', () => {
  it('uses the configured cursor column for _cursor and for an unmapped canonical cursor field', () => {
    const config = operatorConfig({
      sessions: { table: 'logins', cursor: 'login_ts', columns: { session_id: 'sid', player_id: 'cid' } },
    });
    const sourceColumns = [col('sid', 'text'), col('cid', 'text'), col('login_ts', 'timestamptz')];
    const m = mapper({ config, stream: 'sessions', sourceColumns });
    const landed = m.map({ columns: sourceColumns, rows: [['s1', 'c1', '2024-05-01 10:00:00.5+02']] });
    expect(column(landed, m.columns, '_cursor')).toEqual([Date.parse('2024-05-01T08:00:00.500Z')]);
    expect(column(landed, m.columns, 'started_at')).toEqual([Date.parse('2024-05-01T08:00:00.500Z')]);
  });

  it('takes an explicit cursor column and refuses a NULL or zero-date cursor', () => {
    const config = operatorConfig({ game_rounds: GAME_ROUNDS_STREAM });
    const m = mapper({ config, stream: 'game_rounds', sourceColumns: GAME_ROUNDS_COLUMNS, cursorColumn: 'started_ts' });
    const rows = gameRoundRows(2);
    const landed = m.map({ columns: GAME_ROUNDS_COLUMNS, rows });
    expect(column(landed, m.columns, '_cursor')).toEqual(column(landed, m.columns, 'started_at'));
    const zero = rows.map((r) => [...r]);
    zero[1]![9] = '0000-00-00 00:00:00';
    expect(coercionError(() => m.map({ columns: GAME_ROUNDS_COLUMNS, rows: zero })).message).toMatch(
      /^acme-casino\/game_rounds: _cursor \(column started_ts\): value "0000-00-00 00:00:00" is MySQL's zero date/,
    );
    zero[1]![9] = null;
    expect(coercionError(() => m.map({ columns: GAME_ROUNDS_COLUMNS, rows: zero })).message).toContain(
      'value is NULL but _cursor is required (cursor); fix the source row, or map a column without NULLs in streams.game_rounds.cursor (first bad row: round_id "R0000000001")',
    );
  });
});

describe('one source column landed in several columns', () => {
  it('converts it once and lands what each column would have converted, with its own NULL rules', () => {
    // started_ts feeds started_at and settled_at (nullable) and, as the cursor, _cursor (required).
    const config = operatorConfig({
      game_rounds: { ...GAME_ROUNDS_STREAM, columns: { ...GAME_ROUNDS_STREAM.columns, settled_at: 'started_ts' } },
    });
    const m = mapper({ config, stream: 'game_rounds', sourceColumns: GAME_ROUNDS_COLUMNS, cursorColumn: 'started_ts' });
    const rows = gameRoundRows(500);
    const landed = m.map({ columns: GAME_ROUNDS_COLUMNS, rows });
    const zone = zoneConverter('Europe/Malta');
    const convert = buildConverter({
      type: { kind: 'timestamp' },
      kind: 'timestamp',
      nullable: true,
      configPath: 'x',
      zone,
    });
    const expected = rows.map((r) => convert(r[9]!));
    expect(column(landed, m.columns, 'started_at')).toEqual(expected);
    expect(column(landed, m.columns, 'settled_at')).toEqual(expected);
    expect(column(landed, m.columns, '_cursor')).toEqual(expected);

    // NULLs and zero dates land as NULL where the column may hold one, and fail the required cursor.
    const odd = rows.map((r) => [...r]);
    odd[3]![9] = '0000-00-00 00:00:00';
    odd[7]![9] = null;
    const withoutCursor = mapper({ config, stream: 'game_rounds', sourceColumns: GAME_ROUNDS_COLUMNS });
    const nulls = withoutCursor.map({ columns: GAME_ROUNDS_COLUMNS, rows: odd });
    for (const name of ['started_at', 'settled_at']) {
      const values = column(nulls, withoutCursor.columns, name);
      expect(values[3]).toBeNull();
      expect(values[7]).toBeNull();
      expect(values.filter((v) => v === null)).toHaveLength(2);
    }
    expect(coercionError(() => m.map({ columns: GAME_ROUNDS_COLUMNS, rows: odd })).message).toMatch(
      /^acme-casino\/game_rounds: _cursor \(column started_ts\): value "0000-00-00 00:00:00" is MySQL's zero date/,
    );
    odd[3]![9] = rows[3]![9]!;
    expect(coercionError(() => m.map({ columns: GAME_ROUNDS_COLUMNS, rows: odd })).message).toContain(
      'value is NULL but _cursor is required (cursor)',
    );
  });
});

describe('_cursor and _cursor_us from one parse', () => {
  /** Wall-clock texts over the DST changes of a zone in 2023-2025, with fractions of every width and some offsets. */
  function textsAroundChanges(zone: string): string[] {
    const texts: string[] = [];
    const DAY = 86_400_000;
    let previous = zoneOffsetAt(zone, Date.UTC(2023, 0, 1));
    let k = 0;
    for (let t = Date.UTC(2023, 0, 2); t < Date.UTC(2026, 0, 1); t += DAY) {
      const offset = zoneOffsetAt(zone, t);
      if (offset === previous) continue;
      previous = offset;
      for (let wall = t - 1.5 * DAY; wall < t + 0.5 * DAY; wall += 437_000) {
        const iso = new Date(wall).toISOString();
        const digits = k % 10;
        const fraction = digits === 0 ? '' : `.${String(123456789 + k * 7919).slice(0, digits)}`;
        const suffix = k % 17 === 0 ? '+02' : k % 23 === 0 ? 'Z' : '';
        texts.push(`${iso.slice(0, 10)} ${iso.slice(11, 19)}${fraction}${suffix}`);
        k++;
      }
    }
    return texts;
  }

  it.each([
    ['Europe/Malta', 'timestamp'],
    ['America/New_York', 'timestamp'],
    ['Australia/Lord_Howe', 'timestamp'],
    ['America/Santiago', 'timestamp'],
    ['Europe/Malta', 'timestamptz'],
  ] as const)('%s, %s: land what their own converters give', (timeZone, kind) => {
    const config = operatorConfig({ game_rounds: GAME_ROUNDS_STREAM }, { timeZone });
    const sourceColumns = GAME_ROUNDS_COLUMNS.map((c) => (c.name === 'modified_ts' ? col(c.name, kind) : c));
    const texts = textsAroundChanges(timeZone);
    expect(texts.length).toBeGreaterThan(1000);
    const base = gameRoundRows(texts.length);
    const rows = base.map((r, i) => [...r.slice(0, 11), texts[i]!]);
    const m = mapper({ config, stream: 'game_rounds', sourceColumns });
    const landed = m.map({ columns: sourceColumns, rows });
    const target = { kind, nullable: false, configPath: 'x', zone: zoneConverter(timeZone) };
    const ms = buildConverter({ ...target, type: { kind: 'timestamp' } });
    const us = instantMicrosConverter(target);
    expect(column(landed, m.columns, '_cursor')).toEqual(texts.map(ms));
    expect(column(landed, m.columns, 'updated_at')).toEqual(texts.map(ms));
    expect(column(landed, m.columns, '_cursor_us')).toEqual(texts.map(us));
  });
});

describe('mapping errors', () => {
  const config = operatorConfig({ game_rounds: GAME_ROUNDS_STREAM });

  it('names a mapped column the source does not have', () => {
    const columns = GAME_ROUNDS_COLUMNS.filter((c) => c.name !== 'win_amount');
    expect(() => mapper({ config, stream: 'game_rounds', sourceColumns: columns })).toThrow(
      /^acme-casino\/game_rounds: payout is mapped to column win_amount \(streams\.game_rounds\.columns\.payout\), which the source does not have/,
    );
  });

  it('refuses a column type that cannot feed the field', () => {
    const columns = GAME_ROUNDS_COLUMNS.map((c) => (c.name === 'bet_amount' ? col('bet_amount', 'json', 'jsonb') : c));
    const error = (() => {
      try {
        mapper({ config, stream: 'game_rounds', sourceColumns: columns });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(MappingError);
    expect((error as MappingError).message).toBe(
      'acme-casino/game_rounds: stake is DECIMAL(18,2) but is mapped to column bet_amount of type jsonb; map a compatible column in streams.game_rounds.columns.stake',
    );
  });

  it('refuses a cursor column that is not a time', () => {
    const columns = [...GAME_ROUNDS_COLUMNS, col('version', 'integer', 'bigint')];
    expect(() => mapper({ config, stream: 'game_rounds', sourceColumns: columns, cursorColumn: 'version' })).toThrow(
      'cursor column version is bigint; the cursor must be a timestamp or date column',
    );
  });

  it('refuses an unconfigured stream and a batch with other columns', () => {
    expect(() => mapper({ config, stream: 'players', sourceColumns: [] })).toThrow(
      'acme-casino/players: stream players is not configured',
    );
    const m = mapper({ config, stream: 'game_rounds', sourceColumns: GAME_ROUNDS_COLUMNS });
    const other: SourceBatch = { columns: GAME_ROUNDS_COLUMNS.slice(1), rows: [] };
    expect(() => m.map(other)).toThrow(MappingError);
    expect(() => m.map({ columns: GAME_ROUNDS_COLUMNS, rows: [['R1']] })).toThrow('row #0 of the batch has 1 values');
  });

  it('matches column names case-insensitively when unambiguous', () => {
    const upper = GAME_ROUNDS_COLUMNS.map((c) => ({ ...c, name: c.name.toUpperCase() }));
    const m = mapper({ config, stream: 'game_rounds', sourceColumns: upper });
    expect(m.map({ columns: upper, rows: gameRoundRows(3) }).rowCount).toBe(3);
  });
});

describe('volume', () => {
  it('maps a 50k-row batch', () => {
    const config = operatorConfig({ game_rounds: GAME_ROUNDS_STREAM });
    const rows = gameRoundRows(50_000);
    const m = mapper({ config, stream: 'game_rounds', sourceColumns: GAME_ROUNDS_COLUMNS });
    const t0 = performance.now();
    const landed = m.map({ columns: GAME_ROUNDS_COLUMNS, rows });
    const ms = performance.now() - t0;
    expect(landed.rowCount).toBe(50_000);
    expect(column(landed, m.columns, 'stake')[49_999]).toBe(BigInt(rows[49_999]![4]!.replace('.', '')));
    // Generous bound for a shared 2-core CI machine; the throughput script measures properly.
    expect(ms).toBeLessThan(5_000);
  });
});
