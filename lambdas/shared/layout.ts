/**
 * The S3 key layout of an operator's landing bucket. Every writer and reader builds keys here;
 * keys are deterministic so a retried window overwrites its own objects.
 */
import type { StreamName } from './canonical.ts';

export const PREFIX = {
  inbound: 'inbound/',
  raw: 'raw/',
  manifests: '_manifests/',
  quarantine: 'quarantine/',
  archive: 'archive/',
} as const;

/** Identifiers that become key segments: no slashes, no dots-only segments, no spaces. */
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9_.=-]{0,199}$/;

function segment(value: string, what: string): string {
  if (!SEGMENT.test(value) || value.includes('..')) {
    throw new Error(`invalid ${what} for an S3 key segment: ${JSON.stringify(value)}`);
  }
  return value;
}

/** `raw/<stream>/` — the Glue table location of a stream. */
export function rawStreamPrefix(stream: StreamName): string {
  return `${PREFIX.raw}${stream}/`;
}

/** UTC date partition value (YYYY-MM-DD) of an instant. */
export function partitionDate(instant: Date): string {
  return instant.toISOString().slice(0, 10);
}

/** `raw/<stream>/dt=YYYY-MM-DD/<run>-<window>-<part>.parquet` */
export function rawPartKey(stream: StreamName, dt: string, runId: string, windowId: string, part: number): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(dt)) throw new Error(`invalid partition date ${JSON.stringify(dt)}`);
  const partNo = String(part).padStart(5, '0');
  return `${rawStreamPrefix(stream)}dt=${dt}/${segment(runId, 'run id')}-${segment(windowId, 'window id')}-${partNo}.parquet`;
}

/** `_manifests/<stream>/<run>/<window>.json` */
export function manifestKey(stream: StreamName, runId: string, windowId: string): string {
  return `${PREFIX.manifests}${stream}/${segment(runId, 'run id')}/${segment(windowId, 'window id')}.json`;
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
