/**
 * `connector check <operator>`: connects as the connector would and verifies, before the first
 * snapshot, everything the extractors depend on: reachability, TLS, a read-only user, every mapped
 * table and column with a compatible type, the cursor index, the clock, and the expected snapshot
 * duration.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CANONICAL_STREAMS, getField, isKeyField, STREAM_NAMES, type StreamName } from '#shared/canonical';
import { minimumNaiveLookbackMinutes } from '#shared/config/incremental';
import type { DatabaseSourceConfig, OperatorConfig } from '#shared/config/schema';
import { summarizeLateness } from '#shared/extract/lateness';
import type { SourcePlan } from '#shared/extract/source-plan';
import { landedTypeOf, treatmentOf } from '#shared/landed-schema';
import { isCompatible, typeLabel } from '#shared/mapping/coerce';
import {
  describeKeyComparison,
  EXACT_KEY_COMPARISON,
  type KeyComparison,
  sameKeyComparison,
} from '#shared/pii/key-form';
import { cursorInstant } from '#shared/pipeline/snapshot';
import type { SourceConnection } from '#shared/sources/index';
import { openTransactions } from '#shared/sources/open-transactions';
import { SyncStateStore } from '#shared/state/store';
import type { LatenessRecord } from '#shared/state/watermarks';
import { clientSettings } from '../aws.ts';
import { type CatalogTable, findColumn, hasLeadingIndex, isTimeKind, readSchema } from '../catalog.ts';
import { compareGrouping, describeColumnComparison, type GroupingComparison, keyComparisonOf } from '../collation.ts';
import { defineCommand, openOperatorSource } from '../command.ts';
import {
  CliError,
  type CliIo,
  EXIT,
  formatCount,
  formatDuration,
  OPERATOR_HELP,
  OPERATOR_OPTIONS,
  printJson,
  UsageError,
} from '../io.ts';
import { TIMEOUT_HELP } from '../source.ts';
import { type Dialect, qualified, quoteIdent, recommendedIndex } from '../sql.ts';
import { operatorStack, STACK_OUTPUTS, stackOutput } from '../stack.ts';
import { databasePlans } from './grant-sql.ts';

/** Rows per second one extract-window lands when no benchmark figure can be read. */
export const DEFAULT_ROWS_PER_SECOND = 100_000;

/** Where the duration estimate's throughput comes from. */
export interface Throughput {
  readonly rowsPerSecond: number;
  /** Where the figure comes from, for the report. */
  readonly source: string;
}

/** bench/RESULTS.md of this checkout. */
export const BENCH_RESULTS_FILE = fileURLToPath(new URL('../../bench/RESULTS.md', import.meta.url));

/**
 * The measured figure of `npm run bench` recorded in bench/RESULTS.md: the `connector rows/s` of
 * the first row of the table under the "## Latest run" heading (one extract-window: read, map,
 * pseudonymize, Parquet, upload, reconcile). Undefined when the file has no such table.
 */
export function benchThroughput(markdown: string): Throughput | undefined {
  const section = /^## Latest run(.*)$/m.exec(markdown);
  if (!section) return undefined;
  const rest = markdown.slice(section.index + section[0].length);
  const end = rest.search(/^## /m);
  const lines = (end === -1 ? rest : rest.slice(0, end)).split('\n').filter((l) => l.trim().startsWith('|'));
  const cells = (line: string) =>
    line
      .trim()
      .replace(/^\||\|$/g, '')
      .split('|')
      .map((c) => c.trim());
  const header = lines[0] ? cells(lines[0]) : [];
  const column = header.findIndex((h) => h.toLowerCase() === 'connector rows/s');
  const rowsColumn = header.findIndex((h) => h.toLowerCase() === 'rows');
  const row = lines.slice(1).find((l) => !/^\|\s*-/.test(l.trim()));
  if (column === -1 || !row) return undefined;
  const value = Number((cells(row)[column] ?? '').replace(/[,\s]/g, ''));
  if (!Number.isFinite(value) || value <= 0) return undefined;
  const rows = rowsColumn === -1 ? '' : `${cells(row)[rowsColumn]} rows, `;
  const when = section[1]?.trim().replace(/^\(|\)$/g, '') ?? '';
  return {
    rowsPerSecond: Math.round(value),
    source: `measured by npm run bench (${rows}one window${when ? `, ${when}` : ''}) in bench/RESULTS.md`,
  };
}

/** The throughput the estimate uses: the recorded benchmark figure, else the default. */
export function snapshotThroughput(file = BENCH_RESULTS_FILE): Throughput {
  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    text = undefined;
  }
  const measured = text === undefined ? undefined : benchThroughput(text);
  return (
    measured ?? {
      rowsPerSecond: DEFAULT_ROWS_PER_SECOND,
      source: `default figure: no "Latest run" benchmark result found in ${file}`,
    }
  );
}

