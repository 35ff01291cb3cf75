/**
 * `connector status <operator>`: snapshot progress per stream, watermarks, last successful runs,
 * freshness lag against each stream's SLA, the run lock and recent failures, from the operator's
 * sync-state table.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { STREAM_NAMES } from '#shared/canonical';
import type { OperatorConfig } from '#shared/config/schema';
import { walletLedgerSettings } from '#shared/integrity/wallet-ledger';
import { INCREMENTAL_LOCK } from '#shared/state/keys';
import { type SnapshotMeta, SyncStateError, SyncStateStore, type WindowProgress } from '#shared/state/store';
import { awsError } from '../aws.ts';
import {
  type CliIo,
  type Command,
  EXIT,
  type ExitCode,
  formatCount,
  formatDuration,
  OPERATOR_HELP,
  OPERATOR_OPTIONS,
  parse,
  printJson,
  UsageError,
} from '../io.ts';
import { findOperator } from '../operator.ts';
import { operatorStack, STACK_OUTPUTS, stackOutput } from '../stack.ts';

/** Waits `ms`; false when the process was interrupted meanwhile (SIGINT). */
function sleep(ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const onSigint = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      process.off('SIGINT', onSigint);
      resolve(true);
    }, ms);
    process.once('SIGINT', onSigint);
  });
}

const HELP = `Usage: connector status <operator> [--table NAME] [--watch [--interval S]] [--json]

Shows, from the operator's sync-state table (DynamoDB): the current snapshot and its progress per
stream (windows done/total, rows), each stream's watermark, last successful run and freshness lag
against its SLA, rows with a NULL cursor (never landed; counted by each snapshot and incremental
run), whether an incremental run holds the lock, recent failures, and the last wallet ledger audit
(breaks in balance_after continuity, with the report that holds the examples).

Options:
  --table NAME   sync-state table (default: CONNECTOR_SYNC_STATE_TABLE, else the stack output
                 SyncStateTableName, read with CloudFormation)
  --watch        refresh until interrupted (Ctrl-C)
  --interval S   seconds between refreshes with --watch (default 10)
  --json         print the status as JSON (one object per refresh with --watch)
  -h, --help     show this help

AWS_ENDPOINT_URL_DYNAMODB (or AWS_ENDPOINT_URL) points the client at another endpoint, e.g. dynalite.

${OPERATOR_HELP}

Exit codes: 0 healthy, 1 problems found (failed snapshot or windows, a stream over its freshness SLA,
rows with a NULL cursor, wallet ledger breaks in the last audit), 2 usage error, 4 the table cannot be read.`;

/** Progress of one stream in the current snapshot. */
export interface StreamSnapshotProgress {
  readonly done: number;
  readonly total: number;
  readonly failed: number;
  readonly running: number;
  readonly rows: number;
}

/** The status of one stream. */
export interface StreamStatus {
  readonly stream: string;
  readonly snapshot?: StreamSnapshotProgress;
  readonly watermark: string | null;
  readonly lastSuccessAt: string | null;
  readonly lastRunId: string | null;
  readonly lastRowCount: number | null;
  /** Seconds between the watermark and now. */
  readonly freshnessLagSeconds: number | null;
  readonly freshnessSlaMinutes: number;
  readonly late: boolean;
  /** Rows of the stream's table whose cursor is NULL (not landed) at the last count; null before any. */
  readonly nullCursorRows: number | null;
  /** When and by which snapshot or incremental run they were counted. */
  readonly nullCursorCountedAt: string | null;
  readonly nullCursorRunId: string | null;
}

export interface OperatorStatus {
  readonly operatorId: string;
  readonly stage: string;
  readonly table: string;
  readonly at: string;
  readonly snapshot:
    | (Omit<SnapshotMeta, 'cutoff' | 'startedAt' | 'completedAt' | 'failedAt'> & {
        cutoff: string;
        startedAt: string;
        completedAt?: string;
        failedAt?: string;
      })
    | null;
  readonly lastCompletedSnapshotId: string | null;
  readonly incrementalLock: { owner: string; acquiredAt: string; expiresAt: string } | null;
  readonly streams: readonly StreamStatus[];
  readonly failures: readonly { stream: string; windowId: string; attempts: number; error: string; at: string }[];
  /** The last wallet ledger audit (null: none ran yet, or the audit is off). */
  readonly walletLedger: {
    readonly auditedAt: string;
    readonly breaks: number;
    readonly windows: number;
    readonly publish: string;
    readonly report: string | null;
  } | null;
  readonly ok: boolean;
}

const iso = (d: Date | undefined): string | null => (d ? d.toISOString() : null);

