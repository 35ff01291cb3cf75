/**
 * Late arrivals: versions of rows committed after an earlier read had already gone past their
 * cursor, which only the lookback catches. Measured exactly, on every engine, by a digest.
 *
 * **Digest.** A read that ends at watermark W (an incremental run's range end, or the snapshot's
 * cutoff, for the windows that reach into the region) records a digest of every version it read
 * with a cursor in [W − lookback, W): one 64-bit keyed hash per (primary key, cursor instant),
 * HMAC-SHA256 under a key derived from the operator's pseudonym key (so a digest reveals nothing
 * and cannot be matched against guessed ids). The digest is stored under
 * `_integrity/<stream>/lookback/<W>/` of the landing bucket (SSE-KMS), one object per invocation.
 *
 * **Measurement.** The next run reads [W − lookback, …). Every version it reads whose cursor lies in
 * the digest's region but whose hash is not in the digest was committed after the earlier read: it
 * is late, by W − cursor (how far behind the earlier watermark its cursor was). A version already
 * read has its hash in the digest and is not counted, however often the lookback reads it again.
 * A read that saw a version its successor no longer finds (updated or deleted since) does not
 * matter: only versions found are judged. Runs without a digest of their previous read (the first
 * run after the feature was deployed, a digest expired) are reported as not measured.
 *
 * Exact up to a collision of two 64-bit keyed hashes (probability about n²/2⁶⁵ for n versions in
 * the region: 3·10⁻⁸ for a million).
 */
import { createHmac, hkdfSync, randomUUID } from 'node:crypto';
import type { StreamName } from '../canonical.ts';
import type { LatenessStats } from '../contracts/steps.ts';
import { lookbackDigestKey, lookbackDigestPrefix } from '../layout.ts';
import type { ObjectSink } from '../sink/sink.ts';

export type { LatenessStats };

/**
 * Upper bounds (seconds) of the lateness histogram's buckets; a last bucket holds everything above
 * the largest bound.
 */
export const LATENESS_BUCKETS_SECONDS: readonly number[] = [
  1, 5, 15, 30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200, 10800, 21600, 43200, 86400,
];

export const emptyLateness = (): LatenessStats => ({
  rows: 0,
  maxMicros: 0,
  histogram: new Array(LATENESS_BUCKETS_SECONDS.length + 1).fill(0),
});

export function mergeLateness(a: LatenessStats, b: LatenessStats): LatenessStats {
  const histogram = emptyLateness().histogram.map((_, i) => (a.histogram[i] ?? 0) + (b.histogram[i] ?? 0));
  return { rows: a.rows + b.rows, maxMicros: Math.max(a.maxMicros, b.maxMicros), histogram };
}

/** Index of the histogram bucket of a lateness. */
export function latenessBucket(seconds: number): number {
  const i = LATENESS_BUCKETS_SECONDS.findIndex((bound) => seconds <= bound);
  return i < 0 ? LATENESS_BUCKETS_SECONDS.length : i;
}

/**
 * The upper bound (seconds) under which a share `q` of the histogram's lateness lies (∞ in the
 * overflow bucket); undefined for an empty histogram.
 */
export function latenessQuantile(histogram: readonly number[], q: number): number | undefined {
  const total = histogram.reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  const target = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < histogram.length; i++) {
    seen += histogram[i] ?? 0;
    if (seen >= Math.max(1, target)) return LATENESS_BUCKETS_SECONDS[i] ?? Number.POSITIVE_INFINITY;
  }
  return Number.POSITIVE_INFINITY;
}

/** The digest key: derived from the pseudonym key, so digests are keyed hashes (never plain ones). */
export function digestKey(pseudonymKey: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', pseudonymKey, Buffer.alloc(0), 'igaming-connector/lookback-digest', 32));
}

/** 64-bit keyed hash of one version: (primary key text, cursor instant in microseconds). */
export function versionHash(key: Buffer, primaryKey: string, cursorMicros: bigint): bigint {
  return createHmac('sha256', key)
    .update(primaryKey, 'utf8')
    .update('\u0000')
    .update(cursorMicros.toString())
    .digest()
    .readBigUInt64BE(0);
}

