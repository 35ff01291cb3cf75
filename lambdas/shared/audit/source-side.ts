/**
 * The operator database's side of the key audit ({@link KeySide}), on the connector's read-only
 * session (one session, its statement timeout on every statement).
 *
 * **Scope.** The keys compared are those whose cursor is at or after the lake's horizon (the start of
 * the first snapshot: older rows were never landed). No upper bound: a row updated since the last run
 * is still present.
 *
 * **Load.** Every pass walks the table in key order, in pages of `pageRows` keys: one statement finds
 * the page's last key (`ORDER BY key LIMIT 1 OFFSET pageRows-1`, a primary-key index range), the next
 * summarizes the keys of that key range. So no statement reads more than a page, whatever the
 * table's size, and the sums of the pages are the table's.
 *
 * **Clear keys** ({@link SqlKeySide}): the database computes the digest (MD5 of the key's text), the
 * buckets and the sums; only bucket summaries and, at the end, the keys of the few differing buckets
 * leave it.
 *
 * **Pseudonymized keys** ({@link PseudonymKeySide}): the lake holds HMAC-SHA256 pseudonyms, which the
 * database cannot compute without the pseudonym key, and the key must never be sent to it. The
 * function reads the keys in the same bounded pages, pseudonymizes them in memory exactly as the
 * mapper does, and computes the same summaries over the pseudonyms that the lake computes. Clear
 * keys never leave the function's memory and are dropped page by page; only those of differing
 * buckets are kept, to be re-extracted.
 */
import type { SourceConnection } from '../sources/source.ts';
import {
  addToSummaries,
  type BucketSummary,
  bucketDepths,
  checkBucket,
  inBuckets,
  type KeySide,
  keyDigest,
  mergeSummaries,
  SUMMAND_A,
  SUMMAND_B,
  type Summaries,
} from './compare.ts';

/** The table, key and scope of a stream at the source. */
export interface SourceKeyScope {
  readonly schema: string;
  readonly table: string;
  readonly keyColumn: string;
  readonly cursorColumn: string;
  /**
   * The lake's horizon as the cursor column's text (a bound the database compares with the cursor;
   * see `cursorBoundText`).
   */
  readonly horizon: string;
}

export interface SourceSideOptions {
  /** Keys per page (and so per statement). @default 100000 */
  readonly pageRows?: number;
  /** Values bound per `IN` list. @default 500 */
  readonly listSize?: number;
}

interface Dialect {
  q(identifier: string): string;
  /** The i-th bound parameter (1-based). */
  param(i: number): string;
  keyText(column: string): string;
  md5(text: string): string;
  /** The unsigned integer of `length` hex digits of `hex` from `start` (1-based). */
  hexPart(hex: string, start: number, length: number): string;
}

const POSTGRES: Dialect = {
  q: (id) => `"${id}"`,
  param: (i) => `$${i}`,
  keyText: (column) => `${column}::text`,
  md5: (text) => `md5(${text})`,
  hexPart: (hex, start, length) => `('x' || substr(${hex}, ${start}, ${length}))::bit(${length * 4})::bigint`,
};

const MYSQL: Dialect = {
  q: (id) => `\`${id}\``,
  param: () => '?',
  keyText: (column) => `CAST(${column} AS CHAR)`,
  md5: (text) => `MD5(${text})`,
  hexPart: (hex, start, length) => `CAST(CONV(SUBSTRING(${hex}, ${start}, ${length}), 16, 10) AS UNSIGNED)`,
};

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

function checked(id: string): string {
  if (!IDENTIFIER.test(id)) throw new RangeError(`refusing identifier ${JSON.stringify(id)}`);
  return id;
}

/** `(<hex> prefix IN (…) OR …)` for bucket prefixes of any depth (validated hex literals). */
export function bucketPredicate(hex: string, buckets: readonly string[], substr = 'substr'): string {
  const groups = bucketDepths(buckets).map((d) => {
    const list = buckets.filter((b) => b.length === d).map((b) => `'${checkBucket(b)}'`);
    return `${substr}(${hex}, 1, ${d}) IN (${list.join(', ')})`;
  });
  return groups.length === 1 ? groups[0]! : `(${groups.join(' OR ')})`;
}

