/**
 * The key audit's comparison: which keys one side (the operator database) holds that the other (the
 * lake's serving table) does not, and the reverse, found without moving every key.
 *
 * **Key digest.** Both sides digest a key the same way (see {@link keyDigest}): `h` = the lowercase
 * hex MD5 of the key's text in the lake (the clear key, or its pseudonym for a pseudonymized key).
 * A key's **bucket** at depth `d` is the first `d` hex digits of `h`; two 32-bit numbers taken from
 * digits 9–16 and 17–24 of `h` are its **summands**.
 *
 * **Bucket summary.** Per bucket: the number of keys and the sums of both summands. A sum is order
 * independent, so each side's own engine computes it (GROUP BY in SQL, in any order, in pages), and
 * the sums are exact integers on every engine (a sum of 32-bit values fits a BIGINT for up to 2^31
 * keys per bucket). Equal sets give equal summaries; a bucket where one key is missing, added or
 * swapped differs except with probability about 2^-64.
 *
 * **Refinement** (the bisection, sixteen ways): buckets whose summaries differ are split into their
 * sixteen children one hex digit deeper, and only those are summarized again, until a differing
 * bucket holds at most `leafRows` keys on either side (or `maxDepth` is reached); then the keys of
 * those buckets only are listed on both sides and compared one by one.
 */
import { createHash } from 'node:crypto';

/** The summary of one bucket: how many keys, and the two sums of their summands. */
export interface BucketSummary {
  readonly rows: bigint;
  readonly a: bigint;
  readonly b: bigint;
}

/** Bucket prefix (hex) → summary. Buckets with no key are absent. */
export type Summaries = ReadonlyMap<string, BucketSummary>;

/** What a side of the comparison can tell about its keys. */
export interface KeySide {
  /**
   * The summary of every non-empty bucket at `depth` hex digits, among the keys whose bucket one
   * digit shallower is in `within` (every key when `within` is undefined).
   */
  summaries(depth: number, within?: readonly string[]): Promise<Summaries>;
  /**
   * The keys in these buckets (prefixes of any depth): lake form (as the serving table holds it) →
   * source text (the key as the source reader returns it; the lake form again on the lake side).
   */
  keys(buckets: readonly string[]): Promise<Map<string, string>>;
}

/** The digest of one key, as both sides compute it. */
export interface KeyDigest {
  /** Lowercase hex MD5 of the key's lake text. */
  readonly hex: string;
  readonly a: bigint;
  readonly b: bigint;
}

/** Digit positions (1-based, inclusive) of the summands in the hex digest. */
export const SUMMAND_A = { start: 9, length: 8 } as const;
export const SUMMAND_B = { start: 17, length: 8 } as const;

/** Deepest bucket prefix: the bucket digits (1–6) never overlap the summand digits (9–24). */
export const MAX_DEPTH = 6;

/** The digest of a key's lake text (UTF-8). */
export function keyDigest(lakeText: string): KeyDigest {
  const hex = createHash('md5').update(lakeText, 'utf8').digest('hex');
  const part = (p: { start: number; length: number }) => BigInt(`0x${hex.slice(p.start - 1, p.start - 1 + p.length)}`);
  return { hex, a: part(SUMMAND_A), b: part(SUMMAND_B) };
}

/** Adds one key's digest to the summaries of a pass, when its bucket is wanted. */
export function addToSummaries(
  into: Map<string, BucketSummary>,
  digest: KeyDigest,
  depth: number,
  within?: ReadonlySet<string>,
): void {
  if (within && !within.has(digest.hex.slice(0, depth - 1))) return;
  const bucket = digest.hex.slice(0, depth);
  const prev = into.get(bucket);
  into.set(bucket, {
    rows: (prev?.rows ?? 0n) + 1n,
    a: (prev?.a ?? 0n) + digest.a,
    b: (prev?.b ?? 0n) + digest.b,
  });
}

/** Adds summaries of one page (or one engine's partial result) into a running total. */
export function mergeSummaries(into: Map<string, BucketSummary>, page: Summaries): void {
  for (const [bucket, s] of page) {
    const prev = into.get(bucket);
    into.set(bucket, prev ? { rows: prev.rows + s.rows, a: prev.a + s.a, b: prev.b + s.b } : s);
  }
}

/** Whether a key's digest falls in one of these buckets (prefixes of any depth). */
export function inBuckets(hex: string, buckets: ReadonlySet<string>, depths: readonly number[]): boolean {
  return depths.some((d) => buckets.has(hex.slice(0, d)));
}

/** The distinct prefix lengths of a bucket list, shortest first. */
export function bucketDepths(buckets: Iterable<string>): number[] {
  return [...new Set([...buckets].map((b) => b.length))].sort((x, y) => x - y);
}

/** Checks a bucket prefix (lowercase hex, 1 to {@link MAX_DEPTH} digits): they are written into SQL. */
export function checkBucket(bucket: string): string {
  if (!/^[0-9a-f]{1,6}$/.test(bucket)) throw new RangeError(`not a bucket prefix: ${JSON.stringify(bucket)}`);
  return bucket;
}

