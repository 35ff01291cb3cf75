/**
 * The shapes of the freshness alarms, from the schedule and the SLAs in the config: how long a
 * stream may go without landing data before on-call hears of it.
 *
 * **Sync delayed.** FreshnessLagSeconds is emitted by every completed incremental run of a stream;
 * missing data is breaching, so a stopped schedule, a run that never reports and an operator whose
 * first snapshot has not completed all alarm after two periods without a report. The period is at
 * least the schedule interval (else quiet periods between runs would breach) and about half the
 * stream's SLA (so two silent periods are about one SLA), at most 8 hours (3 periods fit in the
 * one day an alarm may look back).
 *
 * **No file landed.** A file-drop stream whose export stops emits nothing at all; its alarm counts
 * the files landed per period and fires once a whole SLA passed without one (see
 * {@link fileDropFreshnessShape}).
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { StreamName } from '#shared/canonical';
import type { OperatorConfig } from '#shared/config/schema';
import { INGEST_METRICS, METRICS } from '#shared/contracts/metrics';
import { type AlarmFactory, pascal } from './alarm-factory.ts';
import { RUNBOOK_ANCHORS } from './runbook.ts';

/** Whole minutes of an EventBridge Scheduler expression's interval; a cron it cannot read counts as daily. */
export function scheduleIntervalMinutes(expression: string): number {
  const rate = /^rate\((\d+) (minute|hour|day)s?\)$/.exec(expression);
  if (rate) return Number(rate[1]) * (rate[2] === 'minute' ? 1 : rate[2] === 'hour' ? 60 : 1440);
  const fields = /^cron\((.*)\)$/.exec(expression)?.[1]?.trim().split(/\s+/);
  if (fields?.length !== 6) return 1440;
  const [minute = '', hour = ''] = fields;
  const step = (field: string) => /^(?:\*|\d+)\/(\d+)$/.exec(field)?.[1];
  if (hour === '*') {
    const every = step(minute);
    if (every) return Number(every);
    if (/^\d+$/.test(minute)) return 60;
    return 1440;
  }
  const hours = step(hour);
  if (hours && /^\d+$/.test(minute)) return Number(hours) * 60;
  return 1440;
}

/** Period and evaluation of a sync-delayed alarm (see the module comment). */
export interface FreshnessShape {
  readonly periodMinutes: number;
  readonly evaluationPeriods: number;
  readonly datapointsToAlarm: number;
}

const MAX_FRESHNESS_PERIOD_MINUTES = 480;

/** The shape of a stream's sync-delayed alarm from the schedule interval and the stream's SLA. */
export function freshnessShape(intervalMinutes: number, slaMinutes: number, override?: Duration): FreshnessShape {
  if (intervalMinutes > MAX_FRESHNESS_PERIOD_MINUTES) {
    // Three periods of a (nearly) daily schedule do not fit in a day: one period of the interval.
    return { periodMinutes: Math.min(intervalMinutes, 1440), evaluationPeriods: 1, datapointsToAlarm: 1 };
  }
  const periodMinutes =
    override?.toMinutes() ??
    Math.min(MAX_FRESHNESS_PERIOD_MINUTES, Math.max(intervalMinutes, Math.ceil(slaMinutes / 2), 5));
  return { periodMinutes, evaluationPeriods: 3, datapointsToAlarm: 2 };
}

/** The stream's freshness SLA in minutes (its own, or the operator default). */
export function freshnessSlaMinutes(config: OperatorConfig, stream: StreamName): number {
  return config.streams[stream]?.freshnessSlaMinutes ?? config.alerts.defaultFreshnessSlaMinutes;
}

/** A file-drop stream's freshness SLA on files landed, in minutes: its own, or `fileDrop.freshnessSlaHours`. */
export function fileDropSlaMinutes(config: OperatorConfig, stream: StreamName): number {
  return config.streams[stream]?.freshnessSlaMinutes ?? (config.fileDrop?.freshnessSlaHours ?? 26) * 60;
}

