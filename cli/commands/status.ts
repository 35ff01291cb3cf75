/**
 * `connector status <operator>`: snapshot progress per stream, watermarks, last successful runs,
 * freshness lag against each stream's SLA, the run lock and recent failures, from the operator's
 * sync-state table.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { STREAM_NAMES } from '#shared/canonical';
import type { OperatorConfig } from '#shared/config/schema';
import { type LatenessSummary, summarizeLateness } from '#shared/extract/lateness';
import { walletLedgerSettings } from '#shared/integrity/wallet-ledger';
import { INCREMENTAL_LOCK } from '#shared/state/keys';
import { type SchemaChangeRecord, SchemaLedger, type SchemaState } from '#shared/state/schemas';
import type { SnapshotMeta, SnapshotWindowRecord } from '#shared/state/snapshots';
import { SyncStateStore } from '#shared/state/store';
import { SyncStateError } from '#shared/state/table';
import type { KeyAuditRecord } from '#shared/state/watermarks';
import { awsError, clientSettings } from '../aws.ts';
import { defineCommand } from '../command.ts';
import { EXIT, formatCount, formatDuration, OPERATOR_HELP, OPERATOR_OPTIONS, printJson, UsageError } from '../io.ts';
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
run), the late arrivals the lookback caught (count and lateness distribution per stream, and the
lookback they suggest), whether runs were held behind open transactions (PostgreSQL), whether an
incremental run holds the lock, recent failures, the money totals reconciliation per stream (the
last window checked and the last whose per-currency totals differed, with the manifest holding
them), and the last wallet ledger audit (breaks in balance_after continuity, with the report that
holds the examples).

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
rows with a NULL cursor, a stream failing on schema drift, wallet ledger breaks in the last audit), 2 usage error, 4 the table cannot be read.`;

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
  /**
   * Late arrivals caught by the lookback over the measured incremental runs: rows, quantiles of the
   * lateness (upper bounds of histogram buckets, seconds), maximum, and the lookback it suggests.
   * Null before the first measured run (database streams only).
   */
  readonly lateness: LatenessSummary | null;
  /** PostgreSQL: the last run's open-transaction check (held back by how much, and what it could see). */
  readonly holdback: { runId: string; at: string; heldBackSeconds: number; visibility: 'all' | 'own' } | null;
  /** The last schema drift found in the stream's source table (or file header); null when none was. */
  readonly schemaDrift: StreamSchemaDrift | null;
  /** The stream's last key audit (counts only); null before any. */
  readonly keyAudit: KeyAuditRecord | null;
  /**
   * Money totals reconciliation: the last window checked and the last whose totals differed (the
   * totals are in the manifest named); null for streams without money totals or before any window.
   */
  readonly moneyTotals: {
    readonly last: MoneyTotalsStatus;
    readonly lastMismatch: MoneyTotalsStatus | null;
  } | null;
}

/** One window's money totals reconciliation, as `connector status` shows it. */
export interface MoneyTotalsStatus {
  readonly runId: string;
  readonly windowId: string;
  readonly at: string;
  readonly mismatches: number;
  readonly manifestKey: string;
}