/**
 * The first depth: buckets of about `leafRows` keys for a table of `estimatedRows`, between 1 and 3
 * digits (16 to 4,096 buckets), so the first pass returns a few thousand rows at most.
 */
export function startDepth(estimatedRows: number | null, leafRows: number): number {
  const rows = Math.max(1, estimatedRows ?? 1);
  const depth = Math.ceil(Math.log(rows / Math.max(1, leafRows)) / Math.log(16));
  return Math.min(3, Math.max(1, depth));
}

/** Thresholds of a comparison. */
export interface CompareOptions {
  /** Depth of the first pass ({@link startDepth}). */
  readonly startDepth: number;
  /** A differing bucket with at most this many keys on either side has its keys listed. */
  readonly leafRows: number;
  /** @default MAX_DEPTH */
  readonly maxDepth?: number;
  /**
   * Most keys listed (both sides together) and most differing buckets refined in one pass; beyond
   * that the lake is too far from the source for an audit, and a replay is the repair.
   */
  readonly maxKeys: number;
}

/** What a comparison found. */
export interface CompareResult {
  /** Keys on the source side (the first pass's total). */
  readonly sourceRows: bigint;
  /** Keys on the lake side (the first pass's total). */
  readonly lakeRows: bigint;
  /** Bucket summaries compared, over all passes. */
  readonly bucketsCompared: number;
  /** Passes (depths) summarized. */
  readonly passes: number;
  /** Buckets whose keys were listed. */
  readonly bucketsListed: number;
  /** Keys listed on both sides together. */
  readonly keysListed: number;
  /** Source keys the lake lacks: lake form → source text. */
  readonly missing: ReadonlyMap<string, string>;
  /** Lake keys the source lacks (lake form). */
  readonly extra: readonly string[];
}

/** The lake is too far from the source for a key audit: more differences than it lists. */
export class KeyAuditLimitError extends Error {
  override readonly name = 'KeyAuditLimitError';
  /** Not retryable: the same audit would find the same differences. */
  readonly retryable = false;
}

const same = (x: BucketSummary | undefined, y: BucketSummary | undefined) =>
  x !== undefined && y !== undefined && x.rows === y.rows && x.a === y.a && x.b === y.b;

/** Compares the keys of two sides by bucket summaries, refining only the buckets that differ. */
export async function compareKeys(
  source: KeySide,
  lake: KeySide,
  options: CompareOptions,
  where = 'key audit',
): Promise<CompareResult> {
  const maxDepth = Math.min(MAX_DEPTH, options.maxDepth ?? MAX_DEPTH);
  let depth = Math.min(maxDepth, Math.max(1, options.startDepth));
  let within: string[] | undefined;
  let sourceRows = 0n;
  let lakeRows = 0n;
  let bucketsCompared = 0;
  let passes = 0;
  const leaves: string[] = [];
  let leafKeys = 0n;
  for (;;) {
    const s = await source.summaries(depth, within);
    const l = await lake.summaries(depth, within);
    passes++;
    if (within === undefined) {
      for (const v of s.values()) sourceRows += v.rows;
      for (const v of l.values()) lakeRows += v.rows;
    }
    const deeper: string[] = [];
    for (const bucket of [...new Set([...s.keys(), ...l.keys()])].sort()) {
      bucketsCompared++;
      const x = s.get(bucket);
      const y = l.get(bucket);
      if (same(x, y)) continue;
      const rows = (x?.rows ?? 0n) + (y?.rows ?? 0n);
      const larger = (x?.rows ?? 0n) > (y?.rows ?? 0n) ? (x?.rows ?? 0n) : (y?.rows ?? 0n);
      if (larger <= BigInt(options.leafRows) || depth >= maxDepth) {
        leaves.push(bucket);
        leafKeys += rows;
      } else {
        deeper.push(bucket);
      }
    }
    if (leafKeys > BigInt(options.maxKeys) || deeper.length * 16 > options.maxKeys) {
      throw new KeyAuditLimitError(
        `${where}: the source and the lake differ in too many keys for an audit to list (over ${options.maxKeys}); ` +
          'replay the stream (connector run --replay) instead',
      );
    }
    if (deeper.length === 0) break;
    within = deeper;
    depth++;
  }
  const sourceKeys = leaves.length > 0 ? await source.keys(leaves) : new Map<string, string>();
  const lakeKeys = leaves.length > 0 ? await lake.keys(leaves) : new Map<string, string>();
  const missing = new Map<string, string>();
  for (const [k, text] of sourceKeys) if (!lakeKeys.has(k)) missing.set(k, text);
  const extra = [...lakeKeys.keys()].filter((k) => !sourceKeys.has(k)).sort();
  return {
    sourceRows,
    lakeRows,
    bucketsCompared,
    passes,
    bucketsListed: leaves.length,
    keysListed: sourceKeys.size + lakeKeys.size,
    missing,
    extra,
  };
}