/**
 * Period and evaluation of a file-drop freshness alarm: every period without a landed file breaches
 * (missing data breaching), so it alarms once a whole SLA passed without one. Hourly periods
 * (CloudWatch evaluates at most 7 days of them); one period of the SLA when it is shorter than an hour.
 */
export function fileDropFreshnessShape(slaMinutes: number): { periodMinutes: number; evaluationPeriods: number } {
  if (slaMinutes <= 60) return { periodMinutes: slaMinutes, evaluationPeriods: 1 };
  return { periodMinutes: 60, evaluationPeriods: Math.min(168, Math.ceil(slaMinutes / 60)) };
}

/**
 * Sync delayed, per stream of a database operator: the newest landed data older than the stream's
 * SLA, or no incremental run reporting (missing data breaching).
 */
export function syncDelayedAlarms(
  alarms: AlarmFactory,
  streams: readonly StreamName[],
  freshnessPeriod: Duration | undefined,
): void {
  const { config, name } = alarms;
  const interval = scheduleIntervalMinutes(config.incremental.schedule);
  if (freshnessPeriod && freshnessPeriod.toMinutes() < interval) {
    throw new Error(
      `Monitoring of ${name}: freshnessPeriod (${freshnessPeriod.toHumanString()}) is shorter than the incremental schedule interval (${interval} minutes), so quiet periods between runs would breach; use at least Duration.minutes(${interval})`,
    );
  }
  for (const stream of streams) {
    const sla = freshnessSlaMinutes(config, stream);
    const shape = freshnessShape(interval, sla, freshnessPeriod);
    alarms.add(
      `SyncDelayed${pascal(stream)}`,
      'critical',
      `stream ${stream}`,
      RUNBOOK_ANCHORS.syncDelayed,
      `${stream} sync delayed`,
      `The newest landed ${stream} data is older than its SLA of ${sla} minutes, or no incremental run of ${stream} reported for ${shape.datapointsToAlarm} periods of ${shape.periodMinutes} minutes (stopped schedule, failing or skipped runs, snapshot not completed).`,
      [
        `aws scheduler get-schedule --name <${name} incremental schedule> (State ENABLED?) and the schedule dead-letter queue`,
        `the last executions of ${name}-incremental (skipped: waiting-for-snapshot or locked?)`,
      ],
      alarms.metrics.metric(METRICS.freshnessLagSeconds, 'Maximum', Duration.minutes(shape.periodMinutes), stream),
      {
        threshold: sla * 60,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: shape.evaluationPeriods,
        datapointsToAlarm: shape.datapointsToAlarm,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      },
    );
  }
}

/** No file landed, per stream of a file-drop operator, within the stream's file-drop SLA (missing data breaching). */
export function fileDropStaleAlarms(alarms: AlarmFactory): void {
  const { config, name } = alarms;
  for (const stream of Object.keys(config.streams) as StreamName[]) {
    const sla = fileDropSlaMinutes(config, stream);
    const shape = fileDropFreshnessShape(sla);
    alarms.add(
      `FileDropStale${pascal(stream)}`,
      'critical',
      `stream ${stream}`,
      RUNBOOK_ANCHORS.fileDropStale,
      `${stream} no file landed`,
      `No ${stream} file has landed for ${sla} minutes (its file-drop freshness SLA): the operator's export stopped, its upload fails, or every file was quarantined. Missing data counts as breaching.`,
      [
        `aws s3 ls s3://<landing bucket>/inbound/${stream}/ and quarantine/${stream}/ (newest first)`,
        `Logs Insights on /connector/${name}/ingest-file: filter stream = "${stream}"`,
      ],
      // One RowsIngested datapoint per landed file: its sample count is the number of files landed.
      alarms.metrics.metric(INGEST_METRICS.rowsIngested, 'SampleCount', Duration.minutes(shape.periodMinutes), stream),
      {
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: shape.evaluationPeriods,
        datapointsToAlarm: shape.evaluationPeriods,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      },
    );
  }
}
