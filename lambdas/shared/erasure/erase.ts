/**
 * Erasure of one player (GDPR Art. 17) from an operator's lake: every stream that carries
 * `player_id`, in the raw zone and in the serving tables, recorded in the sync-state table under
 * the player's pseudonym (never the clear id).
 *
 * Order: the raw zone first (so no later publish can bring the rows back into a table), then the
 * serving tables (an Iceberg `DELETE` through Athena, checked by counting again). A second pass
 * over the raw zone checks that nothing of the player is left there; rows that keep appearing mean
 * the player still exists at the source and is being landed again.
 *
 * A run is idempotent: a request that stopped half-way is resumed under its own id, and a run that
 * finds nothing left (after an earlier, complete request) changes nothing and says so. A dry run
 * only reads.
 */
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import type { QueryEngine } from '../adapters/athena.ts';
import { STREAM_NAMES, type StreamName } from '../canonical.ts';
import type { OperatorConfig } from '../config/schema.ts';
import { PUBLISH_LOCK_TTL_SECONDS } from '../contracts/locks.ts';
import type { KeyComparison } from '../pii/key-form.ts';
import { countPlayerRows, deletePlayerRows } from '../serving/sql.ts';
import { servingColumns } from '../serving/tables.ts';
import type { ObjectSink } from '../sink/sink.ts';
import type { ErasureAudit, ErasureRecord, ErasureStreamCounts, ErasureWindowRecord } from '../state/erasures.ts';
import { PUBLISH_LOCK } from '../state/keys.ts';
import type { LockStore } from '../state/locks.ts';
import type { ErasureObjects } from './objects.ts';
import {
  committedWindows,
  eraseWindow,
  type LocatedPart,
  locatePlayerParts,
  PLAYER_COLUMN,
  RawErasureError,
} from './raw.ts';

/** Passes over the raw zone before the rows of a player are considered gone. */
const RAW_PASSES = 3;
/** DELETE rounds of a serving table (a publish running at the same time may re-insert rows once). */
const SERVING_ROUNDS = 3;

/** The streams of an operator whose rows belong to a player (their serving columns include `player_id`). */
export function erasableStreams(config: OperatorConfig): StreamName[] {
  return STREAM_NAMES.filter(
    (s) => config.streams[s] !== undefined && servingColumns(config, s).some((c) => c.name === PLAYER_COLUMN),
  );
}

/** A copy of the player's data an erasure does not remove itself, and when it is gone. */
export interface ResidualCopy {
  readonly where: string;
  readonly goneWithin: string;
}

/**
 * What an erasure leaves to expire on its own, with the operator's retention settings: the bound
 * the DPO documentation states (docs/operators/erasure.md).
 */
export function residualCopies(config: OperatorConfig): ResidualCopy[] {
  const versions = config.retention.noncurrentVersionDays;
  const { snapshotRetentionDays, snapshotsToRetain } = config.serving;
  const out: ResidualCopy[] = [
    {
      where: 'serving tables: data files that held the rows, still referenced by earlier table snapshots (time travel)',
      goneWithin: config.serving.compaction
        ? `the table's next compaction of those files (any file with a delete qualifies) + ${snapshotRetentionDays} days of snapshot retention (once ${snapshotsToRetain} newer snapshots exist) + ${versions} days as deleted object versions`
        : 'no bound: serving.compaction is false, so the files that held the rows (masked by delete files) are never rewritten; enable compaction to bound it',
    },
    {
      where: 'raw zone: parts of extraction attempts that never committed (never visible to any query)',
      goneWithin: `2 days (daily landing sweep) + ${versions} days as deleted object versions`,
    },
    {
      where: 'Athena query results of queries that selected the rows',
      goneWithin: `1 day + ${versions} days as deleted object versions`,
    },
  ];
  if (config.fileDrop) {
    if (config.fileDrop.afterIngest === 'archive') {
      out.push({
        where: 'archive/: the dropped original files (they hold the clear id)',
        goneWithin: `${config.retention.archiveDays} days after they landed + ${versions} days as deleted object versions`,
      });
    }
    out.push({
      where: 'quarantine/: dropped files that were refused (they hold the clear id)',
      goneWithin: `${config.retention.quarantineDays} days after they were refused + ${versions} days as deleted object versions`,
    });
  }
  return out;
}

/** `20260301T101500Z-3fa9c1`: the request's start time and a random suffix. */
export function newErasureId(now: Date): string {
  return `${now.toISOString().slice(0, 19).replace(/[-:]/g, '')}Z-${randomBytes(3).toString('hex')}`;
}

