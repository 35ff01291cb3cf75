/**
 * The extraction engine (`extractRange`) against PostgreSQL and MariaDB, s3rver and DuckDB: rows
 * sharing one cursor value across batches, invocations and a window boundary; edge values (NULLs,
 * DECIMAL(38,10) extremes, DST, Unicode, 1 MB text); a source session killed mid-window; S3
 * failing mid-window and at the commit. Every retry must converge to exactly one copy.
 */
import { randomBytes } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamName } from '#shared/canonical';
import { type OperatorConfig, operatorConfigSchema } from '#shared/config/schema';
import type { Continuation } from '#shared/contracts/steps';
import { CursorLookbackError } from '#shared/extract/cursor-check';
import { type ExtractRangeOutcome, extractRange } from '#shared/extract/extract-range';
import { unscaledOf } from '#shared/parquet/decimal-text';
import { createPseudonymizer } from '#shared/pii/pseudonymizer';
import { S3Sink } from '#shared/sink/s3';
import { applicationNameFor, openSource, type SourceConnection } from '#shared/sources/index';
import { credentialsFor, type Engine, engineAvailable } from '../helpers/databases.ts';
import { type DuckDbHandle, openDuckDb } from '../helpers/duckdb.ts';
import { s3rverClientConfig } from '../helpers/s3rver.ts';
import {
  col,
  committedWindow,
  comparable,
  createScratchSchema,
  expectedRows,
  getManifest,
  HOUR,
  type LandedRow,
  type LocalAws,
  MALTA,
  MINUTE,
  readLanded,
  type SourceDb,
  type StreamExpectation,
  startLocalAws,
  sumOf,
  wallText,
  windowPartKeys,
} from './fixtures.ts';

const ENGINES: readonly Engine[] = ['postgres', 'mysql'];
const available: Record<Engine, boolean> = {
  postgres: await engineAvailable('postgres'),
  mysql: await engineAvailable('mysql'),
};

const MAX = '9999999999999999999999999999.9999999999';
const NEG_MAX = `-${MAX}`;
const UNICODE = 'Ünïcödé 🎰🃏 中文 ½ ß ﷽ 👩‍👩‍👧‍👦';
/** Characters the PostgreSQL COPY text format escapes, and its NULL marker as data. */
const ESCAPES = 'Play\'n GO "q" \\back\\slash\ttab\nnewline\rcr \\N end';
const MEGABYTE_UNIT = 'Grüße €🎲 ';
const MEGABYTE = MEGABYTE_UNIT.repeat(Math.ceil(1_048_576 / Buffer.byteLength(MEGABYTE_UNIT)));

/** Payments sharing one cursor value: 14:00 in Malta (CEST) on 2026-06-15 is 12:00 UTC. */
const SAME_WALL = '2026-06-15 14:00:00';
const SAME_AT = Date.parse('2026-06-15T12:00:00Z');
const SAME_ROWS = 3000;
const AROUND_ROWS = 300;

const PAYMENT_STATUS = { PENDING: 'pending', APPROVED: 'approved', DECLINED: 'declined' } as const;
const ROUND_STATUS = { OPEN: 'open', CLOSED: 'settled', VOID: 'cancelled' } as const;
const ACCOUNT_STATUS = { ACTIVE: 'active', BLOCKED: 'suspended', CLOSED: 'closed' } as const;
const KYC_STATUS = { NONE: 'none', PENDING: 'pending', OK: 'verified', FAILED: 'rejected' } as const;

let aws: LocalAws;
let duck: DuckDbHandle;

beforeAll(async () => {
  [aws, duck] = await Promise.all([startLocalAws(), openDuckDb()]);
});

afterAll(async () => {
  duck?.close();
  await aws?.stop();
});

function ddl(engine: Engine, db: SourceDb): string[] {
  const pg = engine === 'postgres';
  const ts = pg ? 'timestamp(6)' : 'datetime(6)';
  const text = pg ? 'text' : 'mediumtext';
  const money = pg ? 'numeric(38,10)' : 'decimal(38,10)';
  const index = (table: string, cursor: string, key: string) =>
    `CREATE INDEX ${db.q(`${table}_cursor`)} ON ${db.table(table)} (${db.q(cursor)}, ${db.q(key)})`;
  return [
    `CREATE TABLE ${db.table('same_ts_payments')} (txn_id bigint PRIMARY KEY, customer_id varchar(16) NOT NULL,
       amount ${pg ? 'numeric(18,2)' : 'decimal(18,2)'}, currency_code char(3), txn_status varchar(16), modified_ts ${ts} NOT NULL)`,
    index('same_ts_payments', 'modified_ts', 'txn_id'),
    `CREATE TABLE ${db.table('edge_rounds')} (round_id varchar(64) PRIMARY KEY, customer_id varchar(64) NOT NULL,
       game_code ${text}, studio ${text}, bet_amount ${money}, win_amount ${money}, bonus_bet_amount ${money},
       currency_code char(3), round_state varchar(16), started_ts ${ts}, settled_ts ${ts}, modified_ts ${ts} NOT NULL)`,
    index('edge_rounds', 'modified_ts', 'round_id'),
    `CREATE TABLE ${db.table('edge_players')} (customer_id varchar(64) PRIMARY KEY, signup_ts ${ts}, modified_ts ${ts} NOT NULL,
       country_code char(2), currency_code char(3), account_state varchar(16), kyc_state varchar(16), vip_tier integer,
       email_address varchar(255), dob date)`,
    index('edge_players', 'modified_ts', 'customer_id'),
  ];
}

