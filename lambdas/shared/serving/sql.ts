/**
 * The SQL the connector sends to Athena (engine v3, Trino) for its serving tables. Every statement
 * is plain Trino SQL that DuckDB also runs (the local engine), and tests parse each one with a
 * Trino grammar: no QUALIFY, no Athena-only statements.
 *
 * **Publishing** ({@link mergeStatement}) merges the committed windows of some runs into a stream's
 * Iceberg table:
 * - the source is the stream's landed table (`<stream>_landed`) restricted to those windows by its
 *   injected partitions (`run_id`, `window_id`), so nothing uncommitted can be read;
 * - it is reduced to one row per key, the latest by the version order (`_cursor_us`, then
 *   `_source_seq`), because a MERGE refuses several source rows for one target row;
 * - a target row is replaced only by a strictly newer version, and deleted only by a tombstone
 *   (`_deleted`) at least as new: re-running a publish changes nothing, and an older version never
 *   overwrites a newer one, in whatever order runs are published;
 * - the target rows it reads are bounded by the range of the partition column in the merged rows
 *   (from the windows' manifests), so a MERGE reads the partitions its rows belong to, not the table.
 */
import { CANONICAL_STREAMS, type StreamName } from '../canonical.ts';
import type { OperatorConfig } from '../config/schema.ts';
import type { MergeSource } from '../contracts/steps.ts';
import type { PartitionRange } from '../state/publications.ts';
import { boundedByTime, type ServingColumn, servingColumns, servingLayout, servingTableName } from './tables.ts';

/** Athena's limit on the length of a query string. */
export const MAX_QUERY_BYTES = 262_144;

/** A quoted identifier (`"name"`). */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A quoted string literal. */
export function literal(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** `"database"."table"` */
export function qualified(database: string, table: string): string {
  return `${ident(database)}.${ident(table)}`;
}

/** A TIMESTAMP literal of an instant, in UTC with milliseconds. */
export function timestampLiteral(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) throw new Error(`not an instant: ${JSON.stringify(iso)}`);
  return `TIMESTAMP '${d.toISOString().slice(0, 23).replace('T', ' ')}'`;
}

export interface MergeInput {
  readonly config: OperatorConfig;
  readonly stream: StreamName;
  /** The Glue database of the operator. */
  readonly database: string;
  readonly source: MergeSource;
  /**
   * The partition column's values in the merged rows; omitted (or for a bucketed table) the MERGE
   * reads every partition of the target.
   */
  readonly partition?: PartitionRange;
}

/** A pair list the injected partitions can read exactly: never a cross product of two lists. */
function checkSource(source: MergeSource): void {
  if (source.runIds.length === 0 || source.windowIds.length === 0) {
    throw new Error('a publish names at least one run and one window');
  }
  if (source.runIds.length > 1 && source.windowIds.length > 1) {
    throw new Error(
      'a publish reads one run with several windows, or several runs with one window; several of both would read their cross product',
    );
  }
}

const version = (alias: string, column: '_cursor_us' | '_source_seq') => `coalesce(${alias}.${ident(column)}, -1)`;

/** `s` is a newer version than `t` (or `>=` with `orEqual`). */
function newer(orEqual: boolean): string {
  const cursor = (op: string) => `${version('s', '_cursor_us')} ${op} ${version('t', '_cursor_us')}`;
  const seq = `${version('s', '_source_seq')} ${orEqual ? '>=' : '>'} ${version('t', '_source_seq')}`;
  return `(${cursor('>')} OR (${cursor('=')} AND ${seq}))`;
}

function partitionBound(input: MergeInput): string | undefined {
  const { config, stream, partition } = input;
  if (!partition || !boundedByTime(config, stream)) return undefined;
  const column = `t.${ident(servingLayout(config, stream).partition.column)}`;
  const parts: string[] = [];
  if (partition.range) {
    parts.push(
      `(${column} >= ${timestampLiteral(partition.range.min)} AND ${column} <= ${timestampLiteral(partition.range.max)})`,
    );
  }
  if (partition.hasNulls) parts.push(`${column} IS NULL`);
  // No row at all: nothing of the target can match.
  if (parts.length === 0) return 'false';
  return parts.length === 1 ? parts[0] : `(${parts.join(' OR ')})`;
}