/** Values of a key column read by the key comparison sample (LIMIT of one read-only query). */
export const DEFAULT_KEY_SAMPLE = 100_000;

/** Clock skew beyond which a warning is shown. */
const SKEW_WARN_SECONDS = 5;

const HELP = `Usage: connector check <operator> [--url URL] [--table NAME] [--json]

Connects to the operator's database as the connector does and checks:
  reachable        the server answers and accepts the credentials
  tls              the session is encrypted (pg_stat_ssl / Ssl_cipher) when the config asks for TLS
  read-only        the user cannot write: no INSERT, UPDATE, DELETE, TRUNCATE or CREATE, not a superuser
  tables           every mapped table and column exists, is readable and has a compatible type
  cursor index     an index starts with each stream's cursor column (else the CREATE INDEX to ask for)
  key comparison   each key and reference column (player_id, primary keys) compares values as
                   source.keyComparison says (collation, case, trailing spaces); where the collation
                   also equates other values (accents, expansions) or is not recognized, a sample of
                   at most --key-sample values (one bounded read-only query per column) shows
                   whether the source groups them as the connector's key form does
  clock            the server clock is within the incremental safety lag of this machine's
  open transactions  PostgreSQL: the user sees other roles' open transactions (pg_read_all_stats),
                   so incremental runs can hold their range end behind a long transaction
  lookback         the late arrivals the incremental runs observed (sync state), and the
                   incremental.lookbackMinutes that keeps twice the largest in reserve
  estimate         rows in the snapshot and its expected duration at snapshot.maxParallelWindows

Credentials: --url, else CONNECTOR_SOURCE_URL, else the operator's secret
connector/<operator>-<stage>/source in Secrets Manager (AWS credentials from the environment),
or with CONNECTOR_ADAPTERS=local in the JSON file CONNECTOR_LOCAL_SECRETS_FILE.

Options:
  --url URL        postgres://user:password@host:port/db or mysql://… (?sslmode=require for TLS)
  --table NAME     sync-state table to read the observed late arrivals from (default:
                   CONNECTOR_SYNC_STATE_TABLE, else the stack output SyncStateTableName when AWS
                   credentials are configured; without any, the lookback check says so)
  --key-sample N   values sampled per key column for the key comparison (default ${DEFAULT_KEY_SAMPLE}; 0: none)
  --json           print {"ok", "checks": [{name, status, message, stream?, suggestion?}], "estimate"}
${TIMEOUT_HELP}
  -h, --help       show this help

${OPERATOR_HELP}

Exit codes: 0 every check passed (warnings allowed), 1 a check failed, 2 usage error,
3 cannot connect, 4 the secret cannot be read.`;

export type CheckStatus = 'ok' | 'warn' | 'fail';

/** One finding. */
export interface CheckResult {
  readonly name: string;
  readonly status: CheckStatus;
  readonly message: string;
  readonly stream?: string;
  /** SQL or config to fix it. */
  readonly suggestion?: string;
}

/** The snapshot estimate. */
export interface SnapshotEstimate {
  readonly rows: number;
  readonly unknownStreams: readonly string[];
  readonly rowsPerSecond: number;
  readonly throughputSource: string;
  readonly parallelWindows: number;
  readonly seconds: number;
}

export interface CheckReport {
  readonly ok: boolean;
  readonly checks: readonly CheckResult[];
  readonly estimate?: SnapshotEstimate;
}

async function checkTls(conn: SourceConnection, source: DatabaseSourceConfig): Promise<CheckResult> {
  let cipher: string | null = null;
  if (conn.engine === 'postgres') {
    const [row] = await conn.query(
      'SELECT ssl, version, cipher FROM pg_catalog.pg_stat_ssl WHERE pid = pg_catalog.pg_backend_pid()',
    );
    if (row && (row[0] === 't' || row[0] === 'true')) cipher = `${row[1]} ${row[2]}`;
  } else {
    const [row] = await conn.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'");
    if (row?.[1]) cipher = row[1];
  }
  if (cipher) return { name: 'tls', status: 'ok', message: `session encrypted (${cipher})` };
  if (source.tls === 'disable') {
    return {
      name: 'tls',
      status: 'warn',
      message: 'session not encrypted (source.tls: disable); use TLS outside a lab',
    };
  }
  return {
    name: 'tls',
    status: 'fail',
    message: `session not encrypted although source.tls is ${source.tls}`,
    suggestion: 'enable TLS on the server, or connect with ?sslmode=require / verify-full',
  };
}