/** 300 rows before the shared cursor, 3000 on it, 300 after; keys cross 3- and 4-digit boundaries. */
function samePayments(): (string | null)[][] {
  const statuses = Object.keys(PAYMENT_STATUS);
  const row = (id: number, wall: string) => [
    String(id),
    `C${id % 97}`,
    ((((id * 7919) % 100_000) - 20_000) / 100).toFixed(2),
    'EUR',
    statuses[id % statuses.length]!,
    wall,
  ];
  const rows = [];
  for (let id = 1; id <= SAME_ROWS; id++) rows.push(row(id, SAME_WALL));
  for (let i = 0; i < AROUND_ROWS; i++) {
    rows.push(row(SAME_ROWS + 1 + i, wallText(SAME_AT - ((i % 50) + 1) * MINUTE)));
    rows.push(row(SAME_ROWS + AROUND_ROWS + 1 + i, wallText(SAME_AT + ((i % 50) + 1) * MINUTE)));
  }
  return rows;
}

const ROUND_COLUMNS = [
  'round_id',
  'customer_id',
  'game_code',
  'studio',
  'bet_amount',
  'win_amount',
  'bonus_bet_amount',
  'currency_code',
  'round_state',
  'started_ts',
  'settled_ts',
  'modified_ts',
];

/** Edge values on 2026-06-01, and cursors around the DST changes of 2026 in Malta. */
function edgeRounds(): (string | null)[][] {
  const day = '2026-06-01';
  const rows: (string | null)[][] = [
    ['m-null', 'C1', null, null, null, null, null, null, null, null, null, `${day} 12:00:00`],
    ['m-max', 'C2', 'max', 'p', MAX, NEG_MAX, '0', 'EUR', 'OPEN', `${day} 11:59:00`, null, `${day} 12:00:01`],
    [
      'm-max2',
      'C2',
      'max2',
      'p',
      MAX,
      '-0.0000000001',
      '-123.4567890123',
      'EUR',
      'CLOSED',
      null,
      `${day} 12:00:02`,
      `${day} 12:00:02`,
    ],
    ['m-neg', 'C3', 'neg', 'p', NEG_MAX, '1.5', null, 'USD', 'VOID', null, null, `${day} 12:00:03`],
    ['m-uni', 'C🎰', UNICODE, ESCAPES, '0.0000000001', '0', '0', '€$¥', 'WEIRD', null, null, `${day} 12:00:04`],
    ['m-big', 'C4', MEGABYTE, ' ', '1', '2', '3', 'EUR', 'CLOSED', null, null, `${day} 12:00:05`],
    ['m-empty', 'C5', '', ' ', '0', '0', '0', 'EUR', '', null, null, `${day} 12:00:06`],
  ];
  const dst = (id: string, wall: string, settled: string | null = null) =>
    rows.push([id, 'C6', 'dst', 'p', '1', '0', '0', 'EUR', 'CLOSED', wall, settled, wall]);
  // Clocks go back at 03:00 CEST on 25 October 2026: 02:00–02:59 happen twice.
  dst('o-01', '2026-10-25 01:00:00');
  dst('o-02', '2026-10-25 01:30:00', '2026-10-25 02:15:00');
  dst('o-03', '2026-10-25 01:59:59.999999');
  dst('o-04', '2026-10-25 02:00:00');
  dst('o-05', '2026-10-25 02:30:00.5');
  dst('o-06', '2026-10-25 02:59:59.999999');
  dst('o-07', '2026-10-25 03:00:00');
  dst('o-08', '2026-10-25 03:30:00');
  // Clocks go forward at 02:00 CET on 29 March 2026: 02:00–02:59 do not exist.
  dst('s-01', '2026-03-29 01:30:00');
  dst('s-02', '2026-03-29 01:59:59.999');
  dst('s-03', '2026-03-29 02:00:00');
  dst('s-04', '2026-03-29 02:30:00', '2026-03-29 02:45:00');
  dst('s-05', '2026-03-29 03:00:00');
  dst('s-06', '2026-03-29 03:30:00');
  // Microseconds at both ends of the skipped hour.
  dst('s-07', '2026-03-29 02:59:59.999999');
  dst('s-08', '2026-03-29 03:00:00.000001');
  return rows;
}

const PLAYER_COLUMNS = [
  'customer_id',
  'signup_ts',
  'modified_ts',
  'country_code',
  'currency_code',
  'account_state',
  'kyc_state',
  'vip_tier',
  'email_address',
  'dob',
];

function edgePlayers(): (string | null)[][] {
  const at = (s: number) => `2026-06-01 10:00:0${s}`;
  return [
    ['p-null', null, at(0), null, null, null, null, null, null, null],
    [
      'p-max',
      '1999-12-31 23:59:59.999999',
      at(1),
      'MT',
      'EUR',
      'ACTIVE',
      'OK',
      '2147483647',
      ' MiXeD.Case@Example.COM ',
      '9999-12-31',
    ],
    [
      'p-min',
      '2026-03-29 02:30:00',
      at(2),
      'DE',
      'EUR',
      'BLOCKED',
      'PENDING',
      '-2147483648',
      'ünï@exämple.de',
      '1900-01-01',
    ],
    ['p-leap', '2026-10-25 02:30:00', at(3), 'SE', 'SEK', 'CLOSED', 'FAILED', '0', '', '2000-02-29'],
    ['🎰-player', '2026-05-31 23:00:00', at(4), 'NO', 'NOK', 'SUSPENDED?', 'NONE', '7', 'x@y.z', '1990-05-17'],
  ];
}