/** A digest: the hashes of every version read with a cursor in [fromMicros, toMicros). */
export interface LookbackDigest {
  readonly fromMicros: bigint;
  readonly toMicros: bigint;
  /** Sorted ascending, for binary search. */
  readonly hashes: BigUint64Array;
}

const MAGIC = 0x4c424431; // "LBD1"
const HEADER_BYTES = 4 + 8 + 8 + 4;

/** `LBD1 | from (i64) | to (i64) | count (u32) | hashes (u64 …)`, big-endian. */
export function encodeDigest(digest: LookbackDigest): Uint8Array {
  const out = Buffer.alloc(HEADER_BYTES + 8 * digest.hashes.length);
  out.writeUInt32BE(MAGIC, 0);
  out.writeBigInt64BE(digest.fromMicros, 4);
  out.writeBigInt64BE(digest.toMicros, 12);
  out.writeUInt32BE(digest.hashes.length, 20);
  digest.hashes.forEach((h, i) => {
    out.writeBigUInt64BE(h, HEADER_BYTES + 8 * i);
  });
  return out;
}

/** @throws Error when the bytes are not a digest. */
export function decodeDigest(bytes: Uint8Array): LookbackDigest {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < HEADER_BYTES || b.readUInt32BE(0) !== MAGIC) throw new Error('not a lookback digest');
  const count = b.readUInt32BE(20);
  if (b.length !== HEADER_BYTES + 8 * count) throw new Error('lookback digest is truncated');
  const hashes = new BigUint64Array(count);
  for (let i = 0; i < count; i++) hashes[i] = b.readBigUInt64BE(HEADER_BYTES + 8 * i);
  hashes.sort();
  return { fromMicros: b.readBigInt64BE(4), toMicros: b.readBigInt64BE(12), hashes };
}