/** Pages of the in-scope key range, in key order. */
abstract class PagedSide implements KeySide {
  protected readonly d: Dialect;
  protected readonly pageRows: number;
  protected readonly listSize: number;

  constructor(
    protected readonly source: SourceConnection,
    protected readonly scope: SourceKeyScope,
    options: SourceSideOptions = {},
  ) {
    this.d = source.engine === 'postgres' ? POSTGRES : MYSQL;
    this.pageRows = options.pageRows ?? 100_000;
    this.listSize = options.listSize ?? 500;
    if (!Number.isInteger(this.pageRows) || this.pageRows < 1)
      throw new RangeError('pageRows must be a positive integer');
    for (const id of [scope.schema, scope.table, scope.keyColumn, scope.cursorColumn]) checked(id);
  }

  protected get from(): string {
    return `${this.d.q(this.scope.schema)}.${this.d.q(this.scope.table)}`;
  }

  protected get key(): string {
    return this.d.q(this.scope.keyColumn);
  }

  /** The in-scope condition and the key range `(after, last]`, with their parameters. */
  protected range(after: string | undefined, last: string | undefined): { sql: string; params: string[] } {
    const params: string[] = [this.scope.horizon];
    const parts = [`${this.d.q(this.scope.cursorColumn)} >= ${this.d.param(1)}`];
    if (after !== undefined) {
      params.push(after);
      parts.push(`${this.key} > ${this.d.param(params.length)}`);
    }
    if (last !== undefined) {
      params.push(last);
      parts.push(`${this.key} <= ${this.d.param(params.length)}`);
    }
    return { sql: parts.join(' AND '), params };
  }

  /** Calls `fn` with each page's key range `(after, last]` (last undefined: the rest). */
  protected async pages(fn: (after: string | undefined, last: string | undefined) => Promise<void>): Promise<void> {
    let after: string | undefined;
    for (;;) {
      const r = this.range(after, undefined);
      const [row] = await this.source.query(
        `SELECT ${this.d.keyText(this.key)} FROM ${this.from} WHERE ${r.sql} ORDER BY ${this.key} LIMIT 1 OFFSET ${this.pageRows - 1}`,
        r.params,
      );
      const last = row?.[0] ?? undefined;
      await fn(after, last);
      if (last === undefined) return;
      after = last;
    }
  }

  abstract summaries(depth: number, within?: readonly string[]): Promise<Summaries>;
  abstract keys(buckets: readonly string[]): Promise<Map<string, string>>;
  /** Of these lake keys (found missing in scope), those the source still holds out of scope. */
  abstract present(lakeKeys: readonly string[]): Promise<Set<string>>;
}

/** The source side for clear keys: the database digests, buckets and sums (see the module doc). */
export class SqlKeySide extends PagedSide {
  async summaries(depth: number, within?: readonly string[]): Promise<Summaries> {
    const total = new Map<string, BucketSummary>();
    const h = this.d.q('h');
    const filter = within ? ` WHERE ${bucketPredicate(h, within.map(checkBucket))}` : '';
    await this.pages(async (after, last) => {
      const r = this.range(after, last);
      const sql =
        `SELECT substr(${h}, 1, ${depth}), count(*), sum(${this.d.hexPart(h, SUMMAND_A.start, SUMMAND_A.length)}), ` +
        `sum(${this.d.hexPart(h, SUMMAND_B.start, SUMMAND_B.length)}) ` +
        `FROM (SELECT ${this.d.md5(this.d.keyText(this.key))} AS ${h} FROM ${this.from} WHERE ${r.sql}) AS p${filter} ` +
        `GROUP BY substr(${h}, 1, ${depth})`;
      const page = new Map<string, BucketSummary>();
      for (const [bucket, rows, a, b] of await this.source.query(sql, r.params)) {
        page.set(String(bucket), { rows: BigInt(rows ?? '0'), a: BigInt(a ?? '0'), b: BigInt(b ?? '0') });
      }
      mergeSummaries(total, page);
    });
    return total;
  }