/** Reads the status of an operator from its sync-state store. */
export async function readStatus(
  store: SyncStateStore,
  config: OperatorConfig,
  now = new Date(),
): Promise<OperatorStatus> {
  const streams = STREAM_NAMES.filter((s) => config.streams[s]);
  const states = await store.getStreamStates(streams);
  const pointer = await store.getCurrentSnapshot();
  const meta = pointer ? await store.getSnapshot(pointer.currentSnapshotId) : undefined;
  const windows: WindowProgress[] = meta ? await store.listWindows(meta.snapshotId) : [];
  const lock = await store.getLock(INCREMENTAL_LOCK);
  const wallet = walletLedgerSettings(config).enabled ? await store.getWalletAudit() : undefined;
  const lockActive = lock && lock.expiresAt * 1000 > now.getTime() ? lock : undefined;
  const out: StreamStatus[] = streams.map((stream, i) => {
    const state = states[i]!;
    const own = windows.filter((w) => w.stream === stream);
    const sla = config.streams[stream]?.freshnessSlaMinutes ?? config.alerts.defaultFreshnessSlaMinutes;
    const lag = state.watermark ? (now.getTime() - state.watermark.getTime()) / 1000 : null;
    return {
      stream,
      ...(meta
        ? {
            snapshot: {
              done: own.filter((w) => w.status === 'done').length,
              total: own.length,
              failed: own.filter((w) => w.status === 'failed').length,
              running: own.filter((w) => w.status === 'running').length,
              rows: own.reduce((n, w) => n + w.rows, 0),
            },
          }
        : {}),
      watermark: iso(state.watermark),
      lastSuccessAt: iso(state.lastSuccessAt),
      lastRunId: state.lastRunId ?? null,
      lastRowCount: state.lastRowCount ?? null,
      freshnessLagSeconds: lag === null ? null : Math.round(lag),
      freshnessSlaMinutes: sla,
      late: lag !== null && lag > sla * 60,
      nullCursorRows: state.nullCursorRows ?? null,
      nullCursorCountedAt: iso(state.nullCursorCountedAt),
      nullCursorRunId: state.nullCursorRunId ?? null,
    };
  });
  const failures = windows
    .filter((w) => w.status === 'failed')
    .sort((a, b) => b.updatedAt.getTime() - a.updatedAt.getTime())
    .slice(0, 10)
    .map((w) => ({
      stream: w.stream,
      windowId: w.windowId,
      attempts: w.attempts,
      error: w.error ?? '',
      at: w.updatedAt.toISOString(),
    }));
  const snapshot = meta
    ? {
        snapshotId: meta.snapshotId,
        status: meta.status,
        streams: meta.streams,
        windowCount: meta.windowCount,
        ...(meta.error ? { error: meta.error } : {}),
        cutoff: meta.cutoff.toISOString(),
        startedAt: meta.startedAt.toISOString(),
        ...(meta.completedAt ? { completedAt: meta.completedAt.toISOString() } : {}),
        ...(meta.failedAt ? { failedAt: meta.failedAt.toISOString() } : {}),
      }
    : null;
  return {
    operatorId: config.operatorId,
    stage: config.stage,
    table: store.tableName,
    at: now.toISOString(),
    snapshot,
    lastCompletedSnapshotId: pointer?.lastCompletedSnapshotId ?? null,
    incrementalLock: lockActive
      ? {
          owner: lockActive.owner,
          acquiredAt: lockActive.acquiredAt.toISOString(),
          expiresAt: new Date(lockActive.expiresAt * 1000).toISOString(),
        }
      : null,
    streams: out,
    failures,
    walletLedger: wallet
      ? {
          auditedAt: wallet.auditedAt.toISOString(),
          breaks: wallet.breaks,
          windows: wallet.windows,
          publish: wallet.publish,
          report: wallet.report ?? null,
        }
      : null,
    ok:
      meta?.status !== 'failed' &&
      failures.length === 0 &&
      out.every((s) => !s.late && !s.nullCursorRows) &&
      !wallet?.breaks,
  };
}