function contains(sorted: BigUint64Array, value: bigint): boolean {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = sorted[mid]!;
    if (v === value) return true;
    if (v < value) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/**
 * The digest recorded by the reads that ended at `watermark`: the union of their parts, over the
 * region every part covers. Undefined when none was recorded.
 */
export async function loadDigest(
  sink: ObjectSink,
  stream: StreamName,
  watermark: Date,
): Promise<LookbackDigest | undefined> {
  const keys = await sink.listKeys(lookbackDigestPrefix(stream, watermark));
  if (keys.length === 0) return undefined;
  const parts: LookbackDigest[] = [];
  for (const key of keys) {
    const body = await sink.getObject(key);
    if (body) parts.push(decodeDigest(body));
  }
  if (parts.length === 0) return undefined;
  let fromMicros = parts[0]!.fromMicros;
  let toMicros = parts[0]!.toMicros;
  let total = 0;
  for (const p of parts) {
    if (p.fromMicros > fromMicros) fromMicros = p.fromMicros;
    if (p.toMicros < toMicros) toMicros = p.toMicros;
    total += p.hashes.length;
  }
  const hashes = new BigUint64Array(total);
  let at = 0;
  for (const p of parts) {
    hashes.set(p.hashes, at);
    at += p.hashes.length;
  }
  hashes.sort();
  return { fromMicros, toMicros, hashes };
}

/** Stores one invocation's part of the digest of the reads ending at `watermark`. */
export async function storeDigestPart(
  sink: ObjectSink,
  stream: StreamName,
  watermark: Date,
  digest: LookbackDigest,
): Promise<string> {
  const key = lookbackDigestKey(stream, watermark, randomUUID());
  await sink.putObject(key, encodeDigest(digest), 'application/octet-stream');
  return key;
}

/** Removes the digests of a stream recorded for watermarks before `keep` (superseded once a run read past them). */
export async function deleteDigestsBefore(sink: ObjectSink, stream: StreamName, keep: Date): Promise<number> {
  const all = await sink.listKeys(lookbackDigestPrefix(stream));
  const keepPrefix = lookbackDigestPrefix(stream, keep);
  const stale = all.filter((k) => {
    if (k.startsWith(keepPrefix)) return false;
    const ms = Number(/\/lookback\/(\d+)\//.exec(k)?.[1]);
    return Number.isFinite(ms) && ms < keep.getTime();
  });
  if (stale.length > 0) await sink.deleteKeys(stale);
  return stale.length;
}

export interface LatenessTrackerOptions {
  /** Key of {@link versionHash}. */
  readonly key: Buffer;
  /** The previous read's digest: versions in its region that it lacks are late. */
  readonly previous?: LookbackDigest;
  /** The region this read records for its successor: [from, to) in microseconds. */
  readonly record?: { readonly fromMicros: bigint; readonly toMicros: bigint };
}

/** Judges and records the versions one read finds, in any order. */
export class LatenessTracker {
  private rows = 0;
  private maxMicros = 0;
  private readonly histogram: number[] = emptyLateness().histogram.slice();
  private readonly recorded: bigint[] = [];

  constructor(private readonly options: LatenessTrackerOptions) {}

  /** Whether the read is measured (its predecessor left a digest). */
  get measured(): boolean {
    return this.options.previous !== undefined;
  }

  observe(primaryKey: string, cursorMicros: bigint): void {
    const { previous, record } = this.options;
    const inPrevious = previous && cursorMicros >= previous.fromMicros && cursorMicros < previous.toMicros;
    const inRecord = record && cursorMicros >= record.fromMicros && cursorMicros < record.toMicros;
    if (!inPrevious && !inRecord) return;
    const hash = versionHash(this.options.key, primaryKey, cursorMicros);
    if (inPrevious && !contains(previous.hashes, hash)) {
      const late = Number(previous.toMicros - cursorMicros);
      this.rows += 1;
      if (late > this.maxMicros) this.maxMicros = late;
      this.histogram[latenessBucket(late / 1e6)]! += 1;
    }
    if (inRecord) this.recorded.push(hash);
  }

  stats(): LatenessStats {
    return { rows: this.rows, maxMicros: this.maxMicros, histogram: [...this.histogram] };
  }

  /** The digest part this read records, or undefined when it records none. */
  digest(): LookbackDigest | undefined {
    const { record } = this.options;
    if (!record) return undefined;
    const hashes = BigUint64Array.from(this.recorded);
    hashes.sort();
    return { fromMicros: record.fromMicros, toMicros: record.toMicros, hashes };
  }
}

/** What `connector status` shows of a stream's late arrivals and `connector check` recommends from them. */
export interface LatenessSummary {
  readonly runs: number;
  readonly rows: number;
  /** Upper bounds (seconds) of the histogram bucket holding each quantile; null without late rows. */
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p99: number | null;
  readonly maxSeconds: number;
  /** The largest lateness as a share of the lookback (0..1, more when a row was later than it could be caught). */
  readonly shareOfLookback: number | null;
  /** Above `incremental.latenessAlarmShare`: the alarm's condition. */
  readonly nearLookback: boolean;
  readonly recommendedLookbackMinutes: number;
}

/**
 * The lookback that keeps the observed maximum lateness within half of it (twice the maximum,
 * rounded up to 5 minutes), never below `minimumMinutes` (e.g. the repeated hour of a naive cursor's
 * zone) nor 5 minutes.
 */
export function recommendedLookbackMinutes(maxLatenessSeconds: number, minimumMinutes = 0): number {
  const twice = Math.ceil((2 * maxLatenessSeconds) / 60 / 5) * 5;
  return Math.max(5, minimumMinutes, twice);
}

export function summarizeLateness(
  record: {
    readonly runs: number;
    readonly rows: number;
    readonly maxSeconds: number;
    readonly histogram: readonly number[];
  },
  incremental: { readonly lookbackMinutes: number; readonly latenessAlarmShare: number },
  minimumMinutes = 0,
): LatenessSummary {
  const q = (p: number) => {
    const v = latenessQuantile(record.histogram, p);
    return v === undefined ? null : Number.isFinite(v) ? v : null;
  };
  const lookbackSeconds = incremental.lookbackMinutes * 60;
  const share = lookbackSeconds > 0 ? record.maxSeconds / lookbackSeconds : null;
  return {
    runs: record.runs,
    rows: record.rows,
    p50: q(0.5),
    p90: q(0.9),
    p99: q(0.99),
    maxSeconds: record.maxSeconds,
    shareOfLookback: share,
    nearLookback:
      share === null ? record.maxSeconds > 0 : record.maxSeconds > incremental.latenessAlarmShare * lookbackSeconds,
    recommendedLookbackMinutes: recommendedLookbackMinutes(record.maxSeconds, minimumMinutes),
  };
}
