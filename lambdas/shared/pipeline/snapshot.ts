/**
 * Planning and finalizing of snapshots, shared by the plan-snapshot and finalize-snapshot handlers:
 * what an execution input asks for, the source estimates and counts a new snapshot needs, the
 * windows of an execution (on the grid of `window-grid.ts`) and the end of the execution. Every
 * function takes its config, store and source as arguments.
 *
 * **Payload.** The plan output travels through the state machine (256 KiB per state): windows are
 * `{ s, w, f, t }` (stream, id, from, to), and one execution takes at most
 * {@link MAX_WINDOWS_PER_EXECUTION} of them; the rest run in a new execution of the same snapshot.
 */
import { isStreamName, type StreamName } from '../canonical.ts';
import type { OperatorConfig } from '../config/schema.ts';
import type {
  FinalizeSnapshotInput,
  FinalizeSnapshotResult,
  PlannedWindow,
  PlanSnapshotInput,
  PlanSnapshotResult,
  SnapshotRequest,
  WindowFailure,
} from '../contracts/steps.ts';
import { checkCursorLookback } from '../extract/cursor-check.ts';
import { sourcePlan } from '../extract/source-plan.ts';
import { localWallTimeToUtc } from '../mapping/time.ts';
import type { CursorBounds, SourceConnection } from '../sources/source.ts';
import type { SnapshotMeta, SnapshotWindowRecord } from '../state/snapshots.ts';
import type { SyncStateStore } from '../state/store.ts';
import { checkRunId, instant, PlanRequestError, snapshotIdFor } from './ids.ts';
import { causeText } from './step-error.ts';
import { ceilHour, floorHour, HOUR_MS, isoSeconds, planStreamWindows, type RowEstimate } from './window-grid.ts';

/**
 * Most windows one snapshot execution runs. An inline Map iteration costs about 11 execution
 * history events (plus 9 per continuation), and an execution holds at most 25,000 events; 1,000
 * windows also keep the plan output near 100 KiB. A larger snapshot continues in new executions.
 */
export const MAX_WINDOWS_PER_EXECUTION = 1000;

// ------------------------------------------------------------------------------------- requests

/** The streams an operator lands from its database (every configured stream with a table). */
export function databaseStreams(config: OperatorConfig): StreamName[] {
  return (Object.keys(config.streams) as StreamName[]).filter((s) => isStreamName(s) && config.streams[s]?.table);
}

/**
 * End of a snapshot started at `start`: the last whole UTC hour before `start` minus the safety
 * lag (rows newer than that may belong to open transactions; incremental syncs pick them up).
 */
export function snapshotCutoff(config: OperatorConfig, start: Date): Date {
  return new Date(floorHour(start.getTime() - config.incremental.safetyLagSeconds * 1000));
}

export type ResolvedRequest =
  | { readonly mode: 'resume'; readonly snapshotId: string }
  | {
      readonly mode: 'full' | 'replay';
      readonly snapshotId: string;
      readonly from: Date;
      readonly to: Date;
      readonly streams: readonly StreamName[];
    };

/**
 * What an execution input asks for: `{}` a new full snapshot over the last `snapshot.days`;
 * `{ snapshotId }` a resume; `{ from?, to?, streams? }` a replay of that range under a new id.
 */