/** The last schema drift of a stream, as `connector status` shows it. */
export interface StreamSchemaDrift {
  readonly at: string;
  /** The snapshot, incremental run or file that found it. */
  readonly runId: string;
  /** `schema.table`, or the file's key. */
  readonly source: string;
  /** Each drifted column in words (names and types, what to change in config). */
  readonly changes: readonly string[];
  /** Whether it failed the stream. */
  readonly failed: boolean;
  /** Whether a later run succeeded with the columns as they are now (the drift is behind the stream). */
  readonly resolved: boolean;
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
  schemas?: SchemaLedger,
): Promise<OperatorStatus> {
  const streams = STREAM_NAMES.filter((s) => config.streams[s]);
  const states = await store.watermarks.getStates(streams);
  const schemaStates = schemas ? await schemas.getMany(streams) : [];
  const pointer = await store.snapshots.getCurrent();
  const meta = pointer ? await store.snapshots.get(pointer.currentSnapshotId) : undefined;
  const windows: SnapshotWindowRecord[] = meta ? await store.snapshots.listWindows(meta.snapshotId) : [];
  const lock = await store.locks.get(INCREMENTAL_LOCK);
  const wallet = walletLedgerSettings(config).enabled ? await store.walletAudit.get() : undefined;
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
      schemaDrift: schemaDriftOf(schemaStates[i]),
      lateness:
        state.lateness && config.source.type !== 'files' ? summarizeLateness(state.lateness, config.incremental) : null,
      holdback: state.holdback ? { ...state.holdback, at: state.holdback.at.toISOString() } : null,
      keyAudit: state.keyAudit ?? null,
      moneyTotals: state.moneyTotals
        ? {
            last: { ...state.moneyTotals.last, at: state.moneyTotals.last.at.toISOString() },
            lastMismatch: state.moneyTotals.lastMismatch
              ? { ...state.moneyTotals.lastMismatch, at: state.moneyTotals.lastMismatch.at.toISOString() }
              : null,
          }
        : null,
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
      out.every(
        (s) =>
          !s.late &&
          !s.nullCursorRows &&
          !(s.schemaDrift?.failed && !s.schemaDrift.resolved) &&
          !s.lateness?.nearLookback &&
          s.keyAudit?.status !== 'failed' &&
          !s.moneyTotals?.last.mismatches,
      ) &&
      !wallet?.breaks,
  };
}

function schemaDriftOf(state: SchemaState | undefined): StreamSchemaDrift | null {
  const drift = state?.lastDrift;
  if (!drift) return null;
  const accepted = state.accepted;
  return {
    at: drift.at.toISOString(),
    runId: drift.runId,
    source: drift.source,
    changes: drift.changes.map(describeRecordedChange),
    failed: drift.failed,
    resolved: drift.failed && accepted !== undefined && accepted.runId !== drift.runId && accepted.at >= drift.at,
  };
}

/** A recorded change in words (as the run described it, with the fix for a failing one). */
function describeRecordedChange(c: SchemaChangeRecord): string {
  const types = c.from && c.to ? `${c.from} → ${c.to}` : (c.to ?? c.from);
  const fields = c.fields?.length ? ` (field ${c.fields.join(', ')})` : '';
  const renamed = c.renamedTo ? `, new column ${c.renamedTo} looks like its new name` : '';
  return `${c.column}${fields}: ${c.change}${types ? ` ${types}` : ''}${renamed}${c.fix ? ` – ${c.fix}` : ''}`;
}