/** The MERGE that publishes committed windows of a stream into its serving table (see the module doc). */
export function mergeStatement(input: MergeInput): string {
  const { config, stream, database, source } = input;
  checkSource(source);
  const columns: readonly ServingColumn[] = servingColumns(config, stream);
  const key = ident(CANONICAL_STREAMS[stream].primaryKey);
  const names = columns.map((c) => ident(c.name));
  const landed = qualified(database, `${stream}_landed`);
  const list = (values: readonly string[]) => values.map(literal).join(', ');
  const select = [...names, `coalesce(${ident('_deleted')}, false) AS ${ident('_deleted')}`].join(', ');
  const bound = partitionBound(input);
  const on = `t.${key} = s.${key}${bound ? ` AND ${bound}` : ''}`;
  const assignments = columns
    .filter((c) => c.name !== CANONICAL_STREAMS[stream].primaryKey)
    .map((c) => `${ident(c.name)} = s.${ident(c.name)}`);
  return [
    `MERGE INTO ${qualified(database, servingTableName(stream))} AS t`,
    'USING (',
    `  SELECT ${[...names, ident('_deleted')].join(', ')} FROM (`,
    `    SELECT ${select}, row_number() OVER (PARTITION BY ${key} ORDER BY ${version('l', '_cursor_us')} DESC, ${version('l', '_source_seq')} DESC) AS ${ident('_rank')}`,
    `    FROM ${landed} AS l`,
    `    WHERE ${ident('run_id')} IN (${list(source.runIds)}) AND ${ident('window_id')} IN (${list(source.windowIds)})`,
    `  ) AS d WHERE ${ident('_rank')} = 1`,
    ') AS s',
    `ON ${on}`,
    `WHEN MATCHED AND s.${ident('_deleted')} AND ${newer(true)} THEN DELETE`,
    `WHEN MATCHED AND NOT s.${ident('_deleted')} AND ${newer(false)} THEN UPDATE SET ${assignments.join(', ')}`,
    `WHEN NOT MATCHED AND NOT s.${ident('_deleted')} THEN INSERT (${names.join(', ')}) VALUES (${names.map((n) => `s.${n}`).join(', ')})`,
  ].join('\n');
}

/** Rows of a player in a stream's serving table (erasure's dry run and audit). */
export function countPlayerRows(database: string, stream: StreamName, pseudonym: string): string {
  return `SELECT count(*) AS ${ident('rows')} FROM ${qualified(database, servingTableName(stream))} WHERE ${ident('player_id')} = ${literal(pseudonym)}`;
}

/** Deletes a player's rows from a stream's serving table (erasure). */
export function deletePlayerRows(database: string, stream: StreamName, pseudonym: string): string {
  return `DELETE FROM ${qualified(database, servingTableName(stream))} WHERE ${ident('player_id')} = ${literal(pseudonym)}`;
}

/** Athena's hidden column of a Hive table: the data file a row was read from. */
export const PATH_COLUMN = '$path';

/**
 * The committed parts of some windows of a stream's landed table that hold a player's rows, with
 * the rows each holds (erasure): one row per (`run_id`, `window_id`, `path`), `path` being the
 * part's `s3://` URI. The windows are named as a publish names them (see {@link MergeSource}),
 * because the landed table's partitions are injected: a query must name the ones it reads.
 */
export function playerPartsStatement(
  database: string,
  stream: StreamName,
  pseudonym: string,
  source: MergeSource,
): string {
  checkSource(source);
  const list = (values: readonly string[]) => values.map(literal).join(', ');
  const run = ident('run_id');
  const window = ident('window_id');
  return [
    `SELECT ${run}, ${window}, ${ident(PATH_COLUMN)} AS ${ident('path')}, count(*) AS ${ident('rows')}`,
    `FROM ${qualified(database, `${stream}_landed`)}`,
    `WHERE ${run} IN (${list(source.runIds)}) AND ${window} IN (${list(source.windowIds)}) AND ${ident('player_id')} = ${literal(pseudonym)}`,
    `GROUP BY ${run}, ${window}, ${ident(PATH_COLUMN)}`,
  ].join('\n');
}
