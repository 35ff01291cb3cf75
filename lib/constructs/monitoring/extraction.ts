/**
 * The alarms of a database operator's extraction: the snapshot and incremental state machines, their
 * functions and schedule, and what the extractors report per stream (rows with a NULL cursor, late
 * arrivals near the lookback, reconciliation).
 *
 * **Snapshot stalled.** Step Functions has no "executions running" metric, so "a snapshot is
 * running" is read from the extract-window function, which only the snapshot state machine
 * invokes: a composite alarm is in ALARM when extract-window was invoked during the stall period
 * AND no window completed (WindowsCompleted, summed over the streams) during the same period. The
 * two building-block alarms have no actions of their own: "no window completed" is in ALARM
 * whenever no snapshot runs, which is the normal state.
 *
 * **NULL-cursor rows.** NullCursorRows is emitted per stream when a snapshot is planned and by every
 * completed incremental run (0 included). Missing data keeps the alarm's state, so it stays in ALARM
 * from the run that counted rows until a run counts none, whatever the schedule interval.
 */
import type { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { CANONICAL_STREAMS, type StreamName } from '#shared/canonical';
import type { OperatorConfig } from '#shared/config/schema';
import { METRICS } from '#shared/contracts/metrics';
import { acknowledgeFindings } from '../../nag.ts';
import { type AlarmFactory, ANY_IN_ONE_PERIOD, ANY_KEEPING_STATE, pascal } from './alarm-factory.ts';
import { syncDelayedAlarms } from './freshness.ts';
import type { MonitoredPipeline } from './props.ts';
import { RUNBOOK_ANCHORS } from './runbook.ts';

/** Every alarm of the snapshot and incremental pipelines, in the order the health alarm lists them. */
export function extractionAlarms(
  alarms: AlarmFactory,
  pipeline: MonitoredPipeline,
  streams: readonly StreamName[],
  stall: Duration,
  freshnessPeriod: Duration | undefined,
): void {
  stateMachineFailed(alarms, 'SnapshotFailed', pipeline.snapshotStateMachine, 'snapshot');
  stateMachineFailed(alarms, 'IncrementalFailed', pipeline.incrementalStateMachine, 'incremental');
  syncDelayedAlarms(alarms, streams, freshnessPeriod);
  nullCursorAlarms(alarms, streams);
  latenessAlarms(alarms, streams);
  snapshotStalledAlarm(alarms, pipeline.extractWindow, streams, stall);
  reconciliationAlarm(alarms, streams);

  const functions: [lambda.IFunction, string][] = [
    [pipeline.planSnapshot, 'plan-snapshot'],
    [pipeline.extractWindow, 'extract-window'],
    [pipeline.finalizeSnapshot, 'finalize-snapshot'],
    [pipeline.runLock, 'run-lock'],
    [pipeline.incrementalSync, 'incremental-sync'],
  ];
  for (const [fn, handler] of functions) alarms.functionAlarms(fn, handler);

  alarms.queueNotEmpty(
    'ScheduleDeadLetters',
    pipeline.scheduleDeadLetterQueue,
    'incremental schedule',
    RUNBOOK_ANCHORS.scheduleDeadLetters,
    'schedule dead letters',
    'EventBridge Scheduler could not start an incremental execution after its retries; the start request is in the dead-letter queue.',
    [
      'aws sqs receive-message on the schedule dead-letter queue (message attributes name the error)',
      `the schedule role may still start ${alarms.name}-incremental (aws iam simulate-principal-policy)`,
    ],
  );
}

/** Failed, timed-out or aborted executions of the snapshot or incremental state machine. */
function stateMachineFailed(
  alarms: AlarmFactory,
  id: string,
  machine: sfn.IStateMachine,
  which: 'snapshot' | 'incremental',
): cloudwatch.Alarm {
  const snapshot = which === 'snapshot';
  return alarms.add(
    id,
    'critical',
    `${which} state machine`,
    snapshot ? RUNBOOK_ANCHORS.snapshotFailed : RUNBOOK_ANCHORS.incrementalFailed,
    `${which} failed`,
    snapshot
      ? 'An execution of the snapshot state machine failed, timed out or was aborted: some windows did not land and the incremental watermarks did not start.'
      : 'An execution of the incremental state machine failed, timed out or was aborted: one or more streams did not land their changes in this run.',
    [
      `aws stepfunctions list-executions --state-machine-arn <${alarms.name}-${which}> --status-filter FAILED --max-items 5`,
      `the execution's cause (names the failed ${snapshot ? 'windows' : 'streams'}) and the ${snapshot ? 'extract-window' : 'incremental-sync'} logs`,
    ],
    alarms.executionsFailed(machine, `${which} executions failed, timed out or aborted`),
    ANY_IN_ONE_PERIOD,
  );
}

/** Rows whose cursor is NULL, per stream: they belong to no window and no watermark (see the module comment). */
function nullCursorAlarms(alarms: AlarmFactory, streams: readonly StreamName[]): void {
  for (const stream of streams) {
    const { table, cursor } = cursorOf(alarms.config, stream);
    alarms.add(
      `NullCursorRows${pascal(stream)}`,
      'warning',
      `stream ${stream}`,
      RUNBOOK_ANCHORS.nullCursorRows,
      `${stream} rows with a NULL cursor`,
      `Rows of ${table} have a NULL ${cursor}: they belong to no window and no watermark, so they are not landed. Counted when a snapshot is planned and by every incremental run; the alarm clears when a run counts none.`,
      [
        `the operator's DBA: SELECT count(*) FROM ${table} WHERE ${cursor} IS NULL`,
        `Logs Insights on /connector/${alarms.name}/incremental-sync: filter stream = "${stream}" and nullCursorRows > 0`,
      ],
      alarms.metrics.metric(METRICS.nullCursorRows, 'Maximum', alarms.period, stream),
      ANY_KEEPING_STATE,
    );
  }
}

/**
 * Late arrivals near the lookback, per stream: MaxLatenessSeconds of a run above
 * `incremental.latenessAlarmShare` of the lookback (missing data keeps the state).
 */
function latenessAlarms(alarms: AlarmFactory, streams: readonly StreamName[]): void {
  const { config, name } = alarms;
  const { lookbackMinutes, latenessAlarmShare } = config.incremental;
  const latenessThreshold = Math.round(latenessAlarmShare * lookbackMinutes * 60);
  for (const stream of streams) {
    alarms.add(
      `LookbackTooShort${pascal(stream)}`,
      'warning',
      `stream ${stream}`,
      RUNBOOK_ANCHORS.lookbackTooShort,
      `${stream} late arrivals near the lookback`,
      `An incremental run found a ${stream} row committed after an earlier run had read past its cursor by more than ${latenessThreshold} s (${Math.round(latenessAlarmShare * 100)}% of the ${lookbackMinutes}-minute lookback). It was caught; a row later than the lookback would be lost. MaxLatenessSeconds per run; the alarm clears after a run without such a row.`,
      [
        `connector status ${config.operatorId} --stage ${config.stage} (lateness distribution) and connector check (recommended lookback)`,
        `Logs Insights on /connector/${name}/incremental-sync: filter stream = "${stream}" and lateRows > 0`,
      ],
      alarms.metrics.metric(METRICS.maxLatenessSeconds, 'Maximum', alarms.period, stream),
      {
        threshold: latenessThreshold,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        datapointsToAlarm: 1,
        treatMissingData: cloudwatch.TreatMissingData.IGNORE,
      },
    );
  }
}

/** Snapshot stalled: running (extract-window invoked) AND no window completed, over the stall time. */
function snapshotStalledAlarm(
  alarms: AlarmFactory,
  extractWindow: lambda.IFunction,
  streams: readonly StreamName[],
  stall: Duration,
): void {
  const { scope, name } = alarms;
  const stallMinutes = stall.toMinutes();
  const noWindowCompleted = new cloudwatch.Alarm(scope, 'NoWindowCompleted', {
    alarmName: `${name} no snapshot window completed in ${stallMinutes} minutes`,
    alarmDescription: `${name}: building block of "${name} critical snapshot stalled"; in ALARM whenever no snapshot runs, so it has no actions.`,
    metric: alarms.metrics.sumOverStreams(
      METRICS.windowsCompleted,
      streams,
      stall,
      'snapshot windows completed (all streams)',
    ),
    threshold: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
    evaluationPeriods: 1,
    datapointsToAlarm: 1,
    treatMissingData: cloudwatch.TreatMissingData.BREACHING,
  });
  const snapshotRunning = new cloudwatch.Alarm(scope, 'SnapshotRunning', {
    alarmName: `${name} snapshot running (extract-window invoked in ${stallMinutes} minutes)`,
    alarmDescription: `${name}: building block of "${name} critical snapshot stalled"; in ALARM while a snapshot runs, so it has no actions.`,
    metric: extractWindow.metricInvocations({ period: stall, statistic: 'Sum' }),
    threshold: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    datapointsToAlarm: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  for (const block of [noWindowCompleted, snapshotRunning]) {
    acknowledgeFindings(
      block,
      ['NIST.800.53.R5-CloudWatchAlarmAction'],
      'Building block of the "snapshot stalled" composite alarm, which notifies; on its own this alarm describes a normal state (no snapshot running, or a snapshot running), so it has no actions.',
    );
  }
  const stalled = new cloudwatch.CompositeAlarm(scope, 'SnapshotStalled', {
    compositeAlarmName: `${name} critical snapshot stalled`,
    alarmRule: cloudwatch.AlarmRule.allOf(noWindowCompleted, snapshotRunning),
    alarmDescription: alarms.describe(
      'snapshot state machine',
      RUNBOOK_ANCHORS.snapshotStalled,
      `A snapshot is running (extract-window was invoked) but no window completed in ${stallMinutes} minutes: a window is stuck in continuations, or the operator database is far slower than planned.`,
      [
        `the running execution of ${name}-snapshot (which windows loop in "Continue window")`,
        `Logs Insights on /connector/${name}/extract-window: rows per invocation of the looping window`,
      ],
    ),
  });
  alarms.register(stalled, 'critical', 'snapshot state machine', RUNBOOK_ANCHORS.snapshotStalled);
}

/** A window or incremental run whose landed row count or money sums differ from the source's (nothing of it committed). */
function reconciliationAlarm(alarms: AlarmFactory, streams: readonly StreamName[]): void {
  alarms.add(
    'ReconciliationMismatch',
    'critical',
    'reconciliation',
    RUNBOOK_ANCHORS.reconciliationMismatch,
    'reconciliation mismatch',
    'A window or incremental run landed a different row count or money sum than the source holds for its range; nothing of it was committed.',
    [
      `Logs Insights on /connector/${alarms.name}/extract-window and incremental-sync: filter error.name = "ReconciliationError"`,
      'the failed window or stream in the execution (its range), then the source count for that range',
    ],
    alarms.metrics.sumOverStreams(METRICS.reconciliationMismatch, streams, alarms.period, 'reconciliation mismatches'),
    ANY_IN_ONE_PERIOD,
  );
}

/** The source table (schema-qualified) and cursor column of a database stream, for alarm texts. */
function cursorOf(config: OperatorConfig, stream: StreamName): { table: string; cursor: string } {
  const streamConfig = config.streams[stream];
  const source = config.source;
  const mapping = streamConfig?.columns[CANONICAL_STREAMS[stream].cursor];
  const cursor = streamConfig?.cursor ?? (typeof mapping === 'string' ? mapping : mapping?.column) ?? '<cursor>';
  const schema = source.type === 'files' ? undefined : (streamConfig?.schema ?? source.schema ?? source.database);
  return { table: `${schema ? `${schema}.` : ''}${streamConfig?.table ?? stream}`, cursor };
}