/** MySQL privileges that let a user change data or schema. */
const MYSQL_WRITE =
  /\b(ALL|ALL PRIVILEGES|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|INDEX|TRIGGER|REFERENCES|SUPER|FILE|EXECUTE|CREATE ROUTINE|ALTER ROUTINE|CREATE VIEW|EVENT|LOCK TABLES)\b/;

/** Whether a MySQL grant scope (`*.*`, `` `db`.* ``, `` `db`.`t` ``) covers a table of `schema`. */
export function mysqlScopeCovers(scope: string, schema: string): boolean {
  const db = scope.split('.')[0]?.replace(/`/g, '') ?? '';
  if (db === '*') return true;
  // A database name in a grant is a LIKE pattern: % and _ are wildcards, \_ and \% literal.
  let pattern = '';
  for (let i = 0; i < db.length; i++) {
    const ch = db[i]!;
    if (ch === '\\' && i + 1 < db.length) pattern += db[++i]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else if (ch === '%') pattern += '.*';
    else if (ch === '_') pattern += '.';
    else pattern += ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${pattern}$`, 'i').test(schema);
}

async function checkReadOnly(conn: SourceConnection, plans: readonly { plan: SourcePlan }[]): Promise<CheckResult> {
  const problems: string[] = [];
  if (conn.engine === 'postgres') {
    const [role] = await conn.query(
      `SELECT rolsuper, rolcreaterole, rolcreatedb, has_database_privilege(current_database(), 'CREATE'), current_user
         FROM pg_catalog.pg_roles WHERE rolname = current_user`,
    );
    const t = (v: string | null | undefined) => v === 't' || v === 'true';
    if (t(role?.[0])) {
      return {
        name: 'read-only',
        status: 'fail',
        message: 'the user is not read-only: it is a superuser and can write everything',
        suggestion: 'use a dedicated user with SELECT on the mapped columns only: see `connector grant-sql`',
      };
    }
    if (t(role?.[1])) problems.push('can create roles');
    if (t(role?.[2])) problems.push('can create databases');
    if (t(role?.[3])) problems.push('can create schemas in the database');
    for (const schema of new Set(plans.map((p) => p.plan.schema))) {
      const [row] = await conn.query(
        'SELECT has_schema_privilege(n.oid, $2) FROM pg_catalog.pg_namespace n WHERE n.nspname = $1',
        [schema, 'CREATE'],
      );
      if (t(row?.[0])) problems.push(`can create tables in schema ${schema}`);
    }
    for (const { plan } of plans) {
      const [row] = await conn.query(
        `SELECT has_table_privilege(c.oid, 'INSERT'), has_table_privilege(c.oid, 'UPDATE'),
                has_table_privilege(c.oid, 'DELETE'), has_table_privilege(c.oid, 'TRUNCATE')
           FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = $1 AND c.relname = $2`,
        [plan.schema, plan.table],
      );
      const verbs = ['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'].filter((_, i) => t(row?.[i]));
      if (verbs.length > 0) problems.push(`can ${verbs.join(', ')} ${plan.schema}.${plan.table}`);
    }
  } else {
    const grants = (await conn.query('SHOW GRANTS FOR CURRENT_USER()')).map((r) => r[0] ?? '');
    for (const grant of grants) {
      const m = /^GRANT (.+?) ON (\S+) TO /i.exec(grant);
      if (!m) continue;
      // Column lists like SELECT (a, b) are not privileges.
      const privileges = (m[1] ?? '').replace(/\([^)]*\)/g, '');
      const write = MYSQL_WRITE.exec(privileges);
      const scope = m[2] ?? '';
      if (write && plans.some((p) => mysqlScopeCovers(scope, p.plan.schema))) {
        problems.push(`has ${write[1]} on ${scope}`);
      }
    }
  }
  if (problems.length === 0) return { name: 'read-only', status: 'ok', message: 'the user cannot write' };
  return {
    name: 'read-only',
    status: 'fail',
    message: `the user is not read-only: it ${problems.join('; ')}`,
    suggestion: 'use a dedicated user with SELECT on the mapped columns only: see `connector grant-sql`',
  };
}