/** The status as text. */
export function formatStatus(s: OperatorStatus): string {
  const lines = [`${s.operatorId} (${s.stage}), sync state ${s.table}, at ${s.at}`, ''];
  if (s.snapshot) {
    const done = s.streams.reduce((n, x) => n + (x.snapshot?.done ?? 0), 0);
    lines.push(
      `Snapshot ${s.snapshot.snapshotId}: ${s.snapshot.status}, ${done}/${s.snapshot.windowCount} windows done, cutoff ${s.snapshot.cutoff}, started ${s.snapshot.startedAt}${s.snapshot.completedAt ? `, completed ${s.snapshot.completedAt}` : ''}`,
    );
    if (s.snapshot.error) lines.push(`  error: ${s.snapshot.error}`);
  } else {
    lines.push('No snapshot yet: start one with `connector snapshot`.');
  }
  if (s.lastCompletedSnapshotId && s.lastCompletedSnapshotId !== s.snapshot?.snapshotId) {
    lines.push(`Last completed snapshot: ${s.lastCompletedSnapshotId}`);
  }
  lines.push(
    s.incrementalLock
      ? `Incremental run in progress (lock held by ${s.incrementalLock.owner} since ${s.incrementalLock.acquiredAt})`
      : 'No incremental run in progress.',
    '',
  );
  const header = ['stream', 'snapshot', 'rows', 'watermark', 'lag', 'SLA', 'last success', 'last rows', 'null cursor'];
  const rows = s.streams.map((x) => [
    x.stream,
    x.snapshot?.total
      ? `${x.snapshot.done}/${x.snapshot.total}${x.snapshot.failed ? ` (${x.snapshot.failed} failed)` : ''}`
      : '-',
    x.snapshot?.total ? formatCount(x.snapshot.rows) : '-',
    x.watermark ?? '-',
    x.freshnessLagSeconds === null ? '-' : `${formatDuration(x.freshnessLagSeconds)}${x.late ? ' LATE' : ''}`,
    `${x.freshnessSlaMinutes}m`,
    x.lastSuccessAt ?? '-',
    x.lastRowCount === null ? '-' : formatCount(x.lastRowCount),
    x.nullCursorRows === null ? '-' : `${formatCount(x.nullCursorRows)}${x.nullCursorRows > 0 ? ' NOT LANDED' : ''}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  lines.push(fmt(header), ...rows.map(fmt));
  const withNulls = s.streams.filter((x) => x.nullCursorRows);
  if (withNulls.length > 0) {
    lines.push(
      '',
      `Rows with a NULL cursor are never landed (${withNulls.map((x) => `${x.stream}: ${formatCount(x.nullCursorRows ?? 0)}, counted ${x.nullCursorCountedAt} by ${x.nullCursorRunId}`).join('; ')}).`,
      '  The operator gives them a cursor value; see docs/runbook.md#null-cursor-rows.',
    );
  }
  if (s.walletLedger) {
    const w = s.walletLedger;
    lines.push(
      '',
      w.breaks > 0
        ? `Wallet ledger: ${formatCount(w.breaks)} ${w.breaks === 1 ? 'BREAK' : 'BREAKS'} in the last audit (${w.auditedAt}, publish ${w.publish}, ${formatCount(w.windows)} windows' players); examples in ${w.report ?? 'no report'}; see docs/runbook.md#wallet-ledger-breaks.`
        : `Wallet ledger: no break in the last audit (${w.auditedAt}, publish ${w.publish}, ${formatCount(w.windows)} windows' players).`,
    );
  }
  if (s.failures.length > 0) {
    lines.push('', 'Recent failures:');
    for (const f of s.failures) lines.push(`  ${f.at} ${f.stream}/${f.windowId} (attempt ${f.attempts}): ${f.error}`);
    lines.push(
      `  Resume the snapshot (only windows not done run again): connector snapshot ${s.operatorId} --resume ${s.snapshot?.snapshotId ?? '<id>'}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'snapshot progress, watermarks, freshness and failures from the sync state',
  help: HELP,
  async run(args: readonly string[], io: CliIo): Promise<ExitCode> {
    const { values, positionals } = parse('status', args, {
      ...OPERATOR_OPTIONS,
      table: { type: 'string' },
      json: { type: 'boolean' },
      watch: { type: 'boolean' },
      interval: { type: 'string' },
    });
    if (values.help) {
      io.out(`${HELP}\n`);
      return EXIT.ok;
    }
    const { config } = findOperator('status', { ...values, operator: positionals[0] }, io);
    const interval = values.interval === undefined ? 10 : Number(values.interval);
    if (!Number.isInteger(interval) || interval < 1 || interval > 3600) {
      throw new UsageError(
        `status: --interval must be a whole number of seconds from 1 to 3600, got ${values.interval}`,
      );
    }
    if (values.interval !== undefined && !values.watch) throw new UsageError('status: --interval goes with --watch');
    const table =
      values.table ??
      io.env.CONNECTOR_SYNC_STATE_TABLE ??
      stackOutput(await operatorStack(config, io, 'status'), STACK_OUTPUTS.syncStateTable, 'status');
    const endpoint = io.env.AWS_ENDPOINT_URL_DYNAMODB ?? io.env.AWS_ENDPOINT_URL;
    const client = new DynamoDBClient({ region: config.region, ...(endpoint ? { endpoint } : {}) });
    try {
      const store = new SyncStateStore(DynamoDBDocumentClient.from(client), table);
      for (;;) {
        let status: OperatorStatus;
        try {
          status = await readStatus(store, config);
        } catch (e) {
          throw awsError(`reading sync-state table ${table}`, e instanceof SyncStateError ? (e.cause ?? e) : e);
        }
        if (values.json && values.watch) io.out(`${JSON.stringify(status)}\n`);
        else if (values.json) printJson(io, status);
        else io.out(`${values.watch && io.interactive ? '\x1b[2J\x1b[H' : ''}${formatStatus(status)}`);
        if (!values.watch) return status.ok ? EXIT.ok : EXIT.problems;
        if (!values.json) io.out(`\n(refreshing every ${interval} s; Ctrl-C to stop)\n\n`);
        if (!(await (io.sleep ?? sleep)(interval * 1000))) return status.ok ? EXIT.ok : EXIT.problems;
      }
    } finally {
      client.destroy();
    }
  },
};