export function resolveSnapshotRequest(
  config: OperatorConfig,
  request: SnapshotRequest | null | undefined,
  execution: { readonly name: string; readonly startTime: Date },
): ResolvedRequest {
  const where = `operator ${config.operatorId}`;
  const req = request ?? {};
  const configured = databaseStreams(config);
  if (req.snapshotId !== undefined) {
    if (req.from !== undefined || req.to !== undefined || req.streams !== undefined) {
      throw new PlanRequestError(`${where}: give either snapshotId (resume) or from/to/streams (replay), not both`);
    }
    return { mode: 'resume', snapshotId: checkRunId(String(req.snapshotId), 'snapshotId') };
  }
  const cutoff = snapshotCutoff(config, execution.startTime);
  const defaultFrom = new Date(cutoff.getTime() - config.snapshot.days * 24 * HOUR_MS);
  const replay = req.from !== undefined || req.to !== undefined || req.streams !== undefined;
  let streams: StreamName[] = configured;
  if (req.streams !== undefined) {
    const asked = Array.isArray(req.streams) ? req.streams : [];
    const unknown = asked.filter((s) => !configured.includes(s as StreamName));
    if (asked.length === 0 || unknown.length > 0) {
      throw new PlanRequestError(
        `${where}: streams must list configured streams (${configured.join(', ')}); not configured: ${unknown.join(', ') || 'none given'}`,
      );
    }
    streams = configured.filter((s) => asked.includes(s));
  }
  const from = req.from !== undefined ? new Date(floorHour(instant(req.from, 'from', where).getTime())) : defaultFrom;
  const askedTo = req.to !== undefined ? new Date(ceilHour(instant(req.to, 'to', where).getTime())) : cutoff;
  const to = new Date(Math.min(askedTo.getTime(), cutoff.getTime()));
  if (from >= to) {
    throw new PlanRequestError(
      `${where}: the range ${from.toISOString()} – ${to.toISOString()} is empty (from must be before to, and before the cutoff ${cutoff.toISOString()})`,
    );
  }
  return {
    mode: replay ? 'replay' : 'full',
    snapshotId: snapshotIdFor(replay ? 'replay' : 'full', execution.startTime, execution.name),
    from,
    to,
    streams,
  };
}

// ------------------------------------------------------------------------------------- estimates

/** UTC instant of a cursor bound in the reader's text form; null when it cannot be read as a time. */
export function cursorInstant(text: string | null, kind: CursorBounds['kind'], timeZone: string): Date | null {
  if (text === null) return null;
  if (kind !== 'timestamp' && kind !== 'timestamptz' && kind !== 'date') return null;
  try {
    const ms = localWallTimeToUtc(text, kind === 'timestamptz' ? 'UTC' : timeZone);
    return Number.isFinite(ms) ? new Date(ms) : null;
  } catch {
    return null;
  }
}

/**
 * Row estimates of the streams' tables: the planner's row count and the cursor's smallest and
 * largest value (an index lookup when the cursor is indexed, as the extractors need anyway).
 */
export async function estimateStreams(
  source: SourceConnection,
  config: OperatorConfig,
  streams: readonly StreamName[],
): Promise<Partial<Record<StreamName, RowEstimate>>> {
  const zone = config.source.type === 'files' ? 'UTC' : config.source.timeZone;
  const out: Partial<Record<StreamName, RowEstimate>> = {};
  for (const stream of streams) {
    const plan = sourcePlan(config, stream);
    const rows = await source.estimateRows(plan.schema, plan.table);
    const bounds = await source.cursorBounds({
      schema: plan.schema,
      table: plan.table,
      cursorColumn: plan.cursorColumn,
      keyColumn: plan.keyColumn,
    });
    out[stream] = {
      rows,
      minCursor: cursorInstant(bounds.min, bounds.kind, zone),
      maxCursor: cursorInstant(bounds.max, bounds.kind, zone),
    };
  }
  return out;
}

/**
 * Rows with a NULL cursor per stream: they belong to no window and never land, so a snapshot
 * counts them once, when it is planned. Also refuses, before any window runs, a naive cursor the
 * incremental lookback does not cover (the incremental runs would refuse it anyway).
 */
export async function countNullCursors(
  source: SourceConnection,
  config: OperatorConfig,
  streams: readonly StreamName[],
  snapshotId: string,
): Promise<Partial<Record<StreamName, number>>> {
  const out: Partial<Record<StreamName, number>> = {};
  for (const stream of streams) {
    const plan = sourcePlan(config, stream);
    const counted = await source.countNullCursor(plan);
    checkCursorLookback(config, { stream, where: `snapshot ${snapshotId}` }, counted);
    out[stream] = Number(counted.rows);
  }
  return out;
}

// ------------------------------------------------------------------------------------- plan-snapshot

