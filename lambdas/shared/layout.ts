/**
 * The S3 key layout of an operator's landing bucket. Every writer and reader builds keys here.
 *
 * Landed data is written and committed in three places (see `landing/window.ts`):
 * - `raw/<stream>/<run>/<window>/<attempt>/dt=<date>/part-<n>.parquet`: the Parquet parts of one
 *   attempt at a window. Every attempt writes under its own prefix, so no attempt ever overwrites
 *   an object another attempt (or a committed list) refers to. `raw/` is not a table location.
 * - `_manifests/<stream>/<run>/<window>/<attempt>.json`: the description of an attempt (rows, parts,
 *   exact sums), written before it commits.
 * - `_committed/<stream>/<run>/<window>/parts.txt`: the commit marker, a symlink list of the committed
 *   attempt's parts. `_committed/<stream>/` is the location of the stream's catalogued landed table
 *   (SymlinkTextInputFormat), so a reader of the catalog sees exactly the committed attempts.
 * - `_integrity/<stream>/lookback/<watermark ms>/<part>.bin`: digests of the versions a read found in
 *   its lookback region (keyed hashes only), read by the next run to count late arrivals
 *   (extract/lateness.ts).
 * - `lake/<stream>/`: the stream's serving table (Apache Iceberg), written by Athena when runs are
 *   published; `_athena/` holds Athena's query results (expired after a day).
 */
import type { StreamName } from './canonical.ts';

export const PREFIX = {
  inbound: 'inbound/',
  raw: 'raw/',
  manifests: '_manifests/',
  committed: '_committed/',
  lake: 'lake/',
  athenaResults: '_athena/',
  quarantine: 'quarantine/',
  archive: 'archive/',
  /** Integrity data: lookback digests (`<stream>/lookback/`) and the wallet ledger audit's reports (`wallet/`). */
  integrity: '_integrity/',
} as const;

/** Identifiers that become key segments: no slashes, no dots-only segments, no spaces. */
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9_.=-]{0,199}$/;

function segment(value: string, what: string): string {
  if (!SEGMENT.test(value) || value.includes('..')) {
    throw new Error(`invalid ${what} for an S3 key segment: ${JSON.stringify(value)}`);
  }
  return value;
}

/** `raw/<stream>/`: every attempt of every window of a stream. */
export function rawStreamPrefix(stream: StreamName): string {
  return `${PREFIX.raw}${stream}/`;
}

/** UTC date partition value (YYYY-MM-DD) of an instant. */
export function partitionDate(instant: Date): string {
  return instant.toISOString().slice(0, 10);
}

/** `raw/<stream>/<run>/<window>/`: every attempt at one window. */
export function rawWindowPrefix(stream: StreamName, runId: string, windowId: string): string {
  return `${rawStreamPrefix(stream)}${segment(runId, 'run id')}/${segment(windowId, 'window id')}/`;
}

/** `raw/<stream>/<run>/<window>/<attempt>/`: the parts of one attempt at a window. */
export function rawAttemptPrefix(stream: StreamName, runId: string, windowId: string, attempt: string): string {
  return `${rawWindowPrefix(stream, runId, windowId)}${segment(attempt, 'attempt id')}/`;
}

/** `raw/<stream>/<run>/<window>/<attempt>/dt=YYYY-MM-DD/part-<nnnnn>.parquet` */
export function rawPartKey(
  stream: StreamName,
  runId: string,
  windowId: string,
  attempt: string,
  dt: string,
  part: number,
): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(dt)) throw new Error(`invalid partition date ${JSON.stringify(dt)}`);
  if (!Number.isSafeInteger(part) || part < 0) throw new Error(`invalid part number ${part}`);
  return `${rawAttemptPrefix(stream, runId, windowId, attempt)}dt=${dt}/part-${String(part).padStart(5, '0')}.parquet`;
}

/** `_manifests/<stream>/<run>/<window>/`: the manifests of every attempt at one window. */
export function manifestWindowPrefix(stream: StreamName, runId: string, windowId: string): string {
  return `${PREFIX.manifests}${stream}/${segment(runId, 'run id')}/${segment(windowId, 'window id')}/`;
}

/** `_manifests/<stream>/<run>/<window>/<attempt>.json` */
export function manifestKey(stream: StreamName, runId: string, windowId: string, attempt: string): string {
  return `${manifestWindowPrefix(stream, runId, windowId)}${segment(attempt, 'attempt id')}.json`;
}

/** `_committed/<stream>/`: the location of the stream's catalogued table of committed windows. */
export function committedStreamPrefix(stream: StreamName): string {
  return `${PREFIX.committed}${stream}/`;
}

/** Name of the symlink list in a committed window's folder. */
export const COMMITTED_LIST_NAME = 'parts.txt';

/** `_committed/<stream>/<run>/<window>/`: the partition (run_id, window_id) of a committed window. */
export function committedWindowPrefix(stream: StreamName, runId: string, windowId: string): string {
  return `${committedStreamPrefix(stream)}${segment(runId, 'run id')}/${segment(windowId, 'window id')}/`;
}