function checkStreamColumns(
  config: OperatorConfig,
  stream: StreamName,
  plan: SourcePlan,
  table: CatalogTable | undefined,
  engine: Dialect,
): CheckResult[] {
  const where = `${plan.schema}.${plan.table}`;
  if (!table) {
    return [
      {
        name: 'tables',
        stream,
        status: 'fail',
        message: `table ${where} does not exist (or is not visible to this user)`,
        suggestion: `check streams.${stream}.table and schema in the config, and the grants`,
      },
    ];
  }
  const out: CheckResult[] = [];
  const streamConfig = config.streams[stream]!;
  for (const [fieldName, mapping] of Object.entries(streamConfig.columns)) {
    const field = getField(stream, fieldName);
    if (!field || treatmentOf(field, streamConfig) === 'drop') continue;
    const columnName = typeof mapping === 'string' ? mapping : mapping.column;
    const column = findColumn(table, columnName, engine);
    if (!column) {
      const near = table.columns.find((c) => c.name.toLowerCase().includes(columnName.toLowerCase().slice(0, 4)));
      out.push({
        name: 'tables',
        stream,
        status: 'fail',
        message: `column ${columnName} (field ${fieldName}) does not exist in ${where}${near ? `; did you mean ${near.name}?` : ''}`,
        suggestion: `fix streams.${stream}.columns.${fieldName} in the config`,
      });
      continue;
    }
    const type =
      treatmentOf(field, streamConfig) === 'pseudonymize'
        ? { kind: 'string' as const }
        : landedTypeOf(field, streamConfig);
    if (!field.values && !isCompatible(column.kind, type)) {
      out.push({
        name: 'tables',
        stream,
        status: 'fail',
        message: `column ${columnName} is ${column.type}, which cannot hold field ${fieldName} (${typeLabel(type)})`,
        suggestion: `map streams.${stream}.columns.${fieldName} to a compatible column`,
      });
    }
  }
  const cursor = findColumn(table, plan.cursorColumn, engine);
  if (cursor && !isTimeKind(cursor.kind)) {
    out.push({
      name: 'tables',
      stream,
      status: 'fail',
      message: `cursor ${plan.cursorColumn} is ${cursor.type}; the cursor must be a timestamp or date`,
      suggestion: `set streams.${stream}.cursor to a timestamp column that grows on every change`,
    });
  }
  if (out.length === 0) {
    out.push({
      name: 'tables',
      stream,
      status: 'ok',
      message: `${where}: ${plan.columns.length} mapped column(s) present with compatible types`,
    });
  }
  return out;
}

async function checkReadable(
  conn: SourceConnection,
  stream: string,
  plan: SourcePlan,
): Promise<CheckResult | undefined> {
  const d = conn.engine;
  try {
    await conn.query(
      `SELECT ${plan.columns.map((c) => quoteIdent(d, c)).join(', ')} FROM ${qualified(d, plan.schema, plan.table)} WHERE 1 = 0`,
    );
    return undefined;
  } catch (e) {
    return {
      name: 'tables',
      stream,
      status: 'fail',
      message: `the user cannot read the mapped columns of ${plan.schema}.${plan.table}: ${(e as Error).message}`,
      suggestion: 'run the GRANT SELECT statements from `connector grant-sql`',
    };
  }
}

/**
 * Groups of a bounded sample of a column's values as the database compares them: DENSE_RANK over
 * the column's own collation gives equal numbers to values it finds equal. One read-only query,
 * LIMIT `limit`, under the session's statement timeout.
 */
