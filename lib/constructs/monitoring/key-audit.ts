/**
 * The alarms of the key audit: a failed audit (the function's KeyAuditFailed, or an execution that
 * failed before it could report) and an audit that found rows missing from the lake
 * (KeyAuditRepaired). Both per stream stay in ALARM until that stream's next audit reports
 * otherwise (missing data ignored: audits run daily).
 */
import { METRICS } from '#shared/contracts/metrics';
import { type AlarmFactory, ANY_IN_ONE_PERIOD, ANY_KEEPING_STATE, pascal } from './alarm-factory.ts';
import type { MonitoredKeyAudit } from './props.ts';
import { RUNBOOK_ANCHORS } from './runbook.ts';

/** Every alarm of the key audit, in the order the health alarm lists them. */
export function keyAuditAlarms(alarms: AlarmFactory, keyAudit: MonitoredKeyAudit): void {
  const { name, period } = alarms;
  alarms.add(
    'KeyAuditExecutionFailed',
    'critical',
    'key-audit state machine',
    RUNBOOK_ANCHORS.keyAuditFailed,
    'key audit execution failed',
    'An execution of the key-audit state machine failed, timed out or was aborted: a stream was not audited, or what the audit landed was not published.',
    [
      `aws stepfunctions list-executions --state-machine-arn <${name}-key-audit> --status-filter FAILED --max-items 5`,
      `Logs Insights on /connector/${name}/key-audit: filter level = "ERROR"`,
    ],
    alarms.executionsFailed(keyAudit.stateMachine, 'key-audit executions failed, timed out or aborted'),
    ANY_IN_ONE_PERIOD,
  );
  const status = `connector status ${name.replace(/-(sandbox|production)$/, '')} (the last key audit per stream)`;
  for (const stream of keyAudit.streams) {
    alarms.add(
      `KeyAuditFailed${pascal(stream)}`,
      'critical',
      `stream ${stream}`,
      RUNBOOK_ANCHORS.keyAuditFailed,
      `${stream} key audit failed`,
      `The key audit of ${stream} failed: deletes at the source and rows missing from the lake are not being detected. In ALARM until an audit of the stream completes.`,
      [status, `Logs Insights on /connector/${name}/key-audit: filter stream = "${stream}" and level = "ERROR"`],
      alarms.metrics.metric(METRICS.keyAuditFailed, 'Maximum', period, stream),
      ANY_KEEPING_STATE,
    );
    alarms.add(
      `KeyAuditLostRows${pascal(stream)}`,
      'warning',
      `stream ${stream}`,
      RUNBOOK_ANCHORS.keyAuditLostRows,
      `${stream} rows lost from the lake`,
      `The key audit of ${stream} found rows at the source that the lake had lost, and re-extracted them: something removed or never landed them (a commit later than the lookback, a manual deletion). In ALARM until an audit of the stream finds none.`,
      [status, `Logs Insights on /connector/${name}/key-audit: filter stream = "${stream}" and rowsRepaired > 0`],
      alarms.metrics.metric(METRICS.keyAuditRepaired, 'Maximum', period, stream),
      ANY_KEEPING_STATE,
    );
  }
  alarms.functionAlarms(keyAudit.function, 'key-audit');
  alarms.queueNotEmpty(
    'KeyAuditScheduleDeadLetters',
    keyAudit.scheduleDeadLetterQueue,
    'key-audit schedule',
    RUNBOOK_ANCHORS.keyAuditScheduleDeadLetters,
    'key audit schedule dead letters',
    'EventBridge Scheduler could not start a key audit after its retries; the start request is in the dead-letter queue.',
    [
      'aws sqs receive-message on the key-audit schedule dead-letter queue (the input names the stream)',
      `the schedule role may still start ${name}-key-audit (aws iam simulate-principal-policy)`,
    ],
  );
}