export interface EraseInput {
  readonly config: OperatorConfig;
  /** The operator's Glue database. */
  readonly database: string;
  /** Runs the statements: Athena in the operator's workgroup, or the local engine. */
  readonly engine: QueryEngine;
  /** The landing bucket (committed lists and manifests). */
  readonly sink: ObjectSink;
  /** The landing bucket's objects with their versions. */
  readonly objects: ErasureObjects;
  readonly audit: ErasureAudit;
  /**
   * The sync-state store: the erasure holds the operator's publish lock while it rewrites and
   * deletes, so no publish merges windows read before their parts were rewritten.
   */
  readonly locks: LockStore;
  /** How long to wait for a running publish to release the lock. @default 1800000 (30 minutes) */
  readonly lockWaitMs?: number;
  /** @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** The player's pseudonym (HMAC of the id's key form under the operator key). */
  readonly pseudonym: string;
  /** The key form the pseudonym was computed with (recorded in the audit). */
  readonly keyComparison: KeyComparison;
  /** Only count what would be removed. @default false */
  readonly dryRun?: boolean;
  /** The requester's reference (a ticket number), recorded with the request. */
  readonly reference?: string;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** Where parts are downloaded and rewritten. @default os.tmpdir() */
  readonly tmpDir?: string;
  /** Progress lines (no personal data). */
  readonly onProgress?: (message: string) => void;
  /** Every statement sent to the engine. */
  readonly onStatement?: (sql: string) => void;
  /** Keys of landing-bucket objects that were rewritten. */
  readonly onChanged?: (keys: readonly string[]) => Promise<void> | void;
}

/** One stream in a report. */
export interface StreamErasureReport {
  /** Rows removed from (dry run: held by) the serving table. */
  readonly servingRows: number;
  /** Rows removed from (dry run: held by) committed raw parts. */
  readonly rawRows: number;
  /** The committed raw parts rewritten (dry run: holding the player's rows). */
  readonly rawObjects: readonly string[];
}

export type ErasureOutcome =
  /** Dry run: what a run would remove. */
  | 'dry-run'
  /** Rows were removed; the request is recorded as complete. */
  | 'erased'
  /** Nothing was found and no earlier request exists: the request is recorded with zero rows. */
  | 'nothing-found'
  /** Nothing was left after an earlier, complete request: nothing changed, nothing recorded. */
  | 'already-erased';

export interface ErasureReport {
  readonly operatorId: string;
  readonly stage: string;
  readonly pseudonym: string;
  readonly outcome: ErasureOutcome;
  /** The request this run recorded, completed or resumed; null for a dry run or when nothing changed. */
  readonly erasureId: string | null;
  /** Whether this run resumed a request that had stopped before completing. */
  readonly resumed: boolean;
  /** Earlier complete requests of the player. */
  readonly previous: readonly { readonly erasureId: string; readonly completedAt: string | null }[];
  readonly streams: Readonly<Partial<Record<StreamName, StreamErasureReport>>>;
  /** Earlier versions of rewritten objects that were deleted. */
  readonly versionsDeleted: number;
  /** Copies the erasure leaves to expire on their own, and when they are gone. */
  readonly residual: readonly ResidualCopy[];
  /** The audit entry as recorded (absent for a dry run or when nothing changed). */
  readonly record?: ErasureRecord;
}

async function servingCount(input: EraseInput, stream: StreamName): Promise<number> {
  const sql = countPlayerRows(input.database, stream, input.pseudonym);
  input.onStatement?.(sql);
  const { rows } = await input.engine.execute(sql);
  return Number(rows[0]?.rows ?? 0);
}

async function locateAll(input: EraseInput, streams: readonly StreamName[]): Promise<Map<StreamName, LocatedPart[]>> {
  const out = new Map<StreamName, LocatedPart[]>();
  for (const stream of streams) {
    const windows = await committedWindows(input.sink, stream);
    out.set(
      stream,
      windows.length === 0
        ? []
        : await locatePlayerParts({
            engine: input.engine,
            database: input.database,
            stream,
            pseudonym: input.pseudonym,
            windows,
            bucket: input.objects.bucket,
            ...(input.onStatement ? { onStatement: input.onStatement } : {}),
          }),
    );
  }
  return out;
}

/** Pause between two attempts at the publish lock. */
const LOCK_POLL_MS = 15_000;