export interface PlanDeps {
  readonly config: OperatorConfig;
  readonly store: SyncStateStore;
  /** Row estimates for adaptive windows; only called when `snapshot.targetRowsPerWindow` is set. */
  readonly estimate?: (streams: readonly StreamName[]) => Promise<Partial<Record<StreamName, RowEstimate>>>;
  /**
   * Counts the rows with a NULL cursor of the streams of a new snapshot ({@link countNullCursors}).
   * @default - not counted
   */
  readonly countNullCursors?: (
    streams: readonly StreamName[],
    snapshotId: string,
  ) => Promise<Partial<Record<StreamName, number>>>;
  /** @default MAX_WINDOWS_PER_EXECUTION */
  readonly maxWindows?: number;
  /**
   * Checks the source schema of the streams that have windows to run (`drift/check.ts`): a stream
   * with an error (schema drift under its mapping) has its windows failed with it and not run, so
   * the other streams' windows still land and the snapshot ends failed naming the drift.
   * @default - not checked
   */
  readonly checkSchemas?: (
    streams: readonly StreamName[],
    snapshotId: string,
  ) => Promise<Partial<Record<StreamName, { readonly error?: Error }>>>;
}

function toPlanned(w: Pick<SnapshotWindowRecord, 'stream' | 'windowId' | 'from' | 'to'>): PlannedWindow {
  return { s: w.stream as StreamName, w: w.windowId, f: isoSeconds(w.from), t: isoSeconds(w.to) };
}

type SchemaChecks = Awaited<ReturnType<NonNullable<PlanDeps['checkSchemas']>>>;

async function planFromStore(
  deps: PlanDeps,
  meta: SnapshotMeta,
  mode: PlanSnapshotResult['mode'],
  alreadyChecked?: SchemaChecks,
): Promise<PlanSnapshotResult> {
  let windows = await deps.store.snapshots.listWindows(meta.snapshotId);
  if (deps.checkSchemas) {
    const open = [...new Set(windows.filter((w) => w.status !== 'done').map((w) => w.stream as StreamName))];
    const checked = alreadyChecked ?? (open.length > 0 ? await deps.checkSchemas(open, meta.snapshotId) : {});
    let failedAny = false;
    for (const w of windows) {
      const error = checked[w.stream as StreamName]?.error;
      if (!error || w.status === 'done') continue;
      await deps.store.snapshots.markWindowFailed(meta.snapshotId, w.stream, w.windowId, {
        error: `${error.name}: ${error.message}`,
      });
      failedAny = true;
    }
    if (failedAny) windows = await deps.store.snapshots.listWindows(meta.snapshotId);
    // Windows of a drifted stream stay failed (and are not run) until a plan finds the schema right.
    const drifted = new Set(
      Object.entries(checked)
        .filter(([, c]) => c?.error)
        .map(([stream]) => stream),
    );
    windows = windows.filter((w) => !drifted.has(w.stream) || w.status === 'done');
  }
  const pending = windows.filter((w) => w.status !== 'done');
  const max = deps.maxWindows ?? MAX_WINDOWS_PER_EXECUTION;
  const now = pending.slice(0, max);
  const all = deps.checkSchemas ? await deps.store.snapshots.listWindows(meta.snapshotId) : windows;
  return {
    snapshotId: meta.snapshotId,
    runId: meta.snapshotId,
    mode,
    cutoff: meta.cutoff.toISOString(),
    windows: now.map(toPlanned),
    total: all.length,
    done: all.filter((w) => w.status === 'done').length,
    remaining: pending.length - now.length,
    nullCursorRows: meta.nullCursorRows ?? {},
  };
}

/**
 * Plans the windows of a snapshot execution. A new snapshot (full or replay) is recorded in the
 * sync state with every window pending; a resume reads the recorded windows. Either way only
 * windows not done are returned, so rerunning a snapshot redoes only what is missing.
 */
