/**
 * Reading what an operator's pipelines committed in a local landing bucket, and exporting it as
 * plain Parquet files on disk.
 *
 * Only committed data counts: a part is landed when its window's commit lists it, never because
 * an object exists under `raw/` (an attempt that failed before its commit may have left parts).
 * {@link listCommittedParts} is the one place of `connector run --local` and the demo that asks
 * what is committed; it asks the stream's catalogued landed table, as Athena does.
 *
 * The export layout, `<dir>/<stream>/dt=<YYYY-MM-DD>/<file>.parquet`, is a Hive-partitioned
 * dataset per stream: DuckDB (`read_parquet('<dir>/payments/**\/*.parquet', hive_partitioning = true)`),
 * pandas/pyarrow (`pd.read_parquet('<dir>/payments')`) and Spark (`spark.read.parquet('<dir>/payments')`)
 * read it as one table with a `dt` column.
 */
import { mkdir, readdir, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { StreamName } from '#shared/canonical';
import type { WindowManifest } from '#shared/landing/window';
import { manifestKey, parseAttemptKey } from '#shared/layout';
import { landedTableFiles } from './lake.ts';

/** One committed Parquet part. */
export interface CommittedPart {
  readonly stream: StreamName;
  readonly bucket: string;
  /** Object key in the landing bucket. */
  readonly key: string;
  /** UTC date partition of its rows (`dt`). */
  readonly dt: string;
  readonly rows: number;
  readonly bytes: number;
  /** Run that committed it (snapshot run or incremental run). */
  readonly runId: string;
  readonly windowId: string;
}

/** The synthesized stack whose catalogued tables say what is committed. */
export type CatalogSource = Parameters<typeof landedTableFiles>[1];

async function getText(client: S3Client, bucket: string, key: string): Promise<string> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return (await out.Body?.transformToString('utf8')) ?? '';
}

/**
 * Every committed part of `streams`, in key order: exactly the files a query of each stream's
 * landed table scans (local/lake.ts reads the table's definition and its commit lists), with rows
 * and bytes from the committed attempt's manifest.
 */
export async function listCommittedParts(
  client: S3Client,
  catalog: CatalogSource,
  streams: readonly StreamName[],
): Promise<CommittedPart[]> {
  const parts: CommittedPart[] = [];
  for (const stream of streams) {
    const manifests = new Map<string, Promise<WindowManifest>>();
    for (const file of await landedTableFiles(client, catalog, stream)) {
      const attempt = parseAttemptKey(file.key);
      if (!attempt) throw new Error(`committed part ${file.key} is not a part key of the landing layout`);
      const key = manifestKey(stream, attempt.runId, attempt.windowId, attempt.attempt);
      let manifest = manifests.get(key);
      if (!manifest) {
        manifest = getText(client, file.bucket, key).then((text) => JSON.parse(text) as WindowManifest);
        manifests.set(key, manifest);
      }
      const part = (await manifest).parts.find((p) => p.key === file.key);
      if (!part) throw new Error(`committed part ${file.key} is not in its manifest ${key}`);
      parts.push({
        stream,
        bucket: file.bucket,
        key: file.key,
        dt: part.dt,
        rows: part.rows,
        bytes: part.bytes,
        runId: attempt.runId,
        windowId: attempt.windowId,
      });
    }
  }
  return parts.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * The file of a committed part under the export directory:
 * `<dir>/<stream>/dt=<dt>/<run>-<window>-<part>.parquet` (one committed attempt per window, so the
 * name is unique).
 */
export function exportPath(
  dir: string,
  part: Pick<CommittedPart, 'stream' | 'key' | 'dt' | 'runId' | 'windowId'>,
): string {
  const name = part.key.split('/').at(-1) ?? '';
  return join(dir, part.stream, `dt=${part.dt}`, `${part.runId}-${part.windowId}-${name}`);
}

async function filesUnder(dir: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(dir, { recursive: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const files: string[] = [];
  for (const entry of entries) {
    const path = join(dir, entry);
    if ((await stat(path)).isFile()) files.push(path);
  }
  return files;
}

/** What {@link exportCommittedParts} did. */
export interface ExportResult {
  readonly parts: readonly CommittedPart[];
  /** Files downloaded (new or changed). */
  readonly written: number;
  /** Files removed because no commit lists them any more. */
  readonly removed: number;
}

/** Parts downloaded at once. */
const EXPORT_CONCURRENCY = 8;

/**
 * Makes `<dir>/<stream>/` hold exactly the committed parts of each stream: downloads the parts
 * not there yet (or of another size), and removes Parquet files no commit lists. Other streams'
 * folders and other files in `dir` are not touched.
 */
export async function exportCommittedParts(
  client: S3Client,
  catalog: CatalogSource,
  streams: readonly StreamName[],
  dir: string,
): Promise<ExportResult> {
  const parts = await listCommittedParts(client, catalog, streams);
  const wanted = new Map(parts.map((p) => [exportPath(dir, p), p]));
  let removed = 0;
  for (const stream of streams) {
    const root = join(dir, stream);
    for (const file of await filesUnder(root)) {
      if (file.endsWith('.parquet') && !wanted.has(file)) {
        await rm(file);
        removed++;
        // Drop the partition folder when it became empty.
        await rmdir(dirname(file)).catch(() => undefined);
      }
    }
  }
  const todo: [string, CommittedPart][] = [];
  for (const [path, part] of wanted) {
    const size = await stat(path).then(
      (s) => s.size,
      () => -1,
    );
    if (size !== part.bytes) todo.push([path, part]);
  }
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const [path, part] = todo[next++]!;
      const out = await client.send(new GetObjectCommand({ Bucket: part.bucket, Key: part.key }));
      await mkdir(dirname(path), { recursive: true });
      const temp = `${path}.partial`;
      await writeFile(temp, await out.Body!.transformToByteArray());
      // Renamed into place, so a reader never sees half a file.
      await rename(temp, path);
    }
  };
  await Promise.all(Array.from({ length: Math.min(EXPORT_CONCURRENCY, todo.length) }, worker));
  return { parts, written: todo.length, removed };
}

/** A path relative to `from`, with forward slashes (for messages and JSON). */
export function displayPath(from: string, path: string): string {
  return relative(from, path).split(sep).join('/');
}