/** `_committed/<stream>/<run>/<window>/parts.txt`: the commit marker and symlink list of a window. */
export function committedListKey(stream: StreamName, runId: string, windowId: string): string {
  return `${committedWindowPrefix(stream, runId, windowId)}${COMMITTED_LIST_NAME}`;
}

/** `lake/<stream>/`: the location of a stream's serving (Iceberg) table: its data and metadata files. */
export function servingTablePrefix(stream: StreamName): string {
  return `${PREFIX.lake}${stream}/`;
}

/** Run, window and attempt of a key under `raw/<stream>/` or `_manifests/<stream>/`; undefined for any other key. */
export function parseAttemptKey(
  key: string,
): { stream: string; runId: string; windowId: string; attempt: string } | undefined {
  const raw = /^raw\/([a-z_]+)\/([^/]+)\/([^/]+)\/([^/]+)\/dt=\d{4}-\d{2}-\d{2}\/part-\d{5,}\.parquet$/.exec(key);
  const manifest = /^_manifests\/([a-z_]+)\/([^/]+)\/([^/]+)\/([^/]+)\.json$/.exec(key);
  const m = raw ?? manifest;
  if (!m) return undefined;
  return { stream: m[1]!, runId: m[2]!, windowId: m[3]!, attempt: m[4]! };
}

/** Run and window of a committed list key; undefined for any other key. */
export function parseCommittedKey(key: string): { stream: string; runId: string; windowId: string } | undefined {
  const m = /^_committed\/([a-z_]+)\/([^/]+)\/([^/]+)\/parts\.txt$/.exec(key);
  return m ? { stream: m[1]!, runId: m[2]!, windowId: m[3]! } : undefined;
}

/** `_integrity/wallet/`: the wallet ledger audits' reports (breaks with their examples). */
export const WALLET_AUDIT_PREFIX = `${PREFIX.integrity}wallet/`;

/** `_integrity/wallet/<publish>.json`: the report of the wallet ledger audit a publish ran. */
export function walletAuditKey(publish: string): string {
  return `${WALLET_AUDIT_PREFIX}${segment(publish, 'publish execution name')}.json`;
}

/** `inbound/<stream>/` — where an operator drops files for a stream. */
export function inboundStreamPrefix(stream: string): string {
  return `${PREFIX.inbound}${stream}/`;
}

/** Folder of `quarantine/` for files whose key names no configured stream (or no valid stream at all). */
export const UNKNOWN_STREAM_FOLDER = '_unknown';

/** Suffix of the reason document written beside a quarantined file. */
export const QUARANTINE_REASON_SUFFIX = '.reason.json';

/** A relative object path (`a/b.csv`): no leading slash, no empty, `.` or `..` segments. */
function objectPath(name: string, what: string): string {
  const segments = name.split('/');
  if (name.length === 0 || segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw new Error(`invalid ${what} for an S3 key: ${JSON.stringify(name)}`);
  }
  return name;
}

/**
 * `quarantine/<folder>/<name>`: where a rejected dropped file is moved. `folder` is the stream, or
 * {@link UNKNOWN_STREAM_FOLDER}; `name` is the file's path under its inbound folder.
 */
export function quarantineKey(folder: string, name: string): string {
  const dir = folder === UNKNOWN_STREAM_FOLDER ? folder : segment(folder, 'quarantine folder');
  return `${PREFIX.quarantine}${dir}/${objectPath(name, 'file name')}`;
}

/** `quarantine/<folder>/<name>.reason.json`: the reason document beside a quarantined file. */
export function quarantineReasonKey(folder: string, name: string): string {
  return `${quarantineKey(folder, name)}${QUARANTINE_REASON_SUFFIX}`;
}

/** `archive/<stream>/<name>`: where a dropped file is kept once it has landed (`fileDrop.afterIngest: archive`). */
export function archiveKey(stream: StreamName, name: string): string {
  return `${PREFIX.archive}${stream}/${objectPath(name, 'file name')}`;
}

/**
 * `_integrity/<stream>/lookback/` (every digest of a stream) or, with a watermark,
 * `_integrity/<stream>/lookback/<watermark epoch ms>/` (the parts recorded by the reads ending there).
 */
export function lookbackDigestPrefix(stream: StreamName, watermark?: Date): string {
  const base = `${PREFIX.integrity}${stream}/lookback/`;
  if (!watermark) return base;
  const ms = watermark.getTime();
  if (!Number.isSafeInteger(ms) || ms < 0) throw new Error(`invalid watermark for a digest key: ${String(watermark)}`);
  return `${base}${String(ms).padStart(15, '0')}/`;
}

/** `_integrity/<stream>/lookback/<watermark epoch ms>/<part>.bin` */
export function lookbackDigestKey(stream: StreamName, watermark: Date, part: string): string {
  return `${lookbackDigestPrefix(stream, watermark)}${segment(part, 'digest part')}.bin`;
}
