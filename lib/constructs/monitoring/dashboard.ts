/**
 * The operator's dashboard (`<operator>-<stage>-connector`): the alarms, then per component the
 * metrics on-call reads first (freshness lag against the SLA, rows landed, failures, snapshot
 * progress, incremental runs, NULL-cursor rows, late arrivals, dead letters, schema drift, files).
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { Construct } from 'constructs';
import type { StreamName } from '#shared/canonical';
import type { OperatorConfig } from '#shared/config/schema';
import { INGEST_METRICS, METRICS, PIPELINE_METRICS } from '#shared/contracts/metrics';
import type { OperatorAlarm } from './alarm-factory.ts';
import { freshnessSlaMinutes, scheduleIntervalMinutes } from './freshness.ts';
import type { ConnectorMetrics } from './metrics.ts';
import type { MonitoredFileDrop, MonitoredPipeline } from './props.ts';
import { RUNBOOK } from './runbook.ts';

/** What the dashboard shows. */
export interface OperatorDashboardProps {
  /** `<operator>-<stage>`. */
  readonly name: string;
  readonly config: OperatorConfig;
  readonly metrics: ConnectorMetrics;
  /** The individual alarms, in the order the status widget lists them (after the health alarm). */
  readonly alarms: readonly OperatorAlarm[];
  readonly healthAlarm: cloudwatch.CompositeAlarm | undefined;
  readonly pipeline: MonitoredPipeline | undefined;
  readonly fileDrop: MonitoredFileDrop | undefined;
  /** The configured streams. */
  readonly streams: readonly StreamName[];
}

