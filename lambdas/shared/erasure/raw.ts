/**
 * Erasure in the raw zone: find the committed parts that hold a player's rows and rewrite each
 * without them, in place.
 *
 * - **Finding.** The committed windows of a stream are the symlink lists under
 *   `_committed/<stream>/`. Athena reads them through the stream's landed table; a query of that
 *   table with the player's pseudonym returns, per committed part, how many of the player's rows it
 *   holds (`"$path"`), scanning only the `player_id` column. The landed table's partitions are
 *   injected, so the query names the windows it reads, as a publish does.
 * - **Rewriting a part.** The part is downloaded, read with its own schema, written again without
 *   the player's rows with the part writer's conventions (same columns, types, encodings,
 *   compression), read back and compared row by row (a digest) with what was meant to be kept, and
 *   only then put back under the same key. A part left without rows becomes a valid Parquet file
 *   with the schema and no rows, so the committed list never changes and never names a missing
 *   object. The earlier versions of the key (the bucket is versioned) are then deleted.
 * - **The manifest** of the committed attempt keeps describing its parts: its row counts, bytes,
 *   money sums and NULL counts are reduced by what was removed, and it records the erasure id, once.
 * - **Order and resumption.** Per window: the audit journal records the window and its parts
 *   (`rewriting`), then the manifest is adjusted (skipped when it already carries the erasure id),
 *   then the parts are put back, then earlier versions are deleted and the window is marked `done`.
 *   Every step is idempotent, so a request that stopped anywhere is finished by running it again.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { QueryEngine } from '../adapters/athena.ts';
import type { StreamName } from '../canonical.ts';
import type { MergeSource } from '../contracts/steps.ts';
import { schemaFingerprint } from '../landed-schema.ts';
import { defaultPlainColumns, PARQUET_CONTENT_TYPE } from '../landing/part-writer.ts';
import { readCommittedWindow, type WindowManifest } from '../landing/window.ts';
import { committedStreamPrefix, parseCommittedKey } from '../layout.ts';
import { formatUnscaled, parseUnscaled } from '../parquet/decimal-text.ts';
import { arrowSchema, createParquetEncoder } from '../parquet/encoder.ts';
import { emptyParquetFile, ParquetFileStream } from '../parquet/file-stream.ts';
import { openLandedPart } from '../parquet/part-reader.ts';
import { MAX_QUERY_BYTES, playerPartsStatement } from '../serving/sql.ts';
import type { ObjectSink } from '../sink/sink.ts';
import type { ErasureAudit } from '../state/erasures.ts';
import { SyncStateError } from '../state/table.ts';
import type { LandedBatch, LandedValue } from '../types.ts';
import { ErasureObjectError, type ErasureObjects } from './objects.ts';

/** The column every erasable stream carries. */
export const PLAYER_COLUMN = 'player_id';

/** Most run or window ids one locating statement names. */
const MAX_IDS_PER_STATEMENT = 200;

/** A raw-zone erasure cannot go on; the message names the operator, stream, window or object. */
export class RawErasureError extends Error {
  override readonly name = 'RawErasureError';
}

/** A committed window of a stream. */
export interface CommittedWindowId {
  readonly runId: string;
  readonly windowId: string;
}

/** The committed windows of a stream (from the keys of their symlink lists). */
export async function committedWindows(sink: ObjectSink, stream: StreamName): Promise<CommittedWindowId[]> {
  const out: CommittedWindowId[] = [];
  for (const key of await sink.listKeys(committedStreamPrefix(stream))) {
    const parsed = parseCommittedKey(key);
    if (parsed && parsed.stream === stream) out.push({ runId: parsed.runId, windowId: parsed.windowId });
  }
  return out;
}

/**
 * The windows as the sources of as few statements as possible, each reading exactly its windows:
 * a run with several windows alone (its windows listed), the runs with one window grouped by that
 * window (their runs listed). Never a cross product of several runs and several windows.
 */
