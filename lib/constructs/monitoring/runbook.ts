/**
 * The runbook every alarm links: its location, the section (heading anchor) of each alarm kind, and
 * the alarm description that names the operator, the component, what broke and what to check first.
 */

/** Where the runbook lives in the repository; every alarm description links a section of it. */
export const RUNBOOK = 'docs/runbook.md';

/**
 * The link to a runbook section: `<alerts.runbookUrl>#<anchor>` when the config publishes the
 * runbook somewhere on-call can open it, else the file in the connector's repository.
 */
export function runbookLink(runbookUrl: string | undefined, anchor: string): string {
  return runbookUrl ? `${runbookUrl.replace(/#.*$/, '')}#${anchor}` : `${RUNBOOK}#${anchor}`;
}

/** Runbook section (heading anchor) of each alarm kind. */
export const RUNBOOK_ANCHORS = {
  unhealthy: 'operator-unhealthy',
  snapshotFailed: 'snapshot-failed',
  incrementalFailed: 'incremental-failed',
  syncDelayed: 'sync-delayed',
  snapshotStalled: 'snapshot-stalled',
  reconciliationMismatch: 'reconciliation-mismatch',
  functionErrors: 'function-errors',
  functionThrottles: 'function-throttles',
  scheduleDeadLetters: 'schedule-dead-letters',
  fileDropDeadLetters: 'file-drop-dead-letters',
  filesQuarantined: 'files-quarantined',
  nullCursorRows: 'null-cursor-rows',
  schemaDrift: 'schema-drift',
  lookbackTooShort: 'lookback-too-short',
  fileDropStale: 'file-drop-stale',
  sweepDeadLetters: 'sweep-dead-letters',
  publishFailed: 'publish-failed',
  publishBacklog: 'publish-backlog',
  publishScheduleDeadLetters: 'publish-schedule-dead-letters',
  keyAuditFailed: 'key-audit-failed',
  keyAuditLostRows: 'key-audit-lost-rows',
  keyAuditScheduleDeadLetters: 'key-audit-schedule-dead-letters',
  walletLedgerBreaks: 'wallet-ledger-breaks',
  walletLedgerAuditFailed: 'wallet-ledger-audit-failed',
  moneyTotalsDiffer: 'money-totals-differ',
} as const;

/** A runbook section of {@link RUNBOOK_ANCHORS}. */
export type RunbookAnchor = (typeof RUNBOOK_ANCHORS)[keyof typeof RUNBOOK_ANCHORS];

/**
 * An alarm description: operator and component, what it means, the first two things to check and
 * the runbook section. CloudWatch keeps at most 1,024 characters.
 */
export function describeAlarm(parts: {
  readonly operator: string;
  readonly component: string;
  readonly meaning: string;
  readonly checks: readonly string[];
  readonly anchor: string;
  readonly runbookUrl: string | undefined;
}): string {
  const text = `[${parts.operator}] ${parts.component}: ${parts.meaning} First check: ${parts.checks
    .map((c, i) => `(${i + 1}) ${c}`)
    .join('; ')}. Runbook: ${runbookLink(parts.runbookUrl, parts.anchor)}`;
  if (text.length > 1024) throw new Error(`alarm description of ${parts.operator} ${parts.component} is too long`);
  return text;
}