  async keys(buckets: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const h = this.d.q('h');
    const k = this.d.q('k');
    await this.pages(async (after, last) => {
      const r = this.range(after, last);
      const sql =
        `SELECT ${k} FROM (SELECT ${this.d.keyText(this.key)} AS ${k}, ${this.d.md5(this.d.keyText(this.key))} AS ${h} ` +
        `FROM ${this.from} WHERE ${r.sql}) AS p WHERE ${bucketPredicate(h, buckets)}`;
      for (const [key] of await this.source.query(sql, r.params)) if (key != null) out.set(key, key);
    });
    return out;
  }

  async present(lakeKeys: readonly string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (let i = 0; i < lakeKeys.length; i += this.listSize) {
      const chunk = lakeKeys.slice(i, i + this.listSize);
      const sql = `SELECT ${this.d.keyText(this.key)} FROM ${this.from} WHERE ${this.key} IN (${chunk.map((_, j) => this.d.param(j + 1)).join(', ')})`;
      for (const [key] of await this.source.query(sql, chunk)) if (key != null) out.add(key);
    }
    return out;
  }
}

/** The source side for pseudonymized keys: keys pseudonymized and summarized in memory. */
export class PseudonymKeySide extends PagedSide {
  constructor(
    source: SourceConnection,
    scope: SourceKeyScope,
    /** The key's lake form: the mapper's pseudonym of the key text. */
    private readonly pseudonym: (keyText: string) => string,
    options: SourceSideOptions = {},
  ) {
    super(source, scope, options);
  }

  private async eachKey(
    where: (after: string | undefined, last: string | undefined) => { sql: string; params: string[] },
    fn: (text: string, lake: string) => void,
  ): Promise<void> {
    await this.pages(async (after, last) => {
      const r = where(after, last);
      const rows = await this.source.query(
        `SELECT ${this.d.keyText(this.key)} FROM ${this.from} WHERE ${r.sql}`,
        r.params,
      );
      for (const [text] of rows) if (text != null) fn(text, this.pseudonym(text));
    });
  }

  async summaries(depth: number, within?: readonly string[]): Promise<Summaries> {
    const total = new Map<string, BucketSummary>();
    const wanted = within ? new Set(within.map(checkBucket)) : undefined;
    await this.eachKey(
      (after, last) => this.range(after, last),
      (_text, lake) => addToSummaries(total, keyDigest(lake), depth, wanted),
    );
    return total;
  }

  async keys(buckets: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const set = new Set(buckets.map(checkBucket));
    const depths = bucketDepths(set);
    await this.eachKey(
      (after, last) => this.range(after, last),
      (text, lake) => {
        if (inBuckets(keyDigest(lake).hex, set, depths)) out.set(lake, text);
      },
    );
    return out;
  }

  /**
   * The lake keys among the source's out-of-scope keys (cursor before the horizon, or NULL): one
   * more paged pass, pseudonymizing in memory, because the database cannot be asked by pseudonym.
   */
  async present(lakeKeys: readonly string[]): Promise<Set<string>> {
    const wanted = new Set(lakeKeys);
    const out = new Set<string>();
    if (wanted.size === 0) return out;
    let after: string | undefined;
    const cursor = this.d.q(this.scope.cursorColumn);
    for (;;) {
      const params: string[] = [this.scope.horizon];
      let sql = `SELECT ${this.d.keyText(this.key)} FROM ${this.from} WHERE (${cursor} < ${this.d.param(1)} OR ${cursor} IS NULL)`;
      if (after !== undefined) {
        params.push(after);
        sql += ` AND ${this.key} > ${this.d.param(2)}`;
      }
      const rows = await this.source.query(`${sql} ORDER BY ${this.key} LIMIT ${this.pageRows}`, params);
      for (const [text] of rows) {
        if (text == null) continue;
        const lake = this.pseudonym(text);
        if (wanted.has(lake)) out.add(lake);
      }
      if (rows.length < this.pageRows) return out;
      after = rows[rows.length - 1]?.[0] ?? undefined;
      if (after === undefined) return out;
    }
  }
}