async function sampleGroups(
  conn: SourceConnection,
  plan: SourcePlan,
  column: string,
  limit: number,
): Promise<[string, string][]> {
  const d = conn.engine;
  const c = quoteIdent(d, column);
  const rows = await conn.query(
    `SELECT v, DENSE_RANK() OVER (ORDER BY v) FROM (SELECT ${c} AS v FROM ${qualified(d, plan.schema, plan.table)} WHERE ${c} IS NOT NULL LIMIT ${limit}) s`,
  );
  return rows.map((r) => [r[0] ?? '', r[1] ?? '']);
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** What a difference between two comparisons does to joins in the lake. */
function consequence(source: KeyComparison, lake: KeyComparison): string {
  const stricter =
    (source.caseInsensitive && !lake.caseInsensitive) || (source.padSpace && !lake.padSpace)
      ? 'keys equal in the database would not join in the lake'
      : '';
  const looser =
    (!source.caseInsensitive && lake.caseInsensitive) || (!source.padSpace && lake.padSpace)
      ? 'keys the database keeps apart would share one pseudonym'
      : '';
  return [stricter, looser].filter((x) => x !== '').join(', and ');
}

/**
 * Whether the key and reference columns of a stream compare values as `source.keyComparison` says:
 * the catalog's collation against the setting (for pseudonymized fields, whose pseudonym is taken
 * over the key form), then, where the collation equates more than case and trailing spaces or is
 * not recognized, a bounded sample of the live values grouped both ways. Values never appear in
 * the findings, only counts.
 */
async function checkKeyComparison(
  conn: SourceConnection,
  config: OperatorConfig,
  stream: StreamName,
  plan: SourcePlan,
  table: CatalogTable,
  sampleSize: number,
  progress: (line: string) => void,
): Promise<CheckResult[]> {
  const configured = config.source.keyComparison;
  const streamConfig = config.streams[stream]!;
  const out: CheckResult[] = [];
  for (const field of CANONICAL_STREAMS[stream].fields) {
    if (!isKeyField(stream, field.name)) continue;
    const mapping = streamConfig.columns[field.name];
    const treatment = treatmentOf(field, streamConfig);
    if (mapping === undefined || treatment === 'drop') continue;
    const column = findColumn(table, typeof mapping === 'string' ? mapping : mapping.column, conn.engine);
    // A missing column is reported by the tables check; a non-text key has no collation.
    if (!column?.comparison) continue;
    const c = column.comparison;
    const pseudonymized = treatment === 'pseudonymize';
    const where = `${plan.schema}.${plan.table}.${column.name}`;
    const subject = `${field.name} (${where}, collation ${describeColumnComparison(c)})`;
    const setting = `source.keyComparison: { caseInsensitive: ${c.caseInsensitive}, padSpace: ${c.padSpace} }`;
    const columnRule = keyComparisonOf(c);
    if (pseudonymized && c.known && !sameKeyComparison(columnRule, configured)) {
      out.push({
        name: 'key comparison',
        stream,
        status: 'fail',
        message: `${subject}: source.keyComparison says ${describeKeyComparison(configured)}, so ${consequence(columnRule, configured)}`,
        suggestion: `set ${setting} before the first snapshot (it changes the pseudonyms of keys that differ by case or trailing spaces)`,
      });
      continue;
    }
    // The key form of the lake: the configured rule for pseudonymized fields, exact bytes for clear ones.
    const lake = pseudonymized ? configured : EXACT_KEY_COMPARISON;
    const how = pseudonymized
      ? `pseudonymized in its key form (${describeKeyComparison(configured)})`
      : 'kept in clear, so the lake compares its exact bytes';
    if (c.known && c.beyond.length === 0 && sameKeyComparison(columnRule, lake)) {
      out.push({ name: 'key comparison', stream, status: 'ok', message: `${subject}: ${how}, as the database does` });
      continue;
    }
    const differs = c.known
      ? c.beyond.length > 0
        ? `; the collation also equates ${c.beyond.join(', ')}`
        : ''
      : '; the connector does not recognize this collation';
    if (sampleSize <= 0) {
      out.push({
        name: 'key comparison',
        stream,
        status: 'warn',
        message: `${subject}: ${how}${differs}; not sampled (--key-sample 0)`,
      });
      continue;
    }
    progress(`sampling key values of ${where}…`);
    let grouping: GroupingComparison;
    try {
      grouping = compareGrouping(await sampleGroups(conn, plan, column.name, sampleSize), lake);
    } catch (e) {
      out.push({
        name: 'key comparison',
        stream,
        status: 'warn',
        message: `${subject}: ${how}${differs}; the sample could not be read: ${(e as Error).message}`,
      });
      continue;
    }
    const sampled = `in a sample of ${plural(grouping.values, 'distinct value')}`;
    if (grouping.mergedByKeyForm > 0) {
      out.push({
        name: 'key comparison',
        stream,
        status: 'fail',
        message: `${subject}: ${how}${differs}; ${sampled}, ${plural(grouping.mergedByKeyForm, 'key form is', 'key forms are')} shared by values the database keeps apart: distinct keys would share one pseudonym`,
        suggestion: `set ${setting}, or make the ids distinct beyond case and trailing spaces at the source`,
      });
    } else if (grouping.splitBySourceRule > 0) {
      out.push({
        name: 'key comparison',
        stream,
        status: 'warn',
        message: `${subject}: ${how}${differs}; ${sampled}, the database treats ${plural(grouping.splitBySourceRule, 'group')} of different values as equal that the lake keeps apart: rows referring to them do not join in the lake as in the database`,
        suggestion: pseudonymized
          ? 'make the ids consistent at the source; the key form folds only case and trailing spaces (see docs/architecture.md, Keys join as in the source)'
          : `pseudonymize it (streams.${stream}.columns.${field.name}: { column: ${column.name}, pii: pseudonymize }) to join on its key form, or make the ids consistent at the source`,
      });
    } else {
      out.push({
        name: 'key comparison',
        stream,
        status: 'ok',
        message: `${subject}: ${how}${differs}; ${sampled}, the database groups them as the lake does`,
      });
    }
  }
  return out;
}

/** Runs every check over an open session. */
export async function runChecks(
  conn: SourceConnection,
  config: OperatorConfig,
  progress: (line: string) => void = () => {},
  now: () => Date = () => new Date(),
  options: {
    readonly keySample?: number;
    /** @default the figure recorded in bench/RESULTS.md ({@link snapshotThroughput}) */
    readonly throughput?: Throughput;
    /**
     * Late arrivals observed per stream (the sync state's records), for the lookback recommendation;
     * a string says why none could be read.
     * @default none read
     */
    readonly lateness?: Readonly<Record<string, LatenessRecord | undefined>> | string;
  } = {},
): Promise<CheckReport> {
  const throughput = options.throughput ?? snapshotThroughput();
  if (config.source.type === 'files') {
    throw new CliError(
      `check: operator ${config.operatorId} drops files; there is no database to check`,
      EXIT.problems,
    );
  }
  const source = config.source;
  const checks: CheckResult[] = [{ name: 'reachable', status: 'ok', message: `connected to ${source.type} server` }];
  progress('checking TLS…');
  checks.push(await checkTls(conn, source));
  const plans = databasePlans(config);
  progress('checking privileges…');
  checks.push(await checkReadOnly(conn, plans));

  const tables = new Map<string, CatalogTable>();
  for (const schema of new Set(plans.map((p) => p.plan.schema))) {
    progress(`reading the catalog of ${schema}…`);
    for (const t of await readSchema(conn, schema)) tables.set(`${schema}.${t.name}`.toLowerCase(), t);
  }
  let rows = 0;
  const unknownStreams: string[] = [];
  for (const { stream, plan } of plans) {
    const s = stream as StreamName;
    const table = tables.get(`${plan.schema}.${plan.table}`.toLowerCase());
    const columnChecks = checkStreamColumns(config, s, plan, table, conn.engine);
    if (table && columnChecks.every((c) => c.status === 'ok')) {
      const unreadable = await checkReadable(conn, stream, plan);
      checks.push(unreadable ?? columnChecks[0]!);
    } else {
      checks.push(...columnChecks);
    }
    if (!table) continue;
    checks.push(
      ...(await checkKeyComparison(conn, config, s, plan, table, options.keySample ?? DEFAULT_KEY_SAMPLE, progress)),
    );
    const indexed = hasLeadingIndex(table, plan.cursorColumn);
    checks.push(
      indexed
        ? {
            name: 'cursor index',
            stream,
            status: 'ok',
            message: `an index on ${plan.table} starts with ${plan.cursorColumn}`,
          }
        : {
            name: 'cursor index',
            stream,
            status: 'fail',
            message: `no index on ${plan.schema}.${plan.table} starts with the cursor ${plan.cursorColumn}: every window would scan the table`,
            suggestion: recommendedIndex(conn.engine, plan.schema, plan.table, plan.cursorColumn, plan.keyColumn),
          },
    );
    progress(`estimating rows of ${plan.table}…`);
    const estimate = await conn.estimateRows(plan.schema, plan.table).catch(() => null);
    if (estimate === null) {
      unknownStreams.push(stream);
      continue;
    }
    let share = 1;
    if (indexed && findColumn(table, plan.cursorColumn, conn.engine)) {
      // Rows are assumed to spread evenly between the smallest and largest cursor.
      const bounds = await conn
        .cursorBounds({
          schema: plan.schema,
          table: plan.table,
          cursorColumn: plan.cursorColumn,
          keyColumn: plan.keyColumn,
        })
        .catch(() => undefined);
      const min = bounds ? cursorInstant(bounds.min, bounds.kind, source.timeZone) : null;
      const max = bounds ? cursorInstant(bounds.max, bounds.kind, source.timeZone) : null;
      if (min && max && max > min) {
        const from = now().getTime() - config.snapshot.days * 86_400_000;
        share = Math.min(
          1,
          Math.max(0, (max.getTime() - Math.max(from, min.getTime())) / (max.getTime() - min.getTime())),
        );
      }
    }
    rows += Math.round(estimate * share);
  }

  progress('reading the server clock…');
  const before = now().getTime();
  const server = (await conn.serverTime()).getTime();
  const after = now().getTime();
  const skew = (server - (before + after) / 2) / 1000;
  const lag = config.incremental.safetyLagSeconds;
  const skewText = `server clock is ${Math.abs(skew).toFixed(1)} s ${skew >= 0 ? 'ahead of' : 'behind'} this machine`;
  checks.push(
    Math.abs(skew) > Math.max(lag, SKEW_WARN_SECONDS)
      ? {
          name: 'clock',
          status: 'fail',
          message: `${skewText}, more than incremental.safetyLagSeconds (${lag} s): rows could be missed`,
          suggestion: 'synchronize the server clock (NTP), or raise incremental.safetyLagSeconds',
        }
      : Math.abs(skew) > SKEW_WARN_SECONDS
        ? { name: 'clock', status: 'warn', message: skewText }
        : { name: 'clock', status: 'ok', message: skewText },
  );

  if (conn.engine === 'postgres' && config.incremental.holdBackForOpenTransactions) {
    progress('checking what the user sees of open transactions…');
    checks.push(await checkOpenTransactions(conn));
  }
  checks.push(...lookbackChecks(config, options.lateness));

  const parallel = config.snapshot.maxParallelWindows;
  const estimate: SnapshotEstimate = {
    rows,
    unknownStreams,
    rowsPerSecond: throughput.rowsPerSecond,
    throughputSource: throughput.source,
    parallelWindows: parallel,
    seconds: rows / (throughput.rowsPerSecond * parallel),
  };
  checks.push({
    name: 'estimate',
    status: unknownStreams.length > 0 ? 'warn' : 'ok',
    message: `~${formatCount(rows)} rows in the ${config.snapshot.days}-day snapshot, ${estimate.seconds < 1 ? 'under 1s' : `about ${formatDuration(estimate.seconds)}`} of extraction at ${parallel} parallel window(s) × ${formatCount(throughput.rowsPerSecond)} rows/s (${throughput.source})${unknownStreams.length > 0 ? `; no row estimate for ${unknownStreams.join(', ')} (run ANALYZE on their tables)` : ''}`,
  });
  return { ok: checks.every((c) => c.status !== 'fail'), checks, estimate };
}

/**
 * PostgreSQL: whether the user sees other roles' transactions (pg_stat_activity), which the
 * incremental runs need to hold their range end behind a transaction still open.
 */
async function checkOpenTransactions(conn: SourceConnection): Promise<CheckResult> {
  const open = await openTransactions(conn);
  if (open.visibility === 'all') {
    return {
      name: 'open transactions',
      status: 'ok',
      message:
        'the user sees every session of the database (pg_read_all_stats): incremental runs hold their range end behind a transaction still open',
    };
  }
  return {
    name: 'open transactions',
    status: 'warn',
    message:
      "the user sees only its own sessions in pg_stat_activity: incremental runs cannot hold their range end behind other sessions' open transactions, so a transaction open longer than the lookback loses its rows",
    suggestion: 'GRANT pg_read_all_stats TO <the connector user>; -- or pg_monitor; `connector grant-sql` prints it',
  };
}

/** The lookback recommended from the late arrivals observed per stream (see extract/lateness.ts). */
export function lookbackChecks(
  config: OperatorConfig,
  lateness: Readonly<Record<string, LatenessRecord | undefined>> | string | undefined,
): CheckResult[] {
  const { lookbackMinutes } = config.incremental;
  if (typeof lateness === 'string' || lateness === undefined) {
    return [
      {
        name: 'lookback',
        status: 'ok',
        message: `no late arrivals observed yet${typeof lateness === 'string' ? ` (${lateness})` : ''}; incremental.lookbackMinutes is ${lookbackMinutes}`,
      },
    ];
  }
  const minimum = config.source.type === 'files' ? 0 : minimumNaiveLookbackMinutes(config.source.timeZone);
  const out: CheckResult[] = [];
  for (const [stream, record] of Object.entries(lateness)) {
    if (!record) continue;
    const s = summarizeLateness(record, config.incremental, minimum);
    const observed = `${formatCount(s.rows)} late row(s) over ${formatCount(s.runs)} measured run(s), max lateness ${formatDuration(s.maxSeconds)}${s.p99 === null ? '' : `, p99 ≤ ${formatDuration(s.p99)}`}`;
    out.push(
      s.recommendedLookbackMinutes > lookbackMinutes
        ? {
            name: 'lookback',
            stream,
            status: 'warn',
            message: `${observed}: the ${lookbackMinutes}-minute lookback keeps less than twice the largest lateness in reserve; recommended ${s.recommendedLookbackMinutes}`,
            suggestion: `incremental:\n  lookbackMinutes: ${s.recommendedLookbackMinutes}`,
          }
        : {
            name: 'lookback',
            stream,
            status: 'ok',
            message: `${observed}: the ${lookbackMinutes}-minute lookback covers twice that (recommended at least ${s.recommendedLookbackMinutes})`,
          },
    );
  }
  if (out.length === 0) {
    out.push({
      name: 'lookback',
      status: 'ok',
      message: `no incremental run measured yet; incremental.lookbackMinutes is ${lookbackMinutes}`,
    });
  }
  return out;
}

const MARK: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' };

/** The report as text lines. */
export function formatReport(report: CheckReport): string {
  const lines = report.checks.map((c) => {
    const head = `${MARK[c.status]}  ${c.name}${c.stream ? ` [${c.stream}]` : ''}: ${c.message}`;
    return c.suggestion ? `${head}\n        fix: ${c.suggestion}` : head;
  });
  const failed = report.checks.filter((c) => c.status === 'fail').length;
  lines.push('', report.ok ? 'All checks passed.' : `${failed} check(s) failed.`);
  return `${lines.join('\n')}\n`;
}

export const checkCommand = defineCommand({
  name: 'check',
  summary: "verify the operator's database: access, TLS, read-only, mapping, indexes, clock",
  help: HELP,
  options: {
    ...OPERATOR_OPTIONS,
    url: { type: 'string' },
    'key-sample': { type: 'string' },
    table: { type: 'string' },
    json: { type: 'boolean' },
    timeout: { type: 'string' },
  },
  async run({ values, io, operator }) {
    const keySample = values['key-sample'] === undefined ? DEFAULT_KEY_SAMPLE : Number(values['key-sample']);
    if (!Number.isInteger(keySample) || keySample < 0 || keySample > 10_000_000) {
      throw new UsageError('check: --key-sample must be a whole number from 0 to 10000000');
    }
    const { config } = operator();
    const { connection: conn } = await openOperatorSource('check', config, io, {
      noDatabase: 'there is no database to check',
      url: values.url,
      timeout: values.timeout,
      statementTimeout: true,
    });
    try {
      const lateness = await observedLateness(config, values.table, io);
      const report = await runChecks(conn, config, (line) => io.err(`${line}\n`), undefined, {
        keySample,
        lateness,
      });
      if (values.json) printJson(io, report);
      else io.out(formatReport(report));
      return report.ok ? EXIT.ok : EXIT.problems;
    } finally {
      await conn.close();
    }
  },
});

/**
 * The late arrivals recorded in the operator's sync state (`--table`, CONNECTOR_SYNC_STATE_TABLE,
 * else the deployed stack's output), or why they could not be read (before the first deployment,
 * without AWS credentials): the lookback check then says so instead of failing.
 */
async function observedLateness(
  config: OperatorConfig,
  table: string | undefined,
  io: CliIo,
): Promise<Readonly<Record<string, LatenessRecord | undefined>> | string> {
  let client: DynamoDBClient | undefined;
  try {
    const explicit = table ?? io.env.CONNECTOR_SYNC_STATE_TABLE;
    // The stack is asked only with AWS credentials configured: before the first deployment, or on an
    // operator's machine, check needs no AWS at all.
    if (!explicit && !io.env.AWS_PROFILE && !io.env.AWS_ACCESS_KEY_ID) {
      return 'no AWS credentials configured to read the sync state; pass --table to compare with what the runs observed';
    }
    const name =
      explicit ?? stackOutput(await operatorStack(config, io, 'check'), STACK_OUTPUTS.syncStateTable, 'check');
    client = new DynamoDBClient(clientSettings(config.region, io, 'DYNAMODB'));
    const store = new SyncStateStore(DynamoDBDocumentClient.from(client), name);
    const streams = STREAM_NAMES.filter((s) => config.streams[s]);
    const states = await store.watermarks.getStates(streams);
    return Object.fromEntries(states.map((s) => [s.stream, s.lateness]));
  } catch (e) {
    return `sync state not read: ${(e as Error).message.split('\n')[0]}`;
  } finally {
    client?.destroy();
  }
}