/** The dashboard (`Dashboard` in `scope`). */
export function operatorDashboard(scope: Construct, props: OperatorDashboardProps): cloudwatch.Dashboard {
  const { name, config, metrics, alarms, healthAlarm, pipeline, fileDrop, streams } = props;
  const dashboard = new cloudwatch.Dashboard(scope, 'Dashboard', {
    dashboardName: `${name}-connector`,
    defaultInterval: Duration.days(1),
  });
  const fiveMinutes = Duration.minutes(5);
  const hour = Duration.hours(1);
  dashboard.addWidgets(
    new cloudwatch.TextWidget({
      markdown: `# ${config.displayName} (${config.stage})\nOne section per alarm in the runbook (${config.alerts.runbookUrl ? `[runbook](${config.alerts.runbookUrl})` : `\`${RUNBOOK}\``}). Health alarm: **${name} unhealthy**.`,
      width: 24,
      height: 2,
    }),
  );
  if (alarms.length > 0) {
    dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({
        title: 'Alarms',
        alarms: [...(healthAlarm ? [healthAlarm] : []), ...alarms.map((a) => a.alarm)],
        width: 24,
        height: 4,
      }),
    );
  }

  if (pipeline) {
    const interval = scheduleIntervalMinutes(config.incremental.schedule);
    dashboard.addWidgets(
      ...streams.map(
        (stream) =>
          new cloudwatch.GraphWidget({
            title: `Freshness lag: ${stream}`,
            left: [
              metrics.metric(METRICS.freshnessLagSeconds, 'Maximum', Duration.minutes(interval), stream).with({
                label: `${stream} lag`,
              }),
            ],
            leftAnnotations: [
              { value: freshnessSlaMinutes(config, stream) * 60, label: 'SLA (seconds)', color: '#d62728' },
            ],
            leftYAxis: { min: 0, label: 'seconds' },
            width: 6,
            height: 5,
          }),
      ),
    );
    const { snapshotStateMachine: snapshot, incrementalStateMachine: incremental } = pipeline;
    const sum = { period: fiveMinutes, statistic: 'Sum' };
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Rows landed per stream',
        left: streams.map((s) => metrics.metric(METRICS.rowsExtracted, 'Sum', fiveMinutes, s).with({ label: s })),
        stacked: true,
        width: 12,
        height: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Failures',
        left: [
          snapshot.metricFailed({ ...sum, label: 'snapshot failed' }),
          snapshot.metricTimedOut({ ...sum, label: 'snapshot timed out' }),
          snapshot.metricAborted({ ...sum, label: 'snapshot aborted' }),
          incremental.metricFailed({ ...sum, label: 'incremental failed' }),
          incremental.metricTimedOut({ ...sum, label: 'incremental timed out' }),
          incremental.metricAborted({ ...sum, label: 'incremental aborted' }),
          metrics.sumOverStreams(METRICS.extractFailures, streams, fiveMinutes, 'extract failures (all streams)'),
          metrics.sumOverStreams(
            METRICS.reconciliationMismatch,
            streams,
            fiveMinutes,
            'reconciliation mismatches (all streams)',
          ),
        ],
        width: 12,
        height: 6,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Window and run duration (max, ms)',
        left: streams.map((s) =>
          metrics.metric(METRICS.windowDurationMs, 'Maximum', fiveMinutes, s).with({ label: s }),
        ),
        width: 12,
        height: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Snapshot progress',
        left: [
          metrics.metric(PIPELINE_METRICS.snapshotWindowsPlanned, 'Sum', hour),
          metrics.sumOverStreams(METRICS.windowsCompleted, streams, hour, 'windows completed (all streams)'),
          metrics.metric(PIPELINE_METRICS.snapshotWindowsFailed, 'Sum', hour),
        ],
        right: [
          metrics.metric(PIPELINE_METRICS.snapshotsCompleted, 'Sum', hour),
          metrics.metric(PIPELINE_METRICS.snapshotsFailed, 'Sum', hour),
        ],
        width: 12,
        height: 6,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Incremental runs',
        left: [
          incremental.metricStarted({ ...sum, label: 'executions started' }),
          metrics.metric(PIPELINE_METRICS.incrementalRunsSkipped, 'Sum', fiveMinutes),
          metrics.metric(PIPELINE_METRICS.incrementalStreamsFailed, 'Sum', fiveMinutes),
        ],
        width: 12,
        height: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Rows with a NULL cursor (not landed)',
        left: streams.map((s) => metrics.metric(METRICS.nullCursorRows, 'Maximum', fiveMinutes, s).with({ label: s })),
        leftYAxis: { min: 0, label: 'rows' },
        width: 12,
        height: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Late arrivals: largest lateness per run (alarm above the line)',
        left: streams.map((s) =>
          metrics.metric(METRICS.maxLatenessSeconds, 'Maximum', fiveMinutes, s).with({ label: s }),
        ),
        leftYAxis: { min: 0, label: 'seconds' },
        leftAnnotations: [
          {
            value: config.incremental.latenessAlarmShare * config.incremental.lookbackMinutes * 60,
            label: `${Math.round(config.incremental.latenessAlarmShare * 100)}% of the lookback`,
          },
        ],
        width: 12,
        height: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Schedule dead letters',
        left: [pipeline.scheduleDeadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: fiveMinutes })],
        width: 12,
        height: 6,
      }),
    );
  }

  if (pipeline || fileDrop) {
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Schema drift (columns changed per check)',
        left: streams.map((s) =>
          metrics.metric(METRICS.schemaDriftColumns, 'Maximum', fiveMinutes, s).with({ label: s }),
        ),
        leftYAxis: { min: 0, label: 'columns' },
        width: 24,
        height: 6,
      }),
    );
  }

  if (fileDrop) {
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'File drops landed / quarantined',
        left: [
          metrics.metric(INGEST_METRICS.filesIngested, 'Sum', fiveMinutes).with({ label: 'files landed' }),
          metrics.metric(INGEST_METRICS.filesQuarantined, 'Sum', fiveMinutes).with({
            label: 'files quarantined',
          }),
        ],
        right: streams.map((s) =>
          metrics.metric(INGEST_METRICS.rowsIngested, 'Sum', fiveMinutes, s).with({ label: `${s} rows` }),
        ),
        width: 12,
        height: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'File-drop dead letters',
        left: [fileDrop.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: fiveMinutes })],
        width: 12,
        height: 6,
      }),
    );
  }
  return dashboard;
}