export function windowSources(windows: readonly CommittedWindowId[], maxIds = MAX_IDS_PER_STATEMENT): MergeSource[] {
  const byRun = new Map<string, string[]>();
  for (const w of windows) {
    const list = byRun.get(w.runId) ?? [];
    if (!list.includes(w.windowId)) list.push(w.windowId);
    byRun.set(w.runId, list);
  }
  const sources: MergeSource[] = [];
  const singles = new Map<string, string[]>();
  for (const [runId, windowIds] of [...byRun.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (windowIds.length === 1) {
      const runs = singles.get(windowIds[0]!) ?? [];
      runs.push(runId);
      singles.set(windowIds[0]!, runs);
      continue;
    }
    const sorted = [...windowIds].sort();
    for (let i = 0; i < sorted.length; i += maxIds)
      sources.push({ runIds: [runId], windowIds: sorted.slice(i, i + maxIds) });
  }
  for (const [windowId, runIds] of [...singles.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    for (let i = 0; i < runIds.length; i += maxIds)
      sources.push({ runIds: runIds.slice(i, i + maxIds), windowIds: [windowId] });
  }
  return sources;
}

/** A committed part that holds some of the player's rows. */
export interface LocatedPart {
  readonly runId: string;
  readonly windowId: string;
  /** The part's key in the landing bucket. */
  readonly key: string;
  /** The player's rows in the part, as Athena counted them. */
  readonly rows: number;
}

/** Every statement the locating step sent (tests parse them with a Trino grammar). */
export interface LocateInput {
  readonly engine: QueryEngine;
  readonly database: string;
  readonly stream: StreamName;
  readonly pseudonym: string;
  readonly windows: readonly CommittedWindowId[];
  /** The landing bucket: every part a committed list names is in it. */
  readonly bucket: string;
  /** Called with every statement before it is sent. */
  readonly onStatement?: (sql: string) => void;
}

function partKeyOf(uri: string, bucket: string, stream: StreamName): string {
  const prefix = `s3://${bucket}/`;
  if (!uri.startsWith(prefix)) {
    throw new RawErasureError(
      `${stream}: Athena reports a part of the player outside the landing bucket (${uri}); the landed table's location does not match the bucket ${bucket}`,
    );
  }
  return uri.slice(prefix.length);
}

/** The committed parts of a stream that hold the player's rows (see the module documentation). */
export async function locatePlayerParts(input: LocateInput): Promise<LocatedPart[]> {
  const found = new Map<string, LocatedPart>();
  for (const source of windowSources(input.windows)) {
    const sql = playerPartsStatement(input.database, input.stream, input.pseudonym, source);
    if (Buffer.byteLength(sql) > MAX_QUERY_BYTES) {
      throw new RawErasureError(`${input.stream}: a locating statement exceeds Athena's ${MAX_QUERY_BYTES} bytes`);
    }
    input.onStatement?.(sql);
    const { rows } = await input.engine.execute(sql);
    for (const row of rows) {
      const key = partKeyOf(String(row.path), input.bucket, input.stream);
      const count = Number(row.rows);
      const prior = found.get(key);
      found.set(key, {
        runId: String(row.run_id),
        windowId: String(row.window_id),
        key,
        rows: (prior?.rows ?? 0) + count,
      });
    }
  }
  return [...found.values()].sort((a, b) => (a.key < b.key ? -1 : 1));
}

/** What the player's rows amounted to in one part. */
export interface PartRemoval {
  readonly key: string;
  readonly rowsBefore: number;
  readonly rowsRemoved: number;
  /** Parquet bytes of the rewritten part. */
  readonly bytesAfter: number;
  /** Sum of the removed rows per money column (unscaled at the column's scale). */
  readonly moneyRemoved: Readonly<Record<string, bigint>>;
  /** NULLs of the removed rows per column. */
  readonly nullsRemoved: Readonly<Record<string, number>>;
  /** Scale of each decimal column of the part. */
  readonly scales: Readonly<Record<string, number>>;
  /** The rewritten part, when rows were removed. */
  readonly output?: string;
}

/** A row's values in a stable text form, for the digest that checks a rewritten part. */
function rowText(batch: LandedBatch, row: number): string {
  let text = '';
  for (const column of batch.columns) {
    const v: LandedValue = column[row] ?? null;
    text += `${v === null ? '\u0000' : typeof v === 'bigint' ? `${v}n` : typeof v === 'string' ? JSON.stringify(v) : String(v)}\u0001`;
  }
  return text;
}

/** Rows `keep` of a batch, as a new batch. */
function subset(batch: LandedBatch, keep: readonly number[]): LandedBatch {
  return { rowCount: keep.length, columns: batch.columns.map((c) => keep.map((i) => c[i] ?? null)) };
}

async function digestOf(path: string, label: string): Promise<{ digest: string; rows: number }> {
  const part = await openLandedPart(path, label);
  const hash = createHash('sha256');
  let rows = 0;
  try {
    for await (const batch of part.batches()) {
      for (let i = 0; i < batch.rowCount; i++) hash.update(rowText(batch, i));
      rows += batch.rowCount;
    }
  } finally {
    part.close();
  }
  return { digest: hash.digest('hex'), rows };
}

async function writeChunk(out: WriteStream, chunk: Uint8Array): Promise<void> {
  if (!out.write(Buffer.from(chunk))) await once(out, 'drain');
}

/**
 * Reads one committed part and, when it holds the player's rows, writes it again without them to a
 * local file, checked by reading it back. `fingerprint` is the manifest's schema fingerprint.
 */
export async function filterPart(input: {
  readonly objects: ErasureObjects;
  readonly stream: StreamName;
  readonly key: string;
  readonly pseudonym: string;
  readonly fingerprint: string;
  readonly dir: string;
}): Promise<PartRemoval> {
  const { objects, stream, key, pseudonym, dir } = input;
  const source = join(dir, 'part.parquet');
  const output = join(dir, 'rewritten.parquet');
  const label = objects.location(key);
  const downloaded = await objects.download(key, source);
  if (!downloaded) {
    throw new RawErasureError(
      `${label} is named by its window's committed list but does not exist; the window is damaged: replay it (connector replay) before erasing`,
    );
  }
  const part = await openLandedPart(source, label);
  const empty: PartRemoval = {
    key,
    rowsBefore: part.rowCount,
    rowsRemoved: 0,
    bytesAfter: downloaded.bytes,
    moneyRemoved: {},
    nullsRemoved: {},
    scales: {},
  };
  const columns = part.columns;
  if (schemaFingerprint(columns) !== input.fingerprint) {
    part.close();
    throw new RawErasureError(
      `${label}: the part's schema does not match its manifest (fingerprint ${schemaFingerprint(columns)}, manifest ${input.fingerprint}); it is not rewritten`,
    );
  }
  const player = columns.findIndex((c) => c.name === PLAYER_COLUMN);
  if (player < 0) {
    part.close();
    return empty;
  }
  const scales: Record<string, number> = {};
  for (const c of columns) if (c.type.kind === 'decimal') scales[c.name] = c.type.scale;
  const moneyRemoved: Record<string, bigint> = {};
  const nullsRemoved: Record<string, number> = Object.fromEntries(columns.map((c) => [c.name, 0]));
  const encoder = createParquetEncoder(columns);
  const fileOptions = { plainColumns: defaultPlainColumns(stream, columns) };
  const out = createWriteStream(output);
  const file = new ParquetFileStream((chunk) => writeChunk(out, chunk), fileOptions);
  const kept = createHash('sha256');
  let removed = 0;
  let keptRows = 0;
  try {
    const flush = async () => {
      if (encoder.bufferedRows === 0) return;
      await file.write(encoder.recordBatch());
      encoder.reset();
    };
    for await (const batch of part.batches()) {
      const ids = batch.columns[player]!;
      const keep: number[] = [];
      for (let i = 0; i < batch.rowCount; i++) {
        if (ids[i] !== pseudonym) {
          keep.push(i);
          continue;
        }
        removed++;
        columns.forEach((c, k) => {
          const v = batch.columns[k]![i] ?? null;
          if (v === null) nullsRemoved[c.name]! += 1;
          else if (c.type.kind === 'decimal' && typeof v === 'bigint')
            moneyRemoved[c.name] = (moneyRemoved[c.name] ?? 0n) + v;
        });
      }
      if (keep.length === 0) continue;
      const rows = keep.length === batch.rowCount ? batch : subset(batch, keep);
      for (let i = 0; i < rows.rowCount; i++) kept.update(rowText(rows, i));
      keptRows += rows.rowCount;
      for (let start = 0; start < rows.rowCount; ) {
        start = encoder.append(rows, start);
        if (encoder.full) await flush();
      }
    }
    if (removed === 0) {
      file.abort(new Error('nothing to rewrite'));
      return empty;
    }
    if (keptRows > 0) {
      await flush();
      await file.close();
    } else {
      file.abort(new Error('no rows kept'));
    }
  } finally {
    part.close();
    out.end();
    await once(out, 'close');
  }
  if (keptRows === 0) await writeFile(output, emptyParquetFile(arrowSchema(columns), fileOptions));
  const check = await digestOf(output, `${label} (rewritten)`);
  if (check.rows !== keptRows || check.digest !== kept.digest('hex')) {
    throw new RawErasureError(
      `${label}: the rewritten part does not read back as the rows it should keep (${check.rows} of ${keptRows} rows); nothing was changed`,
    );
  }
  return {
    key,
    rowsBefore: part.rowCount,
    rowsRemoved: removed,
    bytesAfter: (await stat(output)).size,
    moneyRemoved,
    nullsRemoved,
    scales,
    output,
  };
}

/**
 * The manifest after removing rows from some of its parts: counts, bytes, money sums and NULL
 * counts reduced, and the erasure recorded.
 */
export function adjustManifest(
  manifest: WindowManifest,
  removals: readonly PartRemoval[],
  erasure: { readonly erasureId: string; readonly at: Date },
): WindowManifest {
  const byKey = new Map(removals.filter((r) => r.rowsRemoved > 0).map((r) => [r.key, r]));
  const rows = [...byKey.values()].reduce((n, r) => n + r.rowsRemoved, 0);
  const parts = manifest.parts.map((p) => {
    const r = byKey.get(p.key);
    return r ? { ...p, rows: p.rows - r.rowsRemoved, bytes: r.bytesAfter } : p;
  });
  const moneySums: Record<string, string> = { ...manifest.moneySums };
  for (const [column, text] of Object.entries(manifest.moneySums)) {
    const scale = [...byKey.values()].map((r) => r.scales[column]).find((s) => s !== undefined);
    if (scale === undefined) continue;
    const removed = [...byKey.values()].reduce((sum, r) => sum + (r.moneyRemoved[column] ?? 0n), 0n);
    moneySums[column] = formatUnscaled(parseUnscaled(text, scale) - removed, scale);
  }
  const nullCounts: Record<string, number> = { ...manifest.nullCounts };
  for (const r of byKey.values()) {
    for (const [column, n] of Object.entries(r.nullsRemoved)) {
      if (n > 0 && nullCounts[column] !== undefined) nullCounts[column] = Math.max(0, nullCounts[column]! - n);
    }
  }
  const rowCount = manifest.rowCount - rows;
  return {
    ...manifest,
    rowCount,
    bytes: parts.reduce((n, p) => n + p.bytes, 0),
    parts,
    moneySums,
    nullCounts,
    ...(rowCount === 0 ? { minCursor: null, maxCursor: null, timeRanges: {} } : {}),
    erasures: [...(manifest.erasures ?? []), { erasureId: erasure.erasureId, at: erasure.at.toISOString(), rows }],
  };
}

/** What erasing one window did. */
export interface WindowErasure {
  readonly stream: StreamName;
  readonly runId: string;
  readonly windowId: string;
  /** Parts rewritten by this request (over every run of it) and the player's rows each held. */
  readonly parts: readonly { readonly key: string; readonly rows: number }[];
  /** Earlier object versions deleted. */
  readonly versionsDeleted: number;
}

export interface EraseWindowInput {
  readonly sink: ObjectSink;
  readonly objects: ErasureObjects;
  readonly audit: ErasureAudit;
  readonly operatorId: string;
  readonly stream: StreamName;
  readonly runId: string;
  readonly windowId: string;
  readonly pseudonym: string;
  readonly erasureId: string;
  /** Parts that hold the player's rows (located now, and journaled by an earlier run of the request). */
  readonly partKeys: readonly string[];
  /** Parts an earlier run of this request journaled for the window, with their rows. */
  readonly journaled?: readonly { readonly key: string; readonly rows: number }[];
  /** Where parts are downloaded and rewritten. */
  readonly tmpDir: string;
  readonly now?: () => Date;
  /** Called with the keys of objects that changed (a local engine's cache forgets them). */
  readonly onChanged?: (keys: readonly string[]) => Promise<void> | void;
}

/** Removes the player's rows from the parts of one committed window (see the module documentation). */
export async function eraseWindow(input: EraseWindowInput): Promise<WindowErasure | undefined> {
  const { sink, objects, audit, stream, runId, windowId, pseudonym, erasureId } = input;
  const where = `${input.operatorId} ${stream} ${runId}/${windowId}`;
  const committed = await readCommittedWindow(sink, stream, runId, windowId);
  if (!committed) return undefined;
  const listed = new Set(committed.partKeys);
  // A located path that is the window's list itself (should an engine report the symlink file
  // rather than the part it names) stands for every part of the window.
  const located = input.partKeys.flatMap((k) => (parseCommittedKey(k) ? committed.partKeys : [k]));
  const keys = [...new Set(located)].filter((k) => listed.has(k)).sort();
  const dir = await mkdtemp(join(input.tmpDir, 'erase-'));
  try {
    const removals: PartRemoval[] = [];
    for (const [i, key] of keys.entries()) {
      const partDir = join(dir, String(i));
      await mkdir(partDir);
      removals.push(
        await filterPart({
          objects,
          stream,
          key,
          pseudonym,
          fingerprint: committed.manifest.schemaFingerprint,
          dir: partDir,
        }),
      );
    }
    const rewritten = removals.filter((r) => r.rowsRemoved > 0);
    const journal = new Map((input.journaled ?? []).map((p) => [p.key, p.rows]));
    for (const r of rewritten) if (!journal.has(r.key)) journal.set(r.key, r.rowsRemoved);
    if (journal.size === 0) return undefined;
    const parts = [...journal.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, rows]) => ({ key, rows }));
    await audit.putWindow({
      pseudonym,
      erasureId,
      stream,
      runId,
      windowId,
      manifestKey: committed.manifestKey,
      parts,
      status: 'rewriting',
    });
    const changed: string[] = [];
    if (!(committed.manifest.erasures ?? []).some((e) => e.erasureId === erasureId) && rewritten.length > 0) {
      const manifest = adjustManifest(committed.manifest, rewritten, {
        erasureId,
        at: (input.now ?? (() => new Date()))(),
      });
      await objects.upload(
        committed.manifestKey,
        { bytes: Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`) },
        'application/json',
      );
      changed.push(committed.manifestKey);
    }
    for (const r of rewritten) {
      await objects.upload(r.key, { path: r.output! }, PARQUET_CONTENT_TYPE);
      changed.push(r.key);
    }
    let versionsDeleted = 0;
    for (const key of [committed.manifestKey, ...parts.map((p) => p.key)]) {
      versionsDeleted += await objects.deleteEarlierVersions(key);
    }
    if (changed.length > 0) await input.onChanged?.(changed);
    await audit.completeWindow({ pseudonym, erasureId, stream, runId, windowId });
    return { stream, runId, windowId, parts, versionsDeleted };
  } catch (error) {
    // S3 and DynamoDB failures keep their class (the caller tells them from a damaged window).
    if (error instanceof RawErasureError || error instanceof ErasureObjectError || error instanceof SyncStateError) {
      throw error;
    }
    throw new RawErasureError(`${where}: ${(error as Error).message}`, { cause: error });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