/** One line of a stream's last key audit: what it compared, found and repaired, or why it failed. */
export function formatKeyAudit(a: KeyAuditRecord): string {
  if (a.status === 'failed')
    return `FAILED at ${a.at} (${a.runId}): ${a.error ?? 'no reason recorded'}; see docs/runbook.md#key-audit-failed`;
  const n = (v: number | undefined) => formatCount(v ?? 0);
  return (
    `${a.at} (${a.runId}): ${n(a.sourceKeys)} source keys vs ${n(a.lakeKeys)} lake keys in ${n(a.bucketsCompared)} buckets, ` +
    `${n(a.deletesDetected)} deleted (tombstoned), ${n(a.rowsRepaired)} lost rows re-extracted${a.rowsRepaired ? ' LOST ROWS' : ''}, ` +
    `${n(a.pendingKeys)} pending, ${n(a.outOfScopeKeys)} out of scope`
  );
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
  const drifted = s.streams.filter((x) => x.schemaDrift);
  if (drifted.length > 0) {
    lines.push('', 'Schema drift (see docs/runbook.md#schema-drift):');
    for (const x of drifted) {
      const d = x.schemaDrift!;
      const state = d.failed ? (d.resolved ? 'failed the stream, resolved since' : 'FAILS THE STREAM') : 'reported';
      lines.push(`  ${x.stream}: ${d.source} at ${d.at} by ${d.runId} (${state}): ${d.changes.join('; ')}`);
    }
  }
  const measured = s.streams.filter((x) => x.lateness);
  if (measured.length > 0) {
    const bound = (v: number | null) => (v === null ? '-' : `≤ ${formatDuration(v)}`);
    lines.push('', 'Late arrivals (rows committed after a run had read past their cursor, caught by the lookback):');
    for (const x of measured) {
      const l = x.lateness!;
      lines.push(
        `  ${x.stream}: ${formatCount(l.rows)} row(s) over ${formatCount(l.runs)} measured run(s)` +
          (l.rows > 0
            ? `; lateness p50 ${bound(l.p50)}, p90 ${bound(l.p90)}, p99 ${bound(l.p99)}, max ${formatDuration(l.maxSeconds)}` +
              (l.shareOfLookback === null ? '' : ` (${Math.round(l.shareOfLookback * 100)}% of the lookback)`) +
              (l.nearLookback
                ? ` NEAR THE LOOKBACK: set incremental.lookbackMinutes to at least ${l.recommendedLookbackMinutes} (docs/runbook.md#lookback-too-short)`
                : '')
            : ''),
      );
    }
  }
  const held = s.streams.filter((x) => x.holdback);
  if (held.length > 0) {
    lines.push('', 'Open transactions (PostgreSQL), at the last run:');
    for (const x of held) {
      const h = x.holdback!;
      lines.push(
        `  ${x.stream}: ${h.heldBackSeconds > 0 ? `range end held back ${formatDuration(h.heldBackSeconds)} behind an open transaction` : 'not held back'} (${h.runId}, ${h.at})` +
          (h.visibility === 'own'
            ? '; the connector user sees only its own sessions: GRANT pg_read_all_stats (connector grant-sql)'
            : ''),
      );
    }
  }
  const audited = s.streams.filter((x) => x.keyAudit);
  if (audited.length > 0) {
    lines.push('', 'Key audit (last per stream):');
    for (const x of audited) lines.push(`  ${x.stream}: ${formatKeyAudit(x.keyAudit!)}`);
  }
  const totalled = s.streams.filter((x) => x.moneyTotals);
  if (totalled.length > 0) {
    lines.push('', 'Money totals per currency, source vs lake (per window):');
    for (const x of totalled) {
      const { last, lastMismatch } = x.moneyTotals!;
      const checked = `last window ${last.runId}/${last.windowId} (${last.at})`;
      const line =
        last.mismatches > 0
          ? `${checked}: ${formatCount(last.mismatches)} ${last.mismatches === 1 ? 'TOTAL DIFFERS' : 'TOTALS DIFFER'}; totals in ${last.manifestKey}; see docs/runbook.md#money-totals-differ`
          : `${checked}: equal${lastMismatch ? `; last difference ${lastMismatch.runId}/${lastMismatch.windowId} (${lastMismatch.at}, ${formatCount(lastMismatch.mismatches)}) in ${lastMismatch.manifestKey}` : ''}`;
      lines.push(`  ${x.stream}: ${line}`);
    }
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

export const statusCommand = defineCommand({
  name: 'status',
  summary: 'snapshot progress, watermarks, freshness and failures from the sync state',
  help: HELP,
  options: {
    ...OPERATOR_OPTIONS,
    table: { type: 'string' },
    json: { type: 'boolean' },
    watch: { type: 'boolean' },
    interval: { type: 'string' },
  },
  async run({ values, io, operator }) {
    const { config } = operator();
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
    const client = new DynamoDBClient(clientSettings(config.region, io, 'DYNAMODB'));
    try {
      const doc = DynamoDBDocumentClient.from(client);
      const store = new SyncStateStore(doc, table);
      const schemas = new SchemaLedger(doc, table);
      for (;;) {
        let status: OperatorStatus;
        try {
          status = await readStatus(store, config, new Date(), schemas);
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
});
