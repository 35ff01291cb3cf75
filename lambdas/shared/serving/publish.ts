/**
 * Publishing: merging the backlog of committed windows into the serving tables, one MERGE per batch
 * (see sql.ts), run by the Publish state machine through Athena.
 *
 * **Plan** ({@link planPublish}): takes the operator's publish lock (one publish at a time: two MERGEs
 * into one Iceberg table would conflict at commit; a publish that finds the lock taken does
 * nothing, and the next one publishes the backlog), reads each stream's backlog, drops entries whose
 * window never committed once older than the grace period, and groups the committed ones into
 * batches whose windows the landed table's injected partitions read exactly: one run with several
 * windows (a snapshot), or several runs with one window id (incremental runs, file runs). Batches
 * of one stream run one after another; streams run in parallel. The batch list is stored in the
 * sync-state table for the end step.
 *
 * **End** ({@link endPublish}): removes the entries of the batches that merged, keeps those that
 * failed (the next publish retries them), releases the lock and says what happened. Publishing
 * never touches watermarks or landed data: a failed publish leaves the backlog for the next one.
 */
import { isStreamName, type StreamName } from '../canonical.ts';
import type { OperatorConfig } from '../config/schema.ts';
import { PUBLISH_LOCK_TTL_SECONDS } from '../contracts/locks.ts';
import type {
  EndPublishInput,
  EndPublishResult,
  MergeSource,
  PlanPublishResult,
  PublishStatement,
} from '../contracts/steps.ts';
import { DEFAULT_STRAY_GRACE_HOURS } from '../landing/sweep.ts';
import { COMMITTED_LIST_NAME, committedWindowPrefix } from '../layout.ts';
import type { ObjectSink } from '../sink/sink.ts';
import { PUBLISH_LOCK } from '../state/keys.ts';
import type { PendingPublication, PlannedBatch, PublicationLedger } from '../state/publications.ts';
import type { SyncStateStore } from '../state/store.ts';
import { unionRange } from './backlog.ts';
import { mergeStatement } from './sql.ts';

/** Windows (or runs) one MERGE reads at most. */
export const MAX_WINDOWS_PER_BATCH = 400;
/** Windows one publish plans at most (execution payload); the rest wait for the next round. */
export const MAX_WINDOWS_PER_PLAN = 1500;

