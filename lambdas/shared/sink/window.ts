/**
 * Committing a window: removing what earlier attempts left behind, then writing the manifest.
 *
 * The manifest (`_manifests/<stream>/<run>/<window>.json`) is the commit marker: it is written
 * only after every part of the window is stored, and readers and reconciliation trust a window's
 * parts only through its manifest. A window that fails before its manifest has not happened.
 *
 * Retries converge to exactly one copy because part keys are deterministic per (run, window,
 * date, part number): a retry with the same input overwrites the same keys. What it cannot
 * overwrite are parts an earlier attempt wrote beyond this attempt's (a higher part number, or a
 * date this attempt did not reach). Before writing the manifest, `commitWindow` lists, for every
 * partition date the window can touch (the UTC dates from `from` to `to`, plus the dates of this
 * attempt's parts and of any earlier manifest), the objects named `<run>-<window>-<part>.parquet`,
 * adds the parts an earlier manifest of the window lists, and deletes every one this attempt did
 * not write. Rows outside [`from`, `to`] are refused, so no part can hide outside the listed dates.
 */
import type { StreamName } from '../canonical.ts';
import { type LandedColumn, schemaFingerprint } from '../landed-schema.ts';
import { manifestKey, partitionDate, rawPartKey } from '../layout.ts';
import type { WriteContext } from '../parquet/errors.ts';
import type { PartResult, WindowProgress } from '../parquet/part-writer.ts';
import { WindowCommitError } from './errors.ts';
import type { ObjectSink } from './sink.ts';

const DAY_MS = 86_400_000;
/** Partition-date prefixes listed concurrently during cleanup. */
const LIST_CONCURRENCY = 8;

/** The commit record of one window. */
export interface WindowManifest {
  /** Format version of this document. */
  readonly version: 1;
  readonly operatorId: string;
  readonly stream: StreamName;
  readonly runId: string;
  readonly windowId: string;
  /** Lower bound of the window's cursor range (ISO-8601 UTC). */
  readonly from: string;
  /** Upper bound of the window's cursor range (ISO-8601 UTC). */
  readonly to: string;
  readonly rowCount: number;
  /** Total Parquet bytes. */
  readonly bytes: number;
  readonly parts: readonly {
    readonly key: string;
    readonly rows: number;
    readonly bytes: number;
    readonly dt: string;
  }[];
  readonly minCursor: string | null;
  readonly maxCursor: string | null;
  /** `schemaFingerprint(landedColumns)` of the parts' schema. */
  readonly schemaFingerprint: string;
  /** Exact sum per money column, decimal text at the column's scale. */
  readonly moneySums: Readonly<Record<string, string>>;
  readonly nullCounts: Readonly<Record<string, number>>;
  readonly createdAt: string;
}

export interface CommitWindowInput {
  readonly operatorId: string;
  readonly stream: StreamName;
  readonly runId: string;
  readonly windowId: string;
  /** The window's cursor range; every row's `_cursor` must lie within [from, to]. */
  readonly from: Date;
  readonly to: Date;
  /** The landed columns the parts were written with. */
  readonly columns: readonly LandedColumn[];
  /** What `PartitionedPartWriter.close()` returned (for the last continuation of the window). */
  readonly progress: WindowProgress;
  /** @default new Date() */
  readonly now?: Date;
}

export interface CommitWindowResult {
  readonly manifestKey: string;
  readonly manifest: WindowManifest;
  /** Objects of earlier attempts that were removed. */
  readonly deletedKeys: readonly string[];
}

/** Removes stray parts of earlier attempts of the window, then writes its manifest (see module doc). */
export async function commitWindow(sink: ObjectSink, input: CommitWindowInput): Promise<CommitWindowResult> {
  const { stream, runId, windowId, progress } = input;
  const context: WriteContext = { operatorId: input.operatorId, stream, windowId: `${runId}/${windowId}` };
  const from = input.from.getTime();
  const to = input.to.getTime();
  if (!(from <= to)) throw new WindowCommitError(context, `window from ${input.from.toISOString()} is after its to`);
  if (progress.minCursor !== null && progress.maxCursor !== null) {
    if (Date.parse(progress.minCursor) < from || Date.parse(progress.maxCursor) > to) {
      throw new WindowCommitError(
        context,
        `rows with _cursor from ${progress.minCursor} to ${progress.maxCursor} lie outside the window ` +
          `[${input.from.toISOString()}, ${input.to.toISOString()}]; the extract query and the window bounds disagree`,
      );
    }
  }

  const key = manifestKey(stream, runId, windowId);
  const previous = await readManifest(sink, stream, runId, windowId);
  const written = new Set(progress.parts.map((p) => p.key));

  const dates = new Set<string>();
  for (let day = Math.floor(from / DAY_MS); day <= Math.floor(to / DAY_MS); day++) {
    dates.add(partitionDate(new Date(day * DAY_MS)));
  }
  for (const p of progress.parts) dates.add(p.dt);
  for (const p of previous?.parts ?? []) dates.add(p.dt);

  const candidates = new Set<string>(previous?.parts.map((p) => p.key) ?? []);
  const listed = await mapLimit([...dates], LIST_CONCURRENCY, async (dt) => {
    const prefix = windowPartPrefix(stream, dt, runId, windowId);
    const keys = await sink.listKeys(prefix);
    return keys.filter((k) => /^\d+\.parquet$/.test(k.slice(prefix.length)));
  });
  for (const keys of listed) for (const k of keys) candidates.add(k);

  const stray = [...candidates].filter((k) => !written.has(k)).sort();
  if (stray.length > 0) await sink.deleteKeys(stray);

  const manifest: WindowManifest = {
    version: 1,
    operatorId: input.operatorId,
    stream,
    runId,
    windowId,
    from: input.from.toISOString(),
    to: input.to.toISOString(),
    rowCount: progress.rowCount,
    bytes: progress.bytes,
    parts: progress.parts.map(({ key: partKey, rows, bytes, dt }: PartResult) => ({ key: partKey, rows, bytes, dt })),
    minCursor: progress.minCursor,
    maxCursor: progress.maxCursor,
    schemaFingerprint: schemaFingerprint(input.columns),
    moneySums: progress.moneySums,
    nullCounts: progress.nullCounts,
    createdAt: (input.now ?? new Date()).toISOString(),
  };
  await sink.putObject(key, `${JSON.stringify(manifest, null, 2)}\n`, 'application/json');
  return { manifestKey: key, manifest, deletedKeys: stray };
}

/** The committed manifest of a window, or undefined when the window has not been committed. */
export async function readManifest(
  sink: ObjectSink,
  stream: StreamName,
  runId: string,
  windowId: string,
): Promise<WindowManifest | undefined> {
  const bytes = await sink.getObject(manifestKey(stream, runId, windowId));
  if (!bytes) return undefined;
  return JSON.parse(new TextDecoder().decode(bytes)) as WindowManifest;
}

/** `raw/<stream>/dt=<dt>/<run>-<window>-`: the key prefix of a window's parts on one date. */
export function windowPartPrefix(stream: StreamName, dt: string, runId: string, windowId: string): string {
  const first = rawPartKey(stream, dt, runId, windowId, 0);
  return first.slice(0, first.lastIndexOf('-') + 1);
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
