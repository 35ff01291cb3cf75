/**
 * The lake's side of the key audit ({@link KeySide}): the stream's serving (Iceberg) table, through
 * the Athena seam. The digest is the one the source computes (compare.ts): Trino's
 * `md5(to_utf8(key))` as lowercase hex, buckets by its first digits, summands by `from_base` of two
 * 8-digit slices. Every statement is Trino SQL (the local engine runs it on DuckDB).
 */
import type { QueryEngine } from '../adapters/athena.ts';
import { CANONICAL_STREAMS, type StreamName } from '../canonical.ts';
import { ident, literal, qualified } from '../serving/sql.ts';
import { servingTableName } from '../serving/tables.ts';
import { type BucketSummary, checkBucket, type KeySide, SUMMAND_A, SUMMAND_B, type Summaries } from './compare.ts';
import { bucketPredicate } from './source-side.ts';

/** The hex digest of a key column, in Trino SQL. */
export function trinoDigest(column: string): string {
  return `lower(to_hex(md5(to_utf8(CAST(${column} AS varchar)))))`;
}

const part = (h: string, p: { start: number; length: number }) =>
  `from_base(substr(${h}, ${p.start}, ${p.length}), 16)`;

/** The bucket summaries of a serving table at `depth`, within some shallower buckets. */
export function lakeSummariesStatement(
  database: string,
  stream: StreamName,
  depth: number,
  within?: readonly string[],
): string {
  const key = ident(CANONICAL_STREAMS[stream].primaryKey);
  const h = ident('h');
  const filter = within ? `\nWHERE ${bucketPredicate(h, within.map(checkBucket))}` : '';
  return [
    `SELECT substr(${h}, 1, ${depth}) AS ${ident('bucket')}, count(*) AS ${ident('rows')}, sum(${part(h, SUMMAND_A)}) AS ${ident('a')}, sum(${part(h, SUMMAND_B)}) AS ${ident('b')}`,
    `FROM (SELECT ${trinoDigest(key)} AS ${h} FROM ${qualified(database, servingTableName(stream))}) AS ${ident('k')}${filter}`,
    `GROUP BY substr(${h}, 1, ${depth})`,
  ].join('\n');
}

/** The keys of a serving table in some buckets. */
export function lakeKeysStatement(database: string, stream: StreamName, buckets: readonly string[]): string {
  const key = ident(CANONICAL_STREAMS[stream].primaryKey);
  const h = ident('h');
  return [
    `SELECT ${ident('key')} FROM (SELECT CAST(${key} AS varchar) AS ${ident('key')}, ${trinoDigest(key)} AS ${h} FROM ${qualified(database, servingTableName(stream))}) AS ${ident('k')}`,
    `WHERE ${bucketPredicate(h, buckets)}`,
  ].join('\n');
}

/** The current rows of some keys, every column as text (tombstones copy them). */
export function lakeRowsStatement(
  database: string,
  stream: StreamName,
  columns: readonly string[],
  keys: readonly string[],
): string {
  const key = ident(CANONICAL_STREAMS[stream].primaryKey);
  const select = columns.map((c) => `CAST(${ident(c)} AS varchar) AS ${ident(c)}`).join(', ');
  return `SELECT ${select} FROM ${qualified(database, servingTableName(stream))} WHERE ${key} IN (${keys.map(literal).join(', ')})`;
}

const text = (v: unknown) => (v === null || v === undefined ? '0' : String(v));

/** The serving table's side of a comparison. */
export class LakeKeySide implements KeySide {
  constructor(
    private readonly athena: QueryEngine,
    private readonly database: string,
    private readonly stream: StreamName,
  ) {}

  async summaries(depth: number, within?: readonly string[]): Promise<Summaries> {
    const out = new Map<string, BucketSummary>();
    const { rows } = await this.athena.execute(lakeSummariesStatement(this.database, this.stream, depth, within));
    for (const r of rows) {
      out.set(String(r.bucket), { rows: BigInt(text(r.rows)), a: BigInt(text(r.a)), b: BigInt(text(r.b)) });
    }
    return out;
  }

  async keys(buckets: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const { rows } = await this.athena.execute(lakeKeysStatement(this.database, this.stream, buckets));
    for (const r of rows) if (r.key !== null && r.key !== undefined) out.set(String(r.key), String(r.key));
    return out;
  }
}
