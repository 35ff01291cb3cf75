/**
 * Committing a window: the only way landed rows become visible.
 *
 * Readers never see a window that did not commit, whatever failed and whenever, because of where
 * things are written and what is catalogued:
 *
 * 1. Every attempt at a window writes its Parquet parts under its own prefix,
 *    `raw/<stream>/<run>/<window>/<attempt>/…` ({@link newAttemptId}; continuations of an attempt
 *    carry its id). `raw/` is no table's location: nothing there is visible by being there.
 * 2. Once the window is complete and reconciled, `commitWindow` checks that every part of the
 *    attempt is stored, writes the attempt's manifest (`_manifests/<stream>/<run>/<window>/<attempt>.json`),
 *    and then commits with **one** PUT: the symlink list `_committed/<stream>/<run>/<window>/parts.txt`,
 *    which names the attempt's parts (`s3://…` per line) and carries the attempt id as metadata.
 *    `_committed/<stream>/` is the location of the stream's catalogued landed table (Hive
 *    SymlinkTextInputFormat, one partition per committed window), so Athena reads exactly the parts
 *    of committed attempts. A PUT replaces an object atomically, so a re-committed window switches
 *    from one complete attempt to another, never to a mixture.
 * 3. After committing, the other attempts' parts and manifests under the window are deleted. An
 *    attempt that never commits (coercion error, timeout, crash, S3 error, aborted execution,
 *    never retried) is deleted by the landing sweep (`sweep.ts`) once it is older than the grace
 *    period; it was never visible in the meantime.
 */
import { randomBytes } from 'node:crypto';
import type { StreamName } from '../canonical.ts';
import type { PartResult, WindowProgress } from '../contracts/steps.ts';
import { type LandedColumn, schemaFingerprint } from '../landed-schema.ts';
import {
  committedListKey,
  manifestKey,
  manifestWindowPrefix,
  parseAttemptKey,
  rawAttemptPrefix,
  rawWindowPrefix,
} from '../layout.ts';
import type { ObjectSink } from '../sink/sink.ts';
import type { WriteContext } from '../write-context.ts';
import { WindowCommitError } from './errors.ts';

/** User metadata of a committed list that names its attempt. */
export const COMMITTED_ATTEMPT_METADATA = 'attempt';

/** The description of one committed (or committing) attempt at a window. */
export interface WindowManifest {
  /** Format version of this document. */
  readonly version: 2;
  readonly operatorId: string;
  readonly stream: StreamName;
  readonly runId: string;
  readonly windowId: string;
  /** The attempt whose parts this describes. */
  readonly attempt: string;
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
  /** Smallest and largest value of each timestamp column other than `_cursor` (absent when all NULL). */
  readonly timeRanges: Readonly<Record<string, { readonly min: string; readonly max: string }>>;
  readonly createdAt: string;
  /**
   * Erasures that rewrote parts of this attempt: each removed a player's rows from some parts, and
   * `rowCount`, the parts' `rows` and `bytes`, `moneySums` and `nullCounts` above were reduced by
   * what it removed. The cursor and time ranges are left as they were: still bounds of the rows,
   * no longer necessarily tight ones. Absent when no erasure touched the window.
   */
  readonly erasures?: readonly ManifestErasure[];
  /**
   * The window's money totals per currency, the source's against the landed rows', as extracted
   * (an erasure does not adjust them). Absent for streams without money totals.
   */
  readonly moneyTotals?: MoneyTotalsReport;
}

/**
 * A window's money totals per currency, the source's against the lake's (extract/money-totals.ts).
 * Aggregates only: never a row's value.
 */
export interface MoneyTotalsReport {
  /** (currency, kind) totals that differ; GGR is not counted again. */
  readonly mismatches: number;
  readonly currencies: readonly {
    /** Null for rows without a currency. */
    readonly currency: string | null;
    readonly equal: boolean;
    /** Kind (`deposits`, `withdrawals`, `stakes`, `payouts`, `ggr`) → exact decimal texts. */
    readonly totals: Readonly<Record<string, { readonly source: string; readonly landed: string }>>;
  }[];
}

/** One erasure's mark on a window manifest (the erasure id names the audit entry; no player id). */
export interface ManifestErasure {
  readonly erasureId: string;
  /** When the manifest was adjusted (ISO-8601). */
  readonly at: string;
  /** Rows removed from the window's parts. */
  readonly rows: number;
}

/**
 * A new attempt id: the UTC time it started and a random suffix (`20261206T101500Z-3fa9c1`), so
 * attempts sort by start time and two attempts never share a prefix.
 */