function edgeConfig(engine: Engine, schema: string, operatorId: string): OperatorConfig {
  return operatorConfigSchema.parse({
    operatorId,
    displayName: 'Edge Casino',
    stage: 'sandbox',
    account: '111111111111',
    region: 'eu-west-1',
    source: {
      type: engine,
      host: '127.0.0.1',
      database: engine === 'postgres' ? credentialsFor('postgres').database : schema,
      ...(engine === 'postgres' ? { schema } : {}),
      tls: 'disable',
      timeZone: MALTA,
      statementTimeoutSeconds: 30,
      // The scratch databases are utf8mb4_bin on MySQL: case-sensitive, PAD SPACE.
      keyComparison: { caseInsensitive: false, padSpace: engine === 'mysql' },
      network: { mode: 'created' },
    },
    streams: {
      payments: {
        table: 'same_ts_payments',
        columns: {
          payment_id: 'txn_id',
          player_id: 'customer_id',
          amount: { column: 'amount', precision: 18, scale: 2 },
          currency: 'currency_code',
          status: { column: 'txn_status', values: PAYMENT_STATUS },
          updated_at: 'modified_ts',
        },
      },
      game_rounds: {
        table: 'edge_rounds',
        columns: {
          round_id: 'round_id',
          player_id: 'customer_id',
          game_id: 'game_code',
          provider: 'studio',
          stake: { column: 'bet_amount', precision: 38, scale: 10 },
          payout: { column: 'win_amount', precision: 38, scale: 10 },
          bonus_stake: { column: 'bonus_bet_amount', precision: 38, scale: 10 },
          currency: 'currency_code',
          status: { column: 'round_state', values: ROUND_STATUS },
          started_at: 'started_ts',
          settled_at: 'settled_ts',
          updated_at: 'modified_ts',
        },
      },
      players: {
        table: 'edge_players',
        columns: {
          player_id: 'customer_id',
          registered_at: 'signup_ts',
          updated_at: 'modified_ts',
          country: 'country_code',
          currency: 'currency_code',
          status: { column: 'account_state', values: ACCOUNT_STATUS },
          kyc_status: { column: 'kyc_state', values: KYC_STATUS },
          vip_level: 'vip_tier',
          email: 'email_address',
          birth_date: {
            column: 'dob',
            pii: 'keep',
            justification: 'Age verification reports require the full date of birth.',
          },
        },
      },
    },
    removalPolicy: 'destroy',
  });
}

function expectation(stream: StreamName, key: Buffer, runId: string): StreamExpectation {
  const meta = {
    _cursor: col.time('modified_ts'),
    _cursor_us: col.micros('modified_ts'),
    _run_id: col.constant(runId),
    _deleted: col.constant('false'),
  };
  const none = col.constant(null);
  switch (stream) {
    case 'payments':
      return {
        payment_id: col.text('txn_id'),
        player_id: col.pseudonym(key, 'customer_id'),
        direction: none,
        direction_source: none,
        method: none,
        amount: col.money('amount', 2),
        currency: col.text('currency_code'),
        status: col.enumeration('txn_status', PAYMENT_STATUS),
        status_source: col.text('txn_status'),
        created_at: none,
        updated_at: col.time('modified_ts'),
        ...meta,
      };
    case 'game_rounds':
      return {
        round_id: col.text('round_id'),
        player_id: col.pseudonym(key, 'customer_id'),
        game_id: col.text('game_code'),
        provider: col.text('studio'),
        stake: col.money('bet_amount', 10),
        payout: col.money('win_amount', 10),
        bonus_stake: col.money('bonus_bet_amount', 10),
        currency: col.text('currency_code'),
        status: col.enumeration('round_state', ROUND_STATUS),
        status_source: col.text('round_state'),
        started_at: col.time('started_ts'),
        settled_at: col.time('settled_ts'),
        updated_at: col.time('modified_ts'),
        ...meta,
      };
    case 'players':
      return {
        player_id: col.pseudonym(key, 'customer_id'),
        registered_at: col.time('signup_ts'),
        updated_at: col.time('modified_ts'),
        country: col.text('country_code'),
        currency: col.text('currency_code'),
        status: col.enumeration('account_state', ACCOUNT_STATUS),
        status_source: col.text('account_state'),
        kyc_status: col.enumeration('kyc_state', KYC_STATUS),
        kyc_status_source: col.text('kyc_state'),
        vip_level: col.int('vip_tier'),
        email: col.pseudonym(key, 'email_address', (s) => s.trim().toLowerCase()),
        birth_date: col.date('dob'),
        affiliate_id: none,
        ...meta,
      };
    default:
      throw new Error(`no expectation for ${stream}`);
  }
}

const TABLE: Partial<Record<StreamName, { table: string; key: string }>> = {
  payments: { table: 'same_ts_payments', key: 'payment_id' },
  game_rounds: { table: 'edge_rounds', key: 'round_id' },
  players: { table: 'edge_players', key: 'player_id' },
};

type Complete = Extract<ExtractRangeOutcome, { status: 'complete' }>;

interface WindowRun {
  readonly stream: StreamName;
  readonly runId: string;
  readonly windowId: string;
  readonly from: number;
  readonly to: number;
  /** Pretend the Lambda runs out of time after every n-th batch. */
  readonly stopEvery?: number;
  /** @default 500 */
  readonly batchRows?: number;
  readonly sink?: S3Sink;
  /** An incremental run (counts NULL cursors, checks the lookback). */
  readonly incremental?: boolean;
  /** @default the engine's edge config */
  readonly config?: OperatorConfig;
}