export async function planSnapshot(deps: PlanDeps, input: PlanSnapshotInput): Promise<PlanSnapshotResult> {
  const { config, store } = deps;
  const startTime = instant(input.startTime, 'startTime', `operator ${config.operatorId}`);
  const resolved = resolveSnapshotRequest(config, input.request, { name: String(input.executionName), startTime });
  if (resolved.mode === 'resume') {
    const meta = await store.snapshots.get(resolved.snapshotId);
    if (!meta) {
      throw new PlanRequestError(
        `operator ${config.operatorId}: snapshot ${resolved.snapshotId} does not exist; start a new snapshot with {} or a replay with {"from": …, "to": …}`,
      );
    }
    // Running again: `connector status` must not show a failure while the resume works on it.
    if (meta.status === 'failed') await store.snapshots.resume(meta.snapshotId);
    return planFromStore(deps, meta, 'resume');
  }
  // A retried plan step of the same execution finds the snapshot it already recorded.
  const existing = await store.snapshots.get(resolved.snapshotId);
  if (existing) return planFromStore(deps, existing, resolved.mode);

  // The schema first: a stream whose mapped columns drifted is neither counted nor estimated (its
  // cursor or key may be gone); its windows are recorded and failed with the drift.
  const checked = deps.checkSchemas ? await deps.checkSchemas(resolved.streams, resolved.snapshotId) : undefined;
  const readable = resolved.streams.filter((s) => !checked?.[s]?.error);
  const nullCursorRows = deps.countNullCursors ? await deps.countNullCursors(readable, resolved.snapshotId) : undefined;
  const estimates = config.snapshot.targetRowsPerWindow && deps.estimate ? await deps.estimate(readable) : undefined;
  const windows = resolved.streams.flatMap((stream) =>
    planStreamWindows({
      from: resolved.from,
      to: resolved.to,
      windowHours: config.snapshot.windowHours,
      targetRowsPerWindow: config.snapshot.targetRowsPerWindow,
      estimate: estimates?.[stream],
    }).map((w) => ({ stream, ...w })),
  );
  const { snapshot, created } = await store.snapshots.start({
    snapshotId: resolved.snapshotId,
    cutoff: resolved.to,
    streams: resolved.streams,
    windows,
    ...(nullCursorRows ? { nullCursorRows } : {}),
  });
  if (created && nullCursorRows) {
    for (const [stream, rows] of Object.entries(nullCursorRows)) {
      await store.watermarks.recordNullCursorRows(stream, { rows, runId: resolved.snapshotId });
    }
  }
  return planFromStore(deps, snapshot, resolved.mode, created ? checked : undefined);
}

// ------------------------------------------------------------------------------------- finalize-snapshot

const MAX_NAMED = 5;

/**
 * Ends a snapshot execution. When every window is done the snapshot completes: each stream's
 * incremental watermark moves to the cutoff (never backwards). When windows failed they are
 * recorded as failed (a window the extractor could not mark itself, e.g. on a Lambda timeout)
 * and the snapshot is marked failed with a summary naming them; rerunning it with its
 * `snapshotId` redoes only those.
 */