/** Takes the publish lock for `owner`, waiting for a running publish to finish. */
async function takePublishLock(input: EraseInput, owner: string): Promise<void> {
  const deadline = Date.now() + (input.lockWaitMs ?? 1_800_000);
  const sleep = input.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (;;) {
    if (await input.locks.acquire(PUBLISH_LOCK, owner, PUBLISH_LOCK_TTL_SECONDS)) return;
    const holder = (await input.locks.get(PUBLISH_LOCK))?.owner ?? 'unknown';
    if (Date.now() >= deadline) {
      throw new RawErasureError(
        `${input.config.operatorId}: a publish into the serving tables holds the publish lock (${holder}); nothing was changed. Run the erasure again once it has finished (a lock whose publish no longer runs expires after ${PUBLISH_LOCK_TTL_SECONDS / 3600} hours: docs/runbook.md#publish-backlog)`,
      );
    }
    input.onProgress?.(`waiting for the running publish (${holder}) to release the publish lock…`);
    await sleep(LOCK_POLL_MS);
  }
}

/** Extends the publish lock; stops the erasure if it was lost (expired and taken by a publish). */
async function keepPublishLock(input: EraseInput, owner: string): Promise<void> {
  if (await input.locks.renew(PUBLISH_LOCK, owner, PUBLISH_LOCK_TTL_SECONDS)) return;
  throw new RawErasureError(
    `${input.config.operatorId}: the erasure lost the publish lock (it expired and a publish took it); run the erasure again: it resumes`,
  );
}

const windowKey = (w: { stream: string; runId: string; windowId: string }) =>
  `${w.stream}\u0000${w.runId}\u0000${w.windowId}`;

/** Erases (or, with `dryRun`, counts) one player's rows; see the module documentation. */
export async function erasePlayer(input: EraseInput): Promise<ErasureReport> {
  const { config, audit, pseudonym } = input;
  const now = input.now ?? (() => new Date());
  const progress = input.onProgress ?? (() => undefined);
  const streams = erasableStreams(config);
  const history = await audit.list(pseudonym);
  const previous = history.requests
    .filter((r) => r.status === 'complete')
    .map((r) => ({ erasureId: r.erasureId, completedAt: r.completedAt?.toISOString() ?? null }));
  const base = {
    operatorId: config.operatorId,
    stage: config.stage,
    pseudonym,
    previous,
    residual: residualCopies(config),
  };

  progress(`looking for the player's rows in ${streams.length} stream(s): ${streams.join(', ')}`);
  const located = await locateAll(input, streams);
  const serving = new Map<StreamName, number>();
  for (const stream of streams) serving.set(stream, await servingCount(input, stream));

  if (input.dryRun) {
    const report: Partial<Record<StreamName, StreamErasureReport>> = {};
    for (const stream of streams) {
      const parts = located.get(stream) ?? [];
      report[stream] = {
        servingRows: serving.get(stream) ?? 0,
        rawRows: parts.reduce((n, p) => n + p.rows, 0),
        rawObjects: parts.map((p) => p.key),
      };
    }
    return { ...base, outcome: 'dry-run', erasureId: null, resumed: false, streams: report, versionsDeleted: 0 };
  }

  const running = history.requests.find((r) => r.status === 'running');
  const pending = history.windows.filter((w) => w.status === 'rewriting' && w.erasureId === running?.erasureId);
  const found = [...located.values()].some((parts) => parts.length > 0) || [...serving.values()].some((n) => n > 0);
  if (!found && !running && previous.length > 0) {
    const empty = Object.fromEntries(streams.map((s) => [s, { servingRows: 0, rawRows: 0, rawObjects: [] }]));
    return { ...base, outcome: 'already-erased', erasureId: null, resumed: false, streams: empty, versionsDeleted: 0 };
  }

  const erasureId = running?.erasureId ?? newErasureId(now());
  const owner = `erasure-${erasureId}`;
  await takePublishLock(input, owner);
  try {
    return await eraseUnderLock(input, { erasureId, owner, running, pending, located, streams, base });
  } finally {
    await input.locks.release(PUBLISH_LOCK, owner);
  }
}