export function newAttemptId(now: Date = new Date()): string {
  const time = `${now.toISOString().slice(0, 19).replace(/[-:]/g, '')}Z`;
  return `${time}-${randomBytes(3).toString('hex')}`;
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
  /**
   * Called with the manifest after it is stored and before the commit, e.g. to register the window
   * for publishing: whatever fails after the commit, the window is known. A failure here fails the
   * commit (nothing is committed).
   */
  readonly beforeCommit?: (manifest: WindowManifest) => Promise<void>;
  /** The window's reconciled money totals, recorded in the manifest. */
  readonly moneyTotals?: MoneyTotalsReport;
}

export interface CommitWindowResult {
  /** The committed attempt's manifest. */
  readonly manifestKey: string;
  /** The commit marker: the window's symlink list. */
  readonly committedKey: string;
  readonly manifest: WindowManifest;
  /** Objects of other attempts at the window that were removed after the commit. */
  readonly deletedKeys: readonly string[];
}

/** Commits one attempt at a window (see the module documentation). */
export async function commitWindow(sink: ObjectSink, input: CommitWindowInput): Promise<CommitWindowResult> {
  const { stream, runId, windowId, progress } = input;
  const { attempt } = progress;
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

  // Every part must be this attempt's and stored: a list naming a missing object would break every
  // query of the table, and a part of another attempt would mix two reads of the source.
  const attemptPrefix = rawAttemptPrefix(stream, runId, windowId, attempt);
  const stored = new Set((await sink.listObjects(attemptPrefix)).map((o) => o.key));
  for (const part of progress.parts) {
    if (!part.key.startsWith(attemptPrefix)) {
      throw new WindowCommitError(context, `part ${part.key} does not belong to attempt ${attempt}`);
    }
    if (!stored.has(part.key)) {
      throw new WindowCommitError(
        context,
        `part ${part.key} of attempt ${attempt} is missing; another attempt at this window may have committed ` +
          'and removed it, so this attempt cannot commit',
      );
    }
  }

  const key = manifestKey(stream, runId, windowId, attempt);
  const manifest: WindowManifest = {
    version: 2,
    operatorId: input.operatorId,
    stream,
    runId,
    windowId,
    attempt,
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
    timeRanges: progress.timeRanges ?? {},
    createdAt: (input.now ?? new Date()).toISOString(),
    ...(input.moneyTotals ? { moneyTotals: input.moneyTotals } : {}),
  };
  await sink.putObject(key, `${JSON.stringify(manifest, null, 2)}\n`, 'application/json');
  await input.beforeCommit?.(manifest);

  const committedKey = committedListKey(stream, runId, windowId);
  const list = progress.parts.map((p) => `${sink.location(p.key)}\n`).join('');
  await sink.putObject(committedKey, list, 'text/plain', { [COMMITTED_ATTEMPT_METADATA]: attempt });

  const others = [
    ...(await sink.listKeys(rawWindowPrefix(stream, runId, windowId))),
    ...(await sink.listKeys(manifestWindowPrefix(stream, runId, windowId))),
  ].filter((k) => parseAttemptKey(k)?.attempt !== attempt);
  if (others.length > 0) await sink.deleteKeys(others);
  return { manifestKey: key, committedKey, manifest, deletedKeys: others };
}

/** A committed window: its symlink list, the committed attempt and that attempt's manifest. */
export interface CommittedWindow {
  readonly committedKey: string;
  readonly attempt: string;
  /** Keys of the committed parts (what the catalogued table reads for this window). */
  readonly partKeys: readonly string[];
  readonly manifestKey: string;
  readonly manifest: WindowManifest;
}

/** The committed attempt at a window, or undefined when the window has not committed. */
export async function readCommittedWindow(
  sink: ObjectSink,
  stream: StreamName,
  runId: string,
  windowId: string,
): Promise<CommittedWindow | undefined> {
  const committedKey = committedListKey(stream, runId, windowId);
  const list = await sink.getObjectWithMetadata(committedKey);
  if (!list) return undefined;
  const attempt = list.metadata[COMMITTED_ATTEMPT_METADATA];
  if (!attempt) {
    throw new Error(
      `the committed list ${committedKey} does not name its attempt (metadata ${COMMITTED_ATTEMPT_METADATA})`,
    );
  }
  const base = sink.location('');
  const partKeys = new TextDecoder()
    .decode(list.body)
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => (line.startsWith(base) ? line.slice(base.length) : line));
  const key = manifestKey(stream, runId, windowId, attempt);
  const bytes = await sink.getObject(key);
  if (!bytes)
    throw new Error(`the manifest ${key} of the committed attempt at ${stream} ${runId}/${windowId} is missing`);
  const manifest = JSON.parse(new TextDecoder().decode(bytes)) as WindowManifest;
  return { committedKey, attempt, partKeys, manifestKey: key, manifest };
}