/** A session wrapper that runs `afterFirstBatch` once the first batch has been handed over. */
function afterFirstBatch(source: SourceConnection, hook: () => Promise<void>): SourceConnection {
  return {
    engine: source.engine,
    readRange: (spec) =>
      (async function* () {
        let batches = 0;
        for await (const batch of source.readRange(spec)) {
          yield batch;
          if (++batches === 1) await hook();
        }
      })(),
    countAndSums: (spec) => source.countAndSums(spec),
    groupedSums: (spec) => source.groupedSums(spec),
    countNullCursor: (spec) => source.countNullCursor(spec),
    estimateRows: (schema, table) => source.estimateRows(schema, table),
    cursorBounds: (spec) => source.cursorBounds(spec),
    serverTime: () => source.serverTime(),
    snapshot: (fn) => source.snapshot(fn),
    query: (sql, params) => source.query(sql, params),
    close: () => source.close(),
  };
}

/** An S3 client for s3rver that fails the requests `fail` picks (before the SDK's retries). */
function failingClient(fail: (command: string, key: string) => boolean): S3Client {
  const client = new S3Client(s3rverClientConfig(aws.s3.endpoint));
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const key = String((args.input as { Key?: unknown }).Key ?? '');
      if (fail(context.commandName ?? '', key)) {
        throw Object.assign(new Error('injected S3 failure'), {
          name: 'InternalError',
          $metadata: { httpStatusCode: 500 },
        });
      }
      return next(args);
    },
    { step: 'initialize', name: 'injectS3Failure' },
  );
  return client;
}