/** The erasure proper, while it holds the publish lock. */
async function eraseUnderLock(
  input: EraseInput,
  state: {
    readonly erasureId: string;
    readonly owner: string;
    readonly running: ErasureRecord | undefined;
    readonly pending: readonly ErasureWindowRecord[];
    located: Map<StreamName, LocatedPart[]>;
    readonly streams: readonly StreamName[];
    readonly base: Omit<ErasureReport, 'outcome' | 'erasureId' | 'resumed' | 'streams' | 'versionsDeleted' | 'record'>;
  },
): Promise<ErasureReport> {
  const { config, audit, pseudonym } = input;
  const { erasureId, owner, running, pending, streams, base } = state;
  let { located } = state;
  const now = input.now ?? (() => new Date());
  const progress = input.onProgress ?? (() => undefined);
  if (!running) {
    await audit.start({
      pseudonym,
      erasureId,
      startedAt: now(),
      keyComparison: { caseInsensitive: input.keyComparison.caseInsensitive, padSpace: input.keyComparison.padSpace },
      ...(input.reference !== undefined ? { reference: input.reference } : {}),
    });
  } else {
    progress(`resuming erasure ${erasureId}, started ${running.startedAt.toISOString()}`);
  }

  // Raw zone: every window with located parts or journaled by an earlier run of this request.
  let versionsDeleted = 0;
  const journal = new Map<string, ErasureWindowRecord>(pending.map((w) => [windowKey(w), w]));
  for (let pass = 1; ; pass++) {
    const work = new Map<string, { stream: StreamName; runId: string; windowId: string; keys: Set<string> }>();
    for (const [stream, parts] of located) {
      for (const p of parts) {
        const k = windowKey({ stream, runId: p.runId, windowId: p.windowId });
        const entry = work.get(k) ?? { stream, runId: p.runId, windowId: p.windowId, keys: new Set<string>() };
        entry.keys.add(p.key);
        work.set(k, entry);
      }
    }
    for (const w of journal.values()) {
      const k = windowKey(w);
      const entry = work.get(k) ?? {
        stream: w.stream as StreamName,
        runId: w.runId,
        windowId: w.windowId,
        keys: new Set<string>(),
      };
      for (const p of w.parts) entry.keys.add(p.key);
      work.set(k, entry);
    }
    journal.clear();
    if (work.size === 0) break;
    if (pass > RAW_PASSES) {
      throw new RawErasureError(
        `${config.operatorId}: rows of the player keep appearing in newly committed windows (${[...work.values()].map((w) => `${w.stream} ${w.runId}/${w.windowId}`).join(', ')}); the player is still being landed from the source. Make sure the operator has deleted the player at the source, then run the erasure again`,
      );
    }
    progress(`rewriting ${work.size} committed window(s) of the raw zone (pass ${pass})`);
    for (const w of work.values()) {
      const earlier = pending.find((p) => windowKey(p) === windowKey(w));
      const result = await eraseWindow({
        sink: input.sink,
        objects: input.objects,
        audit,
        operatorId: config.operatorId,
        stream: w.stream,
        runId: w.runId,
        windowId: w.windowId,
        pseudonym,
        erasureId,
        partKeys: [...w.keys],
        ...(earlier ? { journaled: earlier.parts } : {}),
        tmpDir: input.tmpDir ?? tmpdir(),
        now,
        ...(input.onChanged ? { onChanged: input.onChanged } : {}),
      });
      versionsDeleted += result?.versionsDeleted ?? 0;
      await keepPublishLock(input, owner);
    }
    // Check: nothing of the player is left in any committed window.
    located = await locateAll(input, streams);
  }

  // Serving tables.
  await keepPublishLock(input, owner);
  for (const stream of streams) {
    for (let round = 0; ; round++) {
      // Counted again under the lock: a publish that ran before it may have added rows.
      const count = await servingCount(input, stream);
      if (count === 0) break;
      if (round >= SERVING_ROUNDS) {
        throw new RawErasureError(
          `${config.operatorId} ${stream}: the serving table still holds ${count} row(s) of the player after ${SERVING_ROUNDS} deletes; a publish is re-inserting them. Run the erasure again once the running publish has finished`,
        );
      }
      progress(`deleting ${count} row(s) from the serving table ${stream}`);
      const sql = deletePlayerRows(input.database, stream, pseudonym);
      input.onStatement?.(sql);
      await input.engine.execute(sql);
      await audit.addServingRows(pseudonym, erasureId, stream, count);
    }
  }

  const after = await audit.list(pseudonym);
  const request = after.requests.find((r) => r.erasureId === erasureId);
  const counts: Record<string, ErasureStreamCounts> = {};
  const report: Partial<Record<StreamName, StreamErasureReport>> = {};
  for (const stream of streams) {
    const windows = after.windows.filter((w) => w.erasureId === erasureId && w.stream === stream);
    const parts = windows.flatMap((w) => w.parts);
    const servingRows = request?.serving[stream] ?? 0;
    counts[stream] = {
      servingRows,
      rawRows: parts.reduce((n, p) => n + p.rows, 0),
      rawObjects: parts.length,
    };
    report[stream] = { servingRows, rawRows: counts[stream].rawRows, rawObjects: parts.map((p) => p.key).sort() };
  }
  const record = await audit.complete(pseudonym, erasureId, counts);
  const removed = Object.values(counts).some((c) => c.servingRows > 0 || c.rawRows > 0);
  progress(`erasure ${erasureId} complete`);
  return {
    ...base,
    outcome: removed ? 'erased' : 'nothing-found',
    erasureId,
    resumed: running !== undefined,
    streams: report,
    versionsDeleted,
    record,
  };
}