export interface PublishDeps {
  readonly config: OperatorConfig;
  /** The operator's Glue database (Athena's default database of the statements). */
  readonly database: string;
  readonly store: Pick<SyncStateStore, 'locks'>;
  readonly ledger: PublicationLedger;
  /** The landing bucket (to check which registered windows committed). */
  readonly sink: Pick<ObjectSink, 'listKeys'>;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/** The streams an operator publishes: every configured stream (from its database or its file drop). */
export function publishedStreams(config: OperatorConfig): StreamName[] {
  return Object.keys(config.streams).filter(isStreamName);
}

/** Groups committed windows into batches the injected partitions read exactly (see the module doc). */
export function groupBatches(entries: readonly PendingPublication[]): PendingPublication[][] {
  const byWindow = new Map<string, PendingPublication[]>();
  for (const e of entries) byWindow.set(e.windowId, [...(byWindow.get(e.windowId) ?? []), e]);
  const batches: PendingPublication[][] = [];
  const rest: PendingPublication[] = [];
  for (const group of byWindow.values()) {
    if (group.length > 1) batches.push(group);
    else rest.push(group[0]!);
  }
  const byRun = new Map<string, PendingPublication[]>();
  for (const e of rest) byRun.set(e.runId, [...(byRun.get(e.runId) ?? []), e]);
  batches.push(...byRun.values());
  const chunked: PendingPublication[][] = [];
  for (const batch of batches) {
    for (let i = 0; i < batch.length; i += MAX_WINDOWS_PER_BATCH)
      chunked.push(batch.slice(i, i + MAX_WINDOWS_PER_BATCH));
  }
  return chunked;
}

const distinct = (values: readonly string[]) => [...new Set(values)];

/** Which registered windows committed: one listing of the committed lists per run. */
async function committedOf(
  sink: Pick<ObjectSink, 'listKeys'>,
  stream: StreamName,
  entries: readonly PendingPublication[],
): Promise<Set<string>> {
  const committed = new Set<string>();
  for (const runId of distinct(entries.map((e) => e.runId))) {
    const prefix = committedWindowPrefix(stream, runId, 'x').slice(0, -'x/'.length);
    for (const key of await sink.listKeys(prefix)) {
      if (!key.endsWith(`/${COMMITTED_LIST_NAME}`)) continue;
      const windowId = key.slice(prefix.length, -`/${COMMITTED_LIST_NAME}`.length);
      committed.add(`${runId}#${windowId}`);
    }
  }
  return committed;
}

/** Plans a publish (see the module doc). `owner` is the publish execution's name. */
export async function planPublish(deps: PublishDeps, owner: string): Promise<PlanPublishResult> {
  const { config, store, ledger } = deps;
  const now = (deps.now ?? (() => new Date()))();
  if (!(await store.locks.acquire(PUBLISH_LOCK, owner, PUBLISH_LOCK_TTL_SECONDS))) {
    const holder = (await store.locks.get(PUBLISH_LOCK))?.owner ?? 'unknown';
    return {
      status: 'locked',
      holder,
      reason: `operator ${config.operatorId}: publish ${holder} is still running; the next publish takes the backlog`,
    };
  }
  const graceMs = DEFAULT_STRAY_GRACE_HOURS * 3_600_000;
  let oldest = now.getTime();
  let abandoned = 0;
  let planned = 0;
  let remaining = 0;
  const streams: { stream: StreamName; statements: PublishStatement[] }[] = [];
  const batches: PlannedBatch[] = [];
  for (const stream of publishedStreams(config)) {
    const pending = await ledger.pending(stream);
    if (pending.length === 0) continue;
    const committed = await committedOf(deps.sink, stream, pending);
    const ready: PendingPublication[] = [];
    const dropped: PendingPublication[] = [];
    for (const e of pending) {
      if (committed.has(`${e.runId}#${e.windowId}`)) ready.push(e);
      else if (now.getTime() - e.registeredAt.getTime() > graceMs) dropped.push(e);
      else oldest = Math.min(oldest, e.registeredAt.getTime());
    }
    if (dropped.length > 0) await ledger.remove(dropped);
    abandoned += dropped.length;
    const statements: PublishStatement[] = [];
    for (const group of groupBatches(ready)) {
      oldest = Math.min(oldest, ...group.map((e) => e.registeredAt.getTime()));
      if (planned + group.length > MAX_WINDOWS_PER_PLAN) {
        remaining += group.length;
        continue;
      }
      planned += group.length;
      const id = `${stream}-${batches.length + 1}`;
      const batch: PlannedBatch = {
        id,
        stream,
        runIds: distinct(group.map((e) => e.runId)),
        windowIds: distinct(group.map((e) => e.windowId)),
      };
      batches.push(batch);
      const partition = unionRange(group.map((e) => e.partition));
      statements.push({
        id,
        stream,
        sql: mergeStatement({
          config,
          stream,
          database: deps.database,
          source: { runIds: batch.runIds, windowIds: batch.windowIds },
          ...(partition ? { partition } : {}),
        }),
      });
    }
    if (statements.length > 0) streams.push({ stream, statements });
  }
  const backlogAgeSeconds = Math.max(0, Math.round((now.getTime() - oldest) / 1000));
  if (batches.length === 0) {
    await store.locks.release(PUBLISH_LOCK, owner);
    return { status: 'empty', owner, abandoned, backlogAgeSeconds };
  }
  await ledger.savePlan(owner, batches, now);
  return { status: 'planned', owner, streams, windows: planned, remaining, abandoned, backlogAgeSeconds };
}

const MAX_CAUSE = 300;

function causeText(cause: string | undefined): string {
  if (!cause) return '';
  let text = cause;
  try {
    const parsed = JSON.parse(cause) as {
      errorMessage?: unknown;
      QueryExecution?: { Status?: { StateChangeReason?: unknown } };
    };
    if (typeof parsed.errorMessage === 'string') text = parsed.errorMessage;
    else if (typeof parsed.QueryExecution?.Status?.StateChangeReason === 'string')
      text = parsed.QueryExecution.Status.StateChangeReason;
  } catch {
    // Not JSON: keep the text.
  }
  return text.length > MAX_CAUSE ? `${text.slice(0, MAX_CAUSE)}…` : text;
}

/** Ends a publish (see the module doc). */
export async function endPublish(
  deps: Pick<PublishDeps, 'config' | 'store' | 'ledger'>,
  input: EndPublishInput,
): Promise<EndPublishResult> {
  const { config, store, ledger } = deps;
  const plan = (await ledger.loadPlan(input.owner)) ?? [];
  const outcomes = new Map((input.results ?? []).flat().map((o) => [o.id, o]));
  let published = 0;
  let scannedBytes = 0;
  const failures: string[] = [];
  const walletSources: MergeSource[] = [];
  for (const batch of plan) {
    const outcome = outcomes.get(batch.id);
    const entries = batch.runIds.flatMap((runId) =>
      batch.windowIds.map((windowId) => ({ stream: batch.stream, runId, windowId })),
    );
    if (outcome?.status === 'merged') {
      await ledger.remove(entries);
      published += entries.length;
      scannedBytes += outcome.scannedBytes ?? 0;
      if (batch.stream === 'wallet_transactions') {
        walletSources.push({ runIds: batch.runIds, windowIds: batch.windowIds });
      }
    } else {
      const runs =
        batch.runIds.length > 3
          ? `${batch.runIds.slice(0, 3).join(', ')} and ${batch.runIds.length - 3} more`
          : batch.runIds.join(', ');
      const why = outcome
        ? `${outcome.error ?? 'error'}${outcome.cause ? `: ${causeText(outcome.cause)}` : ''}`
        : 'not run';
      failures.push(`stream ${batch.stream} run(s) ${runs} (${entries.length} window(s)): ${why}`);
    }
  }
  if (input.error && plan.length === 0) {
    failures.push(`${input.error.Error ?? 'error'}: ${causeText(input.error.Cause)}`);
  }
  await ledger.deletePlan(input.owner);
  await store.locks.release(PUBLISH_LOCK, input.owner);
  const summary =
    failures.length > 0
      ? `operator ${config.operatorId}: publishing failed for ${failures.join('; ')}; the windows stay in the backlog for the next publish`
      : `operator ${config.operatorId}: published ${published} window(s) into the serving tables`;
  return {
    published,
    failed: failures.length,
    summary,
    scannedBytes,
    walletSources,
    walletWindows: walletSources.reduce((n, s) => n + s.runIds.length * s.windowIds.length, 0),
  };
}