export async function finalizeSnapshot(
  deps: {
    readonly config: OperatorConfig;
    readonly store: SyncStateStore;
    /** Makes the source columns the snapshot's plan saw each stream's fingerprint, once it completed. */
    readonly acceptSchemas?: (streams: readonly string[], snapshotId: string) => Promise<void>;
  },
  input: FinalizeSnapshotInput,
): Promise<FinalizeSnapshotResult> {
  const { config, store } = deps;
  const snapshotId = checkRunId(String(input.snapshotId), 'snapshotId');
  const operator = `operator ${config.operatorId}`;
  const rerun = `rerun the snapshot state machine with {"snapshotId": "${snapshotId}"} to redo only the windows not done`;

  if (input.error) {
    const summary = `${operator}: snapshot ${snapshotId} failed: ${input.error.Error ?? 'error'}: ${causeText(input.error.Cause)}; ${rerun}`;
    await store.snapshots.fail(snapshotId, summary);
    return { status: 'failed', snapshotId, failed: 0, summary, windows: 0, rows: 0 };
  }

  const failures = (input.failures ?? []).filter((f): f is WindowFailure => typeof (f as WindowFailure).w === 'string');
  let windows = await store.snapshots.listWindows(snapshotId);
  if (failures.length > 0) {
    const byKey = new Map(windows.map((w) => [`${w.stream}/${w.windowId}`, w]));
    for (const f of failures) {
      const stored = byKey.get(`${f.s}/${f.w}`);
      // The extractor records its own errors with their message; only fill in those it could not.
      if (stored && stored.status !== 'failed' && stored.status !== 'done') {
        await store.snapshots.markWindowFailed(snapshotId, f.s, f.w, {
          error: `${f.e}: the window's invocation failed`,
        });
      }
    }
    windows = await store.snapshots.listWindows(snapshotId);
  }
  const notDone = windows.filter((w) => w.status !== 'done');
  const rows = windows.reduce((sum, w) => sum + (w.status === 'done' ? w.rows : 0), 0);

  const errorOf = new Map(failures.map((f) => [`${f.s}/${f.w}`, f.e]));
  const failed = notDone.filter((w) => errorOf.has(`${w.stream}/${w.windowId}`));
  if (failed.length > 0) {
    const named = failed
      .slice(0, MAX_NAMED)
      .map((w) => {
        const name = errorOf.get(`${w.stream}/${w.windowId}`) ?? 'failed';
        const detail = w.error ? ` – ${causeText(w.error, 200)}` : '';
        return `stream ${w.stream} window ${w.windowId} (${name}${detail})`;
      })
      .join('; ');
    const more = failed.length > MAX_NAMED ? `; and ${failed.length - MAX_NAMED} more` : '';
    const summary = `${failed.length} window(s) failed: ${named}${more}; ${rerun}`;
    await store.snapshots.fail(snapshotId, `${operator}: ${summary}`);
    return { status: 'failed', snapshotId, failed: failed.length, summary, windows: windows.length, rows };
  }

  if ((input.remaining ?? 0) > 0) {
    const done = windows.length - notDone.length;
    return {
      status: 'continue',
      snapshotId,
      failed: 0,
      summary: `${input.remaining} window(s) remain; a new execution continues snapshot ${snapshotId}`,
      windows: windows.length,
      rows,
      // Execution names: at most 80 characters; the done count makes each round's name unique.
      nextExecutionName: `${snapshotId.slice(0, 60)}-${done}`,
    };
  }

  if (notDone.length > 0) {
    // Nothing failed in this execution, yet windows are not done: another execution works on
    // them, or they were never run. Completing now would move watermarks past missing data.
    const named = notDone
      .slice(0, MAX_NAMED)
      .map(
        (w) => `stream ${w.stream} window ${w.windowId} (${w.status}${w.error ? ` – ${causeText(w.error, 300)}` : ''})`,
      )
      .join('; ');
    const summary = `${notDone.length} window(s) are not done: ${named}${notDone.length > MAX_NAMED ? '; …' : ''}; ${rerun}`;
    await store.snapshots.fail(snapshotId, `${operator}: ${summary}`);
    return { status: 'failed', snapshotId, failed: notDone.length, summary, windows: windows.length, rows };
  }

  const { watermarks } = await store.snapshots.complete(snapshotId);
  const meta = await store.snapshots.get(snapshotId);
  await deps.acceptSchemas?.(meta?.streams ?? [], snapshotId);
  const cutoff = meta?.cutoff.toISOString() ?? '';
  const held = Object.entries(watermarks)
    .filter(([, r]) => !r.advanced && r.current && r.current.toISOString() !== cutoff)
    .map(([s]) => s);
  const nullCursorRows = meta?.nullCursorRows ?? {};
  const withNulls = Object.entries(nullCursorRows).filter(([, n]) => n > 0);
  const summary =
    `snapshot ${snapshotId} completed: ${windows.length} window(s), ${rows} row(s); incremental watermarks start at ${cutoff}` +
    (held.length > 0 ? ` (already later for ${held.join(', ')})` : '') +
    (withNulls.length > 0
      ? `; not landed: rows with a NULL cursor (${withNulls.map(([s, n]) => `${s} ${n}`).join(', ')}), see the runbook's "NULL-cursor rows"`
      : '');
  return { status: 'completed', snapshotId, failed: 0, summary, windows: windows.length, rows, nullCursorRows };
}
