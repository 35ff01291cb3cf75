/**
 * Reading what an operator's pipelines committed in a local landing bucket, and exporting it as
 * plain Parquet files on disk.
 *
 * Only committed data counts: a part is landed when a commit record lists it, never because an
 * object exists under `raw/` (a window that failed before its commit may have left parts).
 * {@link listCommittedParts} is the one place that knows how commits are recorded; everything
 * local that reads landed data (`connector run --local`, the demo, the end-to-end tests) goes
 * through it.
 *
 * The export layout, `<dir>/<stream>/dt=<YYYY-MM-DD>/<file>.parquet`, is a Hive-partitioned
 * dataset per stream: DuckDB (`read_parquet('<dir>/payments/**\/*.parquet', hive_partitioning = true)`),
 * pandas/pyarrow (`pd.read_parquet('<dir>/payments')`) and Spark (`spark.read.parquet('<dir>/payments')`)
 * read it as one table with a `dt` column.
 */
import { mkdir, readdir, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { StreamName } from '#shared/canonical';
import { PREFIX, rawStreamPrefix } from '#shared/layout';
import type { WindowManifest } from '#shared/sink/window';

/** One committed Parquet part. */
export interface CommittedPart {
  readonly stream: StreamName;
  /** Object key in the landing bucket. */
  readonly key: string;
  /** UTC date partition (`dt`). */
  readonly dt: string;
  readonly rows: number;
  readonly bytes: number;
  /** Run that committed it (snapshot run or incremental run). */
  readonly runId: string;
  readonly windowId: string;
}

async function listKeys(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const out = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of out.Contents ?? []) if (o.Key) keys.push(o.Key);
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

async function getText(client: S3Client, bucket: string, key: string): Promise<string> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return (await out.Body?.transformToString('utf8')) ?? '';
}

/**
 * Every committed part of `streams` in the bucket, in key order: the parts the window manifests
 * (`_manifests/<stream>/<run>/<window>.json`) list.
 */
export async function listCommittedParts(
  client: S3Client,
  bucket: string,
  streams: readonly StreamName[],
): Promise<CommittedPart[]> {
  const parts: CommittedPart[] = [];
  for (const stream of streams) {
    const manifests = (await listKeys(client, bucket, `${PREFIX.manifests}${stream}/`)).filter((k) =>
      k.endsWith('.json'),
    );
    for (const key of manifests) {
      const manifest = JSON.parse(await getText(client, bucket, key)) as WindowManifest;
      for (const p of manifest.parts) {
        parts.push({
          stream,
          key: p.key,
          dt: p.dt,
          rows: p.rows,
          bytes: p.bytes,
          runId: manifest.runId,
          windowId: manifest.windowId,
        });
      }
    }
  }
  return parts.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** The file of a committed part under the export directory: `<dir>/<stream>/dt=…/<name>.parquet`. */
export function exportPath(dir: string, part: Pick<CommittedPart, 'stream' | 'key'>): string {
  const prefix = rawStreamPrefix(part.stream);
  if (!part.key.startsWith(prefix)) throw new Error(`part ${part.key} is not under ${prefix}`);
  return join(dir, part.stream, ...part.key.slice(prefix.length).split('/'));
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
  bucket: string,
  streams: readonly StreamName[],
  dir: string,
): Promise<ExportResult> {
  const parts = await listCommittedParts(client, bucket, streams);
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
      const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: part.key }));
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