// Every case runs on this thread (workers 0) and with the worker pool (mapping and Arrow
// encoding in a worker thread, PostgreSQL batches handed over as COPY text): same exact results.
for (const [engine, workers] of ENGINES.flatMap((e) => [0, 1].map((w) => [e, w] as const))) {
  describe.skipIf(!available[engine])(
    `extractRange on ${engine === 'postgres' ? 'PostgreSQL' : 'MariaDB/MySQL'}${workers ? ' with a worker thread' : ''}`,
    () => {
      const operatorId = `edge-${randomBytes(4).toString('hex')}`;
      const pseudonymKey = randomBytes(32);
      const pseudonymizer = createPseudonymizer(pseudonymKey);
      let db: Awaited<ReturnType<typeof createScratchSchema>>;
      let config: OperatorConfig;
      /** The shared engines with a bucket of this engine's own (run ids repeat across engines). */
      let landing: LocalAws;

      beforeAll(async () => {
        db = await createScratchSchema(engine, `extract_edge_${engine}`);
        for (const sql of ddl(engine, db)) await db.exec(sql);
        await db.insert(
          'same_ts_payments',
          ['txn_id', 'customer_id', 'amount', 'currency_code', 'txn_status', 'modified_ts'],
          samePayments(),
        );
        await db.insert('edge_rounds', ROUND_COLUMNS, edgeRounds());
        await db.insert('edge_players', PLAYER_COLUMNS, edgePlayers());
        config = edgeConfig(engine, db.schema, operatorId);
        landing = { ...aws, bucket: await aws.s3.createBucket() };
      });

      afterAll(async () => {
        await db?.drop();
      });

      async function open(stream: StreamName): Promise<SourceConnection> {
        return openSource(credentialsFor(engine, engine === 'mysql' ? db.schema : undefined), {
          applicationName: applicationNameFor(operatorId, stream),
          statementTimeoutSeconds: 30,
          timeZone: MALTA,
          operatorId,
          stream,
        });
      }

      /** One invocation, in a session of its own (as each Lambda invocation opens one). */
      async function invoke(run: WindowRun, continuation: Continuation | null): Promise<ExtractRangeOutcome> {
        const session = await open(run.stream);
        let batches = 0;
        try {
          return await extractRange(
            {
              config: run.config ?? config,
              source: session,
              sink:
                run.sink ??
                new S3Sink({
                  client: landing.s3.client,
                  bucket: landing.bucket,
                  context: { operatorId, stream: run.stream },
                }),
              pseudonymizer,
              pseudonymKey,
              remainingMs: () => (run.stopEvery && ++batches % run.stopEvery === 0 ? 0 : 900_000),
              reserveMs: 1000,
              batchRows: run.batchRows ?? 500,
              workers,
              workerMinRows: 1,
              // Two batches per job: several jobs in flight, placed in read order.
              workerJobRows: 2 * (run.batchRows ?? 500),
            },
            {
              stream: run.stream,
              runId: run.runId,
              windowId: run.windowId,
              from: new Date(run.from),
              to: new Date(run.to),
              continuation,
              ...(run.incremental ? { incremental: true } : {}),
            },
          );
        } finally {
          await session.close();
        }
      }

      /** Invokes until the window completes, passing each continuation through JSON like Step Functions. */
      async function runWindow(
        run: WindowRun,
        start: Continuation | null = null,
      ): Promise<{ outcome: Complete; invocations: number }> {
        let continuation = start;
        for (let invocations = 1; invocations <= 100; invocations++) {
          const outcome = await invoke(run, continuation);
          if (outcome.status === 'complete') return { outcome, invocations };
          continuation = JSON.parse(JSON.stringify(outcome.continuation)) as Continuation;
        }
        throw new Error(`${run.stream} window ${run.windowId} did not complete`);
      }

      /** Reads the window back and compares it row by row with the source rows of its range. */
      async function expectExactlyOnce(run: WindowRun, outcome: Complete): Promise<LandedRow[]> {
        const { table, key } = TABLE[run.stream]!;
        const source = await db.rowsInRange(table, 'modified_ts', new Date(run.from), new Date(run.to));
        const landed = await landedOf(outcome.manifestKey);
        const expected = expectedRows(expectation(run.stream, pseudonymKey, run.runId), source);
        expect(landed.rows).toHaveLength(source.length);
        expect(new Set(landed.rows.map((r) => r[key])).size).toBe(source.length);
        expect(comparable(landed.rows, key)).toEqual(comparable(expected, key));
        expect(outcome.reconciliation).toMatchObject({ ok: true, sourceRows: String(source.length) });
        // Exactly the manifest's parts exist for the window: nothing stray from earlier attempts.
        const manifest = landed.manifests[0]!;
        expect(await windowPartKeys(landing, run.stream, run.runId, run.windowId)).toEqual(
          manifest.parts.map((p) => p.key).sort(),
        );
        return landed.rows;
      }

      const landedOf = (manifestKey: string) => readLanded(landing, duck, [manifestKey]);

      const sameWindow = (runId: string, extra: Partial<WindowRun> = {}): WindowRun => ({
        stream: 'payments',
        runId,
        windowId: 'at-cursor',
        from: SAME_AT,
        to: SAME_AT + HOUR,
        ...extra,
      });

      it('reads rows sharing one cursor value exactly once across batches, invocations and a window boundary', async () => {
        const before: WindowRun = { ...sameWindow('same-ts'), windowId: 'before', from: SAME_AT - HOUR, to: SAME_AT };
        const a = await runWindow(before);
        expect(a.outcome.totalRows).toBe(AROUND_ROWS);
        const landedBefore = await expectExactlyOnce(before, a.outcome);
        expect(Math.max(...landedBefore.map((r) => Number(r._cursor)))).toBeLessThan(SAME_AT);

        // The window starts exactly at the shared cursor; 500-row batches, out of time every 2 batches.
        const at = sameWindow('same-ts', { stopEvery: 2 });
        const b = await runWindow(at);
        expect(b.invocations).toBe(Math.ceil((SAME_ROWS + AROUND_ROWS) / 1000));
        const landed = await expectExactlyOnce(at, b.outcome);
        expect(landed.filter((r) => r._cursor === SAME_AT)).toHaveLength(SAME_ROWS);
        // Each invocation read in a transaction of its own: one read time (_source_seq) per invocation.
        expect(new Set(landed.map((r) => r._source_seq)).size).toBe(b.invocations);
        expect(b.outcome.manifestKey).toMatch(/^_manifests\/payments\/same-ts\/at-cursor\/[^/]+\.json$/);
        const manifest = await getManifest(landing, b.outcome.manifestKey);
        expect(manifest?.parts).toHaveLength(b.invocations);
        expect(manifest?.moneySums.amount).toBe(sumOf(landed, 'amount', 2));
        expect(unscaledOf(b.outcome.reconciliation.sums.amount!.source, 2)).toBe(
          unscaledOf(sumOf(landed, 'amount', 2), 2),
        );
      });

      it('counts the NULL cursors of an incremental run once, through its continuations, and never lands them', async () => {
        await db.exec(
          engine === 'postgres'
            ? `ALTER TABLE ${db.table('same_ts_payments')} ALTER COLUMN modified_ts DROP NOT NULL`
            : `ALTER TABLE ${db.table('same_ts_payments')} MODIFY modified_ts datetime(6) NULL`,
        );
        await db.insert(
          'same_ts_payments',
          ['txn_id', 'customer_id', 'amount', 'currency_code', 'txn_status', 'modified_ts'],
          [
            ['900001', 'C1', '1.00', 'EUR', 'PENDING', null],
            ['900002', 'C2', '2.00', 'EUR', 'PENDING', null],
          ],
        );
        const run = sameWindow('incr-nulls', { stopEvery: 2, incremental: true });
        const { outcome, invocations } = await runWindow(run);
        expect(invocations).toBeGreaterThan(1);
        expect(outcome.nullCursorRows).toBe(2);
        const landed = await expectExactlyOnce(run, outcome);
        expect(landed.map((r) => r.payment_id)).not.toContain('900001');
        // A snapshot window does not count them (its plan step does, once per snapshot).
        const window = await runWindow(sameWindow('snap-nulls'));
        expect(window.outcome.nullCursorRows).toBeUndefined();
      });

      it('refuses an incremental run of a naive cursor its lookback does not cover, before reading anything', async () => {
        // The config says the cursor is zoned, so validation let a 30-minute lookback through in Malta.
        const zonedClaim = operatorConfigSchema.parse({
          ...config,
          incremental: { ...config.incremental, lookbackMinutes: 30 },
          streams: { ...config.streams, payments: { ...config.streams.payments, cursorType: 'zoned' } },
        });
        const run = sameWindow('incr-short-lookback', { incremental: true, config: zonedClaim });
        const error = await invoke(run, null).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(CursorLookbackError);
        const message = (error as Error).message;
        expect(message).toContain(`${operatorId}/payments run incr-short-lookback: cursor column modified_ts is`);
        expect(message).toContain(engine === 'postgres' ? 'timestamp(6) without time zone' : 'datetime(6)');
        expect(message).toContain('streams.payments.cursorType says zoned');
        expect(message).toContain(
          'incremental.lookbackMinutes is 30, but Europe/Malta (source.timeZone) repeats up to 60 minutes',
        );
        expect(message).toContain('Set incremental.lookbackMinutes to at least 60');
        expect(await windowPartKeys(landing, 'payments', run.runId, run.windowId)).toEqual([]);
        // A snapshot window of the same stream is not affected: no lookback is involved.
        const window = await runWindow({ ...run, runId: 'snap-short-lookback', incremental: false });
        expect(window.outcome.totalRows).toBe(SAME_ROWS + AROUND_ROWS);
        // With a lookback that covers the repeated hour the incremental run goes through.
        const covered = operatorConfigSchema.parse({ ...zonedClaim, incremental: { ...config.incremental } });
        const ok = await runWindow({ ...run, runId: 'incr-covered', config: covered });
        expect(ok.outcome.totalRows).toBe(SAME_ROWS + AROUND_ROWS);
      });

      it('starts a window over when its continuation was written with other landed columns', async () => {
        for (const variant of ['older', 'other'] as const) {
          const run = sameWindow(`reschema-${variant}`, { stopEvery: 2 });
          const first = await invoke(run, null);
          if (first.status !== 'continue') throw new Error('expected a continuation');
          // As a connector before an upgrade wrote it: without a fingerprint, or with another one.
          const { schemaFingerprint: _, ...older } = JSON.parse(JSON.stringify(first.continuation)) as Continuation;
          const stale: Continuation = variant === 'older' ? older : { ...older, schemaFingerprint: '0123456789abcdef' };
          const { outcome, invocations } = await runWindow(run, stale);
          // Read again from the start of the window (as many invocations as a fresh run), landed once.
          expect(invocations).toBe(Math.ceil((SAME_ROWS + AROUND_ROWS) / 1000));
          expect(outcome.totalRows).toBe(SAME_ROWS + AROUND_ROWS);
          await expectExactlyOnce(run, outcome);
        }
      });

      it('fails with a retryable SourceConnectionError when the session is killed mid-window; the retry lands one copy', async () => {
        const run = sameWindow('killed', { stopEvery: 2 });
        const first = await invoke(run, null);
        if (first.status !== 'continue') throw new Error('expected a continuation');
        const second = await invoke(run, first.continuation);
        if (second.status !== 'continue') throw new Error('expected a continuation');
        expect(await windowPartKeys(landing, 'payments', 'killed', 'at-cursor')).toHaveLength(2);

        const kill = async (session: SourceConnection) => {
          const [[id]] = (await session.query(
            engine === 'postgres' ? 'SELECT pg_backend_pid()' : 'SELECT CONNECTION_ID()',
          )) as [[string]];
          return async () => {
            if (engine === 'postgres') await db.exec('SELECT pg_terminate_backend($1)', [Number(id)]);
            else await db.exec(`KILL ${Number(id)}`);
            await new Promise((resolve) => setTimeout(resolve, 200));
          };
        };
        const session = await open('payments');
        const killSession = await kill(session);
        const error = await extractRange(
          {
            config,
            source: afterFirstBatch(session, killSession),
            sink: new S3Sink({ client: landing.s3.client, bucket: landing.bucket }),
            pseudonymizer,
            pseudonymKey,
            remainingMs: () => 900_000,
            reserveMs: 1000,
            batchRows: 500,
            workers,
            workerMinRows: 1,
          },
          {
            stream: 'payments',
            runId: 'killed',
            windowId: 'at-cursor',
            from: new Date(run.from),
            to: new Date(run.to),
            continuation: JSON.parse(JSON.stringify(second.continuation)) as Continuation,
          },
        ).then(
          () => undefined,
          (e: unknown) => e as Error & { retryable?: boolean },
        );
        await session.close();
        expect(error?.name).toBe('SourceConnectionError');
        expect(error?.retryable).toBe(true);
        expect(error?.message).toContain(`operator ${operatorId}`);
        expect(await committedWindow(landing, 'payments', 'killed', 'at-cursor')).toBeUndefined();

        // The window is retried from its start: one part, and the parts of the failed attempt are gone.
        const retried = await runWindow(sameWindow('killed'));
        expect(retried.invocations).toBe(1);
        await expectExactlyOnce(sameWindow('killed'), retried.outcome);
        expect(retried.outcome.totalRows).toBe(SAME_ROWS + AROUND_ROWS);
        expect(await windowPartKeys(landing, 'payments', 'killed', 'at-cursor')).toHaveLength(1);
      });

      it('publishes nothing when S3 fails mid-window, and the retried invocation lands one copy', async () => {
        let puts = 0;
        const broken = new S3Sink({
          client: failingClient((command) => command === 'PutObjectCommand' && ++puts === 3),
          bucket: landing.bucket,
          context: { operatorId, stream: 'payments' },
        });
        const run = sameWindow('s3-fails', { stopEvery: 2, sink: broken });
        const first = await invoke(run, null);
        if (first.status !== 'continue') throw new Error('expected a continuation');
        const second = await invoke(run, JSON.parse(JSON.stringify(first.continuation)) as Continuation);
        if (second.status !== 'continue') throw new Error('expected a continuation');
        const failed = await invoke(run, JSON.parse(JSON.stringify(second.continuation)) as Continuation).then(
          () => undefined,
          (e: unknown) => e as Error,
        );
        expect(failed?.name).toBe('SinkError');
        expect(failed?.message).toContain('injected S3 failure');
        expect(await committedWindow(landing, 'payments', 's3-fails', 'at-cursor')).toBeUndefined();
        expect(await windowPartKeys(landing, 'payments', 's3-fails', 'at-cursor')).toHaveLength(2);

        // Step Functions retries the failed invocation with the same input.
        const retried = await runWindow(sameWindow('s3-fails', { stopEvery: 2 }), second.continuation);
        expect(retried.invocations).toBe(2);
        await expectExactlyOnce(sameWindow('s3-fails'), retried.outcome);
      });

      it('publishes nothing when the commit cannot be written, and a retry from the start lands one copy', async () => {
        const broken = new S3Sink({
          client: failingClient((command, key) => command === 'PutObjectCommand' && key.startsWith('_committed/')),
          bucket: landing.bucket,
        });
        const run = sameWindow('commit-fails', { stopEvery: 2 });
        const failed = await runWindow({ ...run, sink: broken }).then(
          () => undefined,
          (e: unknown) => e as Error,
        );
        expect(failed?.name).toBe('SinkError');
        expect(await committedWindow(landing, 'payments', 'commit-fails', 'at-cursor')).toBeUndefined();
        expect(await windowPartKeys(landing, 'payments', 'commit-fails', 'at-cursor')).toHaveLength(4);

        const retried = await runWindow(sameWindow('commit-fails'));
        await expectExactlyOnce(sameWindow('commit-fails'), retried.outcome);
        expect(await windowPartKeys(landing, 'payments', 'commit-fails', 'at-cursor')).toHaveLength(1);
      });

      it('lands NULLs, DECIMAL(38,10) extremes, Unicode, COPY escapes and a 1 MB text exactly', async () => {
        const run: WindowRun = {
          stream: 'game_rounds',
          runId: 'edge',
          windowId: 'june',
          from: Date.parse('2026-06-01T00:00:00Z'),
          to: Date.parse('2026-06-02T00:00:00Z'),
        };
        const { outcome } = await runWindow(run);
        const landed = await expectExactlyOnce(run, outcome);
        const byId = new Map(landed.map((r) => [r.round_id, r]));
        expect(byId.get('m-null')).toMatchObject({
          game_id: null,
          provider: null,
          stake: null,
          payout: null,
          bonus_stake: null,
          currency: null,
          status: null,
          status_source: null,
          started_at: null,
          settled_at: null,
        });
        expect(byId.get('m-max')).toMatchObject({ stake: MAX, payout: NEG_MAX, status: 'open' });
        expect(byId.get('m-neg')).toMatchObject({ stake: NEG_MAX, payout: '1.5000000000', bonus_stake: null });
        expect(byId.get('m-uni')).toMatchObject({ game_id: UNICODE, provider: ESCAPES, currency: '€$¥' });
        expect(byId.get('m-uni')).toMatchObject({ status: 'unmapped', status_source: 'WEIRD' });
        expect(byId.get('m-big')?.game_id).toBe(MEGABYTE);
        expect(byId.get('m-empty')).toMatchObject({
          game_id: '',
          provider: ' ',
          status: 'unmapped',
          status_source: '',
        });

        const types = (await landedOf(outcome.manifestKey)).types;
        expect(types).toMatchObject({
          stake: 'DECIMAL(38,10)',
          payout: 'DECIMAL(38,10)',
          bonus_stake: 'DECIMAL(38,10)',
        });
        // Two maxima and one negative maximum: the sums need 39 digits and still reconcile exactly.
        const manifest = await getManifest(landing, outcome.manifestKey);
        expect(manifest?.moneySums.stake).toBe('10000000000000000000000000001.0000000000');
        for (const field of ['stake', 'payout', 'bonus_stake']) {
          expect(manifest?.moneySums[field]).toBe(sumOf(landed, field, 10));
          expect(unscaledOf(outcome.reconciliation.sums[field]!.source, 10)).toBe(
            unscaledOf(sumOf(landed, field, 10), 10),
          );
        }
        expect(manifest?.nullCounts).toMatchObject({ game_id: 1, stake: 1, bonus_stake: 2, started_at: 6 });

        const players: WindowRun = { ...run, stream: 'players', windowId: 'june-players' };
        const { outcome: playersOutcome } = await runWindow(players);
        const landedPlayers = await expectExactlyOnce(players, playersOutcome);
        expect(landedPlayers.map((r) => r.vip_level).sort()).toEqual([-2147483648, 0, 2147483647, 7, null].sort());
        expect(landedPlayers.map((r) => r.birth_date).sort()).toEqual(
          ['1900-01-01', '1990-05-17', '2000-02-29', '9999-12-31', null].sort(),
        );
        const playerTypes = (await landedOf(playersOutcome.manifestKey)).types;
        expect(playerTypes).toMatchObject({ vip_level: 'INTEGER', birth_date: 'DATE', email: 'VARCHAR' });
      });

      it('converts naive Malta times around both DST changes to UTC and puts each row in one window', async () => {
        const windows: WindowRun[] = [
          ['oct-1', '2026-10-24T21:00:00Z', '2026-10-25T00:30:00Z'],
          // Both bounds inside the repeated hour: 00:30Z is its first pass, 01:30Z its second.
          ['oct-2', '2026-10-25T00:30:00Z', '2026-10-25T01:30:00Z'],
          ['oct-3', '2026-10-25T01:30:00Z', '2026-10-25T03:00:00Z'],
          ['march', '2026-03-28T23:00:00Z', '2026-03-29T03:00:00Z'],
        ].map(([windowId, from, to]) => ({
          stream: 'game_rounds',
          runId: 'dst',
          windowId: windowId!,
          from: Date.parse(from!),
          to: Date.parse(to!),
          // Two-row batches and a continuation after each: positions inside the DST hours.
          batchRows: 2,
          stopEvery: 1,
        }));
        const cursors = new Map<string, { window: string; cursor: number; us: string; settled: number | null }>();
        for (const run of windows) {
          const { outcome } = await runWindow(run);
          for (const row of await expectExactlyOnce(run, outcome)) {
            expect(cursors.has(String(row.round_id))).toBe(false);
            cursors.set(String(row.round_id), {
              window: run.windowId,
              cursor: Number(row._cursor),
              us: String(row._cursor_us),
              settled: row.settled_at === null ? null : Number(row.settled_at),
            });
          }
        }
        const utc = (iso: string) => Date.parse(iso);
        // Microseconds: the landed millisecond × 1000 plus the source's digits beyond it.
        const us = (iso: string, beyondMs = 0) => String(BigInt(Date.parse(iso)) * 1000n + BigInt(beyondMs));
        expect(Object.fromEntries(cursors)).toEqual({
          'o-01': {
            window: 'oct-1',
            cursor: utc('2026-10-24T23:00:00Z'),
            us: us('2026-10-24T23:00:00Z'),
            settled: null,
          },
          'o-02': {
            window: 'oct-1',
            cursor: utc('2026-10-24T23:30:00Z'),
            us: us('2026-10-24T23:30:00Z'),
            settled: utc('2026-10-25T00:15:00Z'),
          },
          'o-03': {
            window: 'oct-1',
            cursor: utc('2026-10-24T23:59:59.999Z'),
            us: us('2026-10-24T23:59:59.999Z', 999),
            settled: null,
          },
          // The repeated hour is read as its first pass (summer time).
          'o-04': {
            window: 'oct-1',
            cursor: utc('2026-10-25T00:00:00Z'),
            us: us('2026-10-25T00:00:00Z'),
            settled: null,
          },
          'o-05': {
            window: 'oct-2',
            cursor: utc('2026-10-25T00:30:00.500Z'),
            us: us('2026-10-25T00:30:00.500Z'),
            settled: null,
          },
          'o-06': {
            window: 'oct-2',
            cursor: utc('2026-10-25T00:59:59.999Z'),
            us: us('2026-10-25T00:59:59.999Z', 999),
            settled: null,
          },
          'o-07': {
            window: 'oct-3',
            cursor: utc('2026-10-25T02:00:00Z'),
            us: us('2026-10-25T02:00:00Z'),
            settled: null,
          },
          'o-08': {
            window: 'oct-3',
            cursor: utc('2026-10-25T02:30:00Z'),
            us: us('2026-10-25T02:30:00Z'),
            settled: null,
          },
          's-01': {
            window: 'march',
            cursor: utc('2026-03-29T00:30:00Z'),
            us: us('2026-03-29T00:30:00Z'),
            settled: null,
          },
          's-02': {
            window: 'march',
            cursor: utc('2026-03-29T00:59:59.999Z'),
            us: us('2026-03-29T00:59:59.999Z'),
            settled: null,
          },
          // The skipped hour is the instant of the change (the first instant of summer time).
          's-03': {
            window: 'march',
            cursor: utc('2026-03-29T01:00:00Z'),
            us: us('2026-03-29T01:00:00Z'),
            settled: null,
          },
          's-04': {
            window: 'march',
            cursor: utc('2026-03-29T01:00:00Z'),
            us: us('2026-03-29T01:00:00Z'),
            settled: utc('2026-03-29T01:00:00Z'),
          },
          's-05': {
            window: 'march',
            cursor: utc('2026-03-29T01:00:00Z'),
            us: us('2026-03-29T01:00:00Z'),
            settled: null,
          },
          's-06': {
            window: 'march',
            cursor: utc('2026-03-29T01:30:00Z'),
            us: us('2026-03-29T01:30:00Z'),
            settled: null,
          },
          // Skipped to its last microsecond: still the instant of the change, to the microsecond.
          's-07': {
            window: 'march',
            cursor: utc('2026-03-29T01:00:00Z'),
            us: us('2026-03-29T01:00:00Z'),
            settled: null,
          },
          's-08': {
            window: 'march',
            cursor: utc('2026-03-29T01:00:00Z'),
            us: us('2026-03-29T01:00:00Z', 1),
            settled: null,
          },
        });
      });

      it('puts a row of the skipped hour in the window that holds its landed instant', async () => {
        // Clocks go forward at 01:00Z on 29 March 2026: 02:00–02:59 Malta time do not exist, and a
        // row stamped with one (s-03 02:00, s-04 02:30) lands at 01:00Z. A bound inside the hour
        // after the change (01:15Z, wall 03:15) must keep those rows in the earlier window, and a
        // bound at the change itself (01:00Z) must hand them to the later one: either way they are
        // read by the window whose range holds 01:00Z, so its commit accepts them.
        const splits: [string, string[], string[]][] = [
          ['2026-03-29T01:15:00Z', ['s-01', 's-02', 's-03', 's-04', 's-05', 's-07', 's-08'], ['s-06']],
          ['2026-03-29T01:00:00Z', ['s-01', 's-02'], ['s-03', 's-04', 's-05', 's-06', 's-07', 's-08']],
        ];
        for (const [split, early, late] of splits) {
          const runId = `gap-${split.slice(11, 13)}${split.slice(14, 16)}`;
          const windows: WindowRun[] = [
            ['gap-1', '2026-03-28T23:00:00Z', split],
            ['gap-2', split, '2026-03-29T03:00:00Z'],
          ].map(([windowId, from, to]) => ({
            stream: 'game_rounds',
            runId,
            windowId: windowId!,
            from: Date.parse(from!),
            to: Date.parse(to!),
          }));
          const windowOf = new Map<string, string>();
          for (const run of windows) {
            const { outcome } = await runWindow(run);
            for (const row of await expectExactlyOnce(run, outcome)) {
              const id = String(row.round_id);
              expect(windowOf.has(id), `${id} landed twice`).toBe(false);
              windowOf.set(id, run.windowId);
              if (id === 's-03' || id === 's-04') expect(row._cursor).toBe(Date.parse('2026-03-29T01:00:00Z'));
            }
          }
          expect(Object.fromEntries(windowOf), `split at ${split}`).toEqual(
            Object.fromEntries([...early.map((id) => [id, 'gap-1']), ...late.map((id) => [id, 'gap-2'])]),
          );
        }
      });
    },
  );
}
