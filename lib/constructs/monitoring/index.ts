/**
 * On-call monitoring of one operator and stage: CloudWatch alarms on what the connector emits, one
 * composite "<operator>-<stage> unhealthy" alarm that is the only thing that pages, and a dashboard.
 *
 * **Paging.** Every individual alarm notifies the non-paging {@link Monitoring.notificationTopic}
 * (KMS-encrypted with the operator key; e-mail subscribers only when `notificationEmails` is given,
 * otherwise a team's chat or ticketing integration subscribes to it). The composite health alarm ORs all of
 * them and notifies the operator's alarm topic (the paging tools): while it is in ALARM, further
 * failing components change nothing, so one incident is one page; it notifies OK when everything
 * has recovered, which resolves the page.
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
 *
 * **Schema drift.** SchemaDriftColumns is emitted per stream by every schema check (a snapshot's
 * plan, the first invocation of every incremental run, every ingested or header-quarantined file;
 * 0 included). Missing data keeps the alarm's state: it stays in ALARM from the check that found
 * drift until a later check of the stream finds none (a reported change is accepted by the next
 * successful run, so that is usually the next run).
 *
 * **Sync delayed.** FreshnessLagSeconds is emitted by every completed incremental run of a stream;
 * missing data is breaching, so a stopped schedule, a run that never reports and an operator whose
 * first snapshot has not completed all alarm after two periods without a report. The period is at
 * least the schedule interval (else quiet periods between runs would breach) and about half the
 * stream's SLA (so two silent periods are about one SLA), at most 8 hours (3 periods fit in the
 * one day an alarm may look back).
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { CANONICAL_STREAMS, type StreamName } from '#shared/canonical';
import type { OperatorConfig } from '#shared/config/schema';
import { walletLedgerSettings } from '#shared/config/wallet-ledger';
import {
  DIMENSIONS,
  INGEST_METRICS,
  METRIC_NAMESPACE,
  METRICS,
  PIPELINE_METRICS,
  PUBLISH_METRICS,
  SERVICE_NAME,
  WALLET_LEDGER_METRICS,
} from '#shared/contracts/metrics';
import { acknowledgeFindings } from '../../nag.ts';

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
} as const;

/**
 * `critical`: data is not landing, is late or may be wrong. `warning`: a component symptom that
 * usually precedes a critical alarm (function errors and throttles, quarantined files). Both are
 * part of the health alarm; the severity orders triage and is shown in the alarm name.
 */
export type AlarmSeverity = 'critical' | 'warning';

/** One alarm of the operator and what the runbook says about it. */
export interface OperatorAlarm {
  readonly alarm: cloudwatch.Alarm | cloudwatch.CompositeAlarm;
  readonly severity: AlarmSeverity;
  /** The component it watches (`snapshot state machine`, `stream payments`, `function extract-window`). */
  readonly component: string;
  /** Runbook section. */
  readonly anchor: (typeof RUNBOOK_ANCHORS)[keyof typeof RUNBOOK_ANCHORS];
}

/** Tunables; every one has a default that suits the example operators. */
export interface MonitoringOptions {
  /**
   * Period of the failure alarms (state machines, functions, queues, reconciliation, files).
   * @default Duration.minutes(5)
   */
  readonly period?: Duration;
  /**
   * How long a running snapshot may go without completing a window before it counts as stalled.
   * Longer than the slowest expected window (a window may loop through several 15-minute
   * invocations). Whole minutes, at most one day.
   * @default Duration.hours(2)
   */
  readonly snapshotStallTime?: Duration;
  /**
   * Period of the sync-delayed alarms; overrides the one derived from the schedule and the SLA.
   * Whole minutes, at least the schedule interval, at most 8 hours.
   * @default - max(schedule interval, SLA / 2), at most 8 hours
   */
  readonly freshnessPeriod?: Duration;
}

/** What a file drop offers to monitor. */
export interface MonitoredFileDrop {
  /** The function that validates and lands dropped files. */
  readonly ingest: lambda.IFunction;
  /** Object-created events the ingest function failed on after its retries. */
  readonly deadLetterQueue: sqs.IQueue;
}

export interface MonitoringProps extends MonitoringOptions {
  /** The validated operator config: names, streams, SLAs and the schedule. */
  readonly config: OperatorConfig;
  /** The operator's customer-managed key; encrypts the notification topic. */
  readonly encryptionKey: kms.IKey;
  /**
   * The paging topic (the operator's alarm topic): the action of the health alarm only. Its key
   * policy must let CloudWatch use the key (see AlarmTopic).
   */
  readonly alarmTopic: sns.ITopic;
  /**
   * E-mail addresses subscribed to the non-paging notification topic.
   * @default - none
   */
  readonly notificationEmails?: readonly string[];
  /**
   * Where notifications SNS cannot deliver go (required with {@link notificationEmails}).
   * @default - none
   */
  readonly notificationDeadLetterQueue?: sqs.IQueue;
  /**
   * The snapshot and incremental pipelines, their functions and the schedule's dead-letter queue.
   * @default - none (file-drop operators)
   */
  readonly pipeline?: {
    readonly snapshotStateMachine: sfn.IStateMachine;
    readonly incrementalStateMachine: sfn.IStateMachine;
    readonly scheduleDeadLetterQueue: sqs.IQueue;
    /** extract-window: invoked only by the snapshot state machine ("a snapshot is running"). */
    readonly extractWindow: lambda.IFunction;
    readonly incrementalSync: lambda.IFunction;
    readonly planSnapshot: lambda.IFunction;
    readonly finalizeSnapshot: lambda.IFunction;
    readonly runLock: lambda.IFunction;
  };
  /**
   * The file drop: its ingest function, dead-letter queue and metrics.
   * @default - none
   */
  readonly fileDrop?: MonitoredFileDrop;
  /**
   * The landing sweep: its function and the dead-letter queue of its schedule.
   * @default - none
   */
  readonly landing?: {
    readonly sweep: lambda.IFunction;
    readonly scheduleDeadLetterQueue: sqs.IQueue;
  };
  /** The scheduled key audit (hard deletes, lost rows), when any stream is audited. */
  readonly keyAudit?: {
    readonly stateMachine: sfn.IStateMachine;
    readonly function: lambda.IFunction;
    readonly streams: readonly StreamName[];
    readonly scheduleDeadLetterQueue: sqs.IQueue;
  };
  /**
   * The serving layer: the publish state machine and function, and (file drops) the publish schedule's dead-letter queue.
   * @default - none
   */
  readonly serving?: {
    readonly publishStateMachine: sfn.IStateMachine;
    readonly publishFunction: lambda.IFunction;
    readonly scheduleDeadLetterQueue?: sqs.IQueue;
  };
}

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
 * The alarms, the health alarm, the notification topic and the dashboard of one operator and stage.
 */
export class Monitoring extends Construct {
  /** Non-paging topic every individual alarm notifies (ALARM and OK). */
  public readonly notificationTopic: sns.Topic;
  /** Every individual alarm, in creation order. */
  public readonly alarms: readonly OperatorAlarm[];
  /** `<operator>-<stage> unhealthy`: ORs every alarm and pages; undefined when nothing is monitored. */
  public readonly healthAlarm?: cloudwatch.CompositeAlarm;
  /** The operator's dashboard (`<operator>-<stage>-connector`). */
  public readonly dashboard: cloudwatch.Dashboard;

  private readonly name: string;
  private readonly config: OperatorConfig;
  private readonly period: Duration;
  private readonly list: OperatorAlarm[] = [];
  private readonly notify: actions.SnsAction;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const { config } = props;
    this.config = config;
    this.name = `${config.operatorId}-${config.stage}`;
    this.period = props.period ?? Duration.minutes(5);
    const stall = props.snapshotStallTime ?? Duration.hours(2);
    validateMinutes(this.name, 'period', this.period, 1, 1440);
    validateMinutes(this.name, 'snapshotStallTime', stall, 5, 1440);
    if (props.freshnessPeriod) validateMinutes(this.name, 'freshnessPeriod', props.freshnessPeriod, 5, 480);
    if (props.notificationEmails?.length && !props.notificationDeadLetterQueue) {
      throw new Error(
        `Monitoring of ${this.name}: notificationEmails need a notificationDeadLetterQueue (e.g. the alarm topic's deadLetterQueue) so undeliverable notifications are kept`,
      );
    }

    this.notificationTopic = new sns.Topic(this, 'NotificationTopic', {
      displayName: `Connector notifications ${config.operatorId} (${config.stage})`,
      masterKey: props.encryptionKey,
      enforceSSL: true,
    });
    this.notificationTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.notificationTopic.topicArn],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    );
    for (const email of props.notificationEmails ?? []) {
      this.notificationTopic.addSubscription(
        new subscriptions.EmailSubscription(email, {
          ...(props.notificationDeadLetterQueue ? { deadLetterQueue: props.notificationDeadLetterQueue } : {}),
        }),
      );
    }
    this.notify = new actions.SnsAction(this.notificationTopic);

    const streams = Object.keys(config.streams) as StreamName[];
    if (props.pipeline) this.pipelineAlarms(props.pipeline, streams, stall, props.freshnessPeriod);
    if (props.fileDrop) this.fileDropAlarms(props.fileDrop);
    if (props.pipeline || props.fileDrop) this.schemaDriftAlarms(streams, props.pipeline ? 'database' : 'files');
    if (props.landing) this.landingAlarms(props.landing);
    if (props.serving) this.servingAlarms(props.serving, config.serving.maxPublishDelayMinutes);
    if (props.keyAudit) this.keyAuditAlarms(props.keyAudit);
    this.alarms = this.list;

    if (this.list.length > 0) {
      this.healthAlarm = new cloudwatch.CompositeAlarm(this, 'Health', {
        compositeAlarmName: `${this.name} unhealthy`,
        alarmRule: cloudwatch.AlarmRule.anyOf(...this.list.map((a) => a.alarm)),
        alarmDescription: describe({
          operator: this.name,
          component: 'connector',
          meaning:
            'At least one alarm of the connector is in ALARM: data is failing to land, is late, or may be wrong. This is the one alarm that pages.',
          checks: [
            `aws cloudwatch describe-alarms --alarm-name-prefix "${this.name} " --state-value ALARM`,
            `dashboard ${this.name}-connector`,
          ],
          anchor: RUNBOOK_ANCHORS.unhealthy,
          runbookUrl: config.alerts.runbookUrl,
        }),
      });
      const page = new actions.SnsAction(props.alarmTopic);
      this.healthAlarm.addAlarmAction(page);
      this.healthAlarm.addOkAction(page);
    }

    this.dashboard = this.buildDashboard(props, streams);
  }

  /** The alarms of one severity. */
  public alarmsOf(severity: AlarmSeverity): readonly OperatorAlarm[] {
    return this.list.filter((a) => a.severity === severity);
  }

  // ------------------------------------------------------------------------------------ metrics

  /** A connector metric with the dimensions the handlers emit (`service`, `Operator`, and `Stream` when given). */
  public connectorMetric(
    metricName: string,
    statistic: string,
    period: Duration,
    stream?: StreamName,
  ): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRIC_NAMESPACE,
      metricName,
      statistic,
      period,
      dimensionsMap: {
        service: SERVICE_NAME,
        [DIMENSIONS.operator]: this.name,
        ...(stream ? { [DIMENSIONS.stream]: stream } : {}),
      },
    });
  }

  /** `FILL(m, 0) + …` over the streams: the per-stream metric summed, with streams that reported nothing as 0. */
  private sumOverStreams(
    metricName: string,
    streams: readonly StreamName[],
    period: Duration,
    label: string,
  ): cloudwatch.MathExpression {
    const usingMetrics: Record<string, cloudwatch.IMetric> = {};
    // Ids unique per metric name: a graph may show several of these sums.
    const prefix = metricName.charAt(0).toLowerCase() + metricName.slice(1);
    streams.forEach((stream, i) => {
      usingMetrics[`${prefix}${i}`] = this.connectorMetric(metricName, 'Sum', period, stream);
    });
    return new cloudwatch.MathExpression({
      expression: Object.keys(usingMetrics)
        .map((id) => `FILL(${id}, 0)`)
        .join(' + '),
      usingMetrics,
      period,
      label,
    });
  }

  // ------------------------------------------------------------------------------------- alarms

  private add(
    id: string,
    severity: AlarmSeverity,
    component: string,
    anchor: OperatorAlarm['anchor'],
    title: string,
    meaning: string,
    checks: readonly [string, string],
    metric: cloudwatch.IMetric,
    shape: {
      readonly threshold: number;
      readonly comparisonOperator: cloudwatch.ComparisonOperator;
      readonly evaluationPeriods?: number;
      readonly datapointsToAlarm?: number;
      readonly treatMissingData: cloudwatch.TreatMissingData;
    },
  ): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, {
      alarmName: `${this.name} ${severity} ${title}`,
      alarmDescription: describe({
        operator: this.name,
        component,
        meaning,
        checks,
        anchor,
        runbookUrl: this.config.alerts.runbookUrl,
      }),
      metric,
      threshold: shape.threshold,
      comparisonOperator: shape.comparisonOperator,
      evaluationPeriods: shape.evaluationPeriods ?? 1,
      datapointsToAlarm: shape.datapointsToAlarm ?? shape.evaluationPeriods ?? 1,
      treatMissingData: shape.treatMissingData,
    });
    alarm.addAlarmAction(this.notify);
    alarm.addOkAction(this.notify);
    this.list.push({ alarm, severity, component, anchor });
    return alarm;
  }

  /** `≥ 1 in one period, missing data not breaching`: the shape of every "something failed" alarm. */
  private get anyInOnePeriod() {
    return {
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    };
  }

  private stateMachineFailed(
    id: string,
    machine: sfn.IStateMachine,
    which: 'snapshot' | 'incremental',
  ): cloudwatch.Alarm {
    const options = { period: this.period, statistic: 'Sum' };
    const failures = new cloudwatch.MathExpression({
      expression: 'FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)',
      usingMetrics: {
        failed: machine.metricFailed(options),
        timedOut: machine.metricTimedOut(options),
        aborted: machine.metricAborted(options),
      },
      period: this.period,
      label: `${which} executions failed, timed out or aborted`,
    });
    const snapshot = which === 'snapshot';
    return this.add(
      id,
      'critical',
      `${which} state machine`,
      snapshot ? RUNBOOK_ANCHORS.snapshotFailed : RUNBOOK_ANCHORS.incrementalFailed,
      `${which} failed`,
      snapshot
        ? 'An execution of the snapshot state machine failed, timed out or was aborted: some windows did not land and the incremental watermarks did not start.'
        : 'An execution of the incremental state machine failed, timed out or was aborted: one or more streams did not land their changes in this run.',
      [
        `aws stepfunctions list-executions --state-machine-arn <${this.name}-${which}> --status-filter FAILED --max-items 5`,
        `the execution's cause (names the failed ${snapshot ? 'windows' : 'streams'}) and the ${snapshot ? 'extract-window' : 'incremental-sync'} logs`,
      ],
      failures,
      this.anyInOnePeriod,
    );
  }

  private functionAlarms(fn: lambda.IFunction, handler: string): void {
    const options = { period: this.period, statistic: 'Sum' };
    const persistent = {
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    };
    const id = handler.replace(/(^|-)(\w)/g, (_, __, c: string) => c.toUpperCase());
    this.add(
      `${id}Errors`,
      'warning',
      `function ${handler}`,
      RUNBOOK_ANCHORS.functionErrors,
      `${handler} errors`,
      `Invocations of ${handler} failed in 2 of the last 3 periods (retries did not hide a persistent error).`,
      [
        `CloudWatch Logs Insights on /connector/${this.name}/${handler}: filter level = "ERROR"`,
        'the state machine executions that invoked it (their failed windows or streams)',
      ],
      fn.metricErrors(options),
      persistent,
    );
    this.add(
      `${id}Throttles`,
      'warning',
      `function ${handler}`,
      RUNBOOK_ANCHORS.functionThrottles,
      `${handler} throttles`,
      `Invocations of ${handler} were throttled in 2 of the last 3 periods: more concurrent work than its reserved concurrency.`,
      [
        `aws lambda get-function-concurrency --function-name <${handler} function>`,
        'whether two snapshot executions or overlapping incremental runs are running',
      ],
      fn.metricThrottles(options),
      persistent,
    );
  }

  private queueNotEmpty(
    id: string,
    queue: sqs.IQueue,
    component: string,
    anchor: OperatorAlarm['anchor'],
    title: string,
    meaning: string,
    checks: readonly [string, string],
  ): void {
    this.add(
      id,
      'critical',
      component,
      anchor,
      title,
      meaning,
      checks,
      queue.metricApproximateNumberOfMessagesVisible({ period: this.period, statistic: 'Maximum' }),
      this.anyInOnePeriod,
    );
  }

  private pipelineAlarms(
    pipeline: NonNullable<MonitoringProps['pipeline']>,
    streams: readonly StreamName[],
    stall: Duration,
    freshnessPeriod: Duration | undefined,
  ): void {
    this.stateMachineFailed('SnapshotFailed', pipeline.snapshotStateMachine, 'snapshot');
    this.stateMachineFailed('IncrementalFailed', pipeline.incrementalStateMachine, 'incremental');

    const interval = scheduleIntervalMinutes(this.config.incremental.schedule);
    if (freshnessPeriod && freshnessPeriod.toMinutes() < interval) {
      throw new Error(
        `Monitoring of ${this.name}: freshnessPeriod (${freshnessPeriod.toHumanString()}) is shorter than the incremental schedule interval (${interval} minutes), so quiet periods between runs would breach; use at least Duration.minutes(${interval})`,
      );
    }
    for (const stream of streams) {
      const sla = freshnessSlaMinutes(this.config, stream);
      const shape = freshnessShape(interval, sla, freshnessPeriod);
      this.add(
        `SyncDelayed${pascal(stream)}`,
        'critical',
        `stream ${stream}`,
        RUNBOOK_ANCHORS.syncDelayed,
        `${stream} sync delayed`,
        `The newest landed ${stream} data is older than its SLA of ${sla} minutes, or no incremental run of ${stream} reported for ${shape.datapointsToAlarm} periods of ${shape.periodMinutes} minutes (stopped schedule, failing or skipped runs, snapshot not completed).`,
        [
          `aws scheduler get-schedule --name <${this.name} incremental schedule> (State ENABLED?) and the schedule dead-letter queue`,
          `the last executions of ${this.name}-incremental (skipped: waiting-for-snapshot or locked?)`,
        ],
        this.connectorMetric(METRICS.freshnessLagSeconds, 'Maximum', Duration.minutes(shape.periodMinutes), stream),
        {
          threshold: sla * 60,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: shape.evaluationPeriods,
          datapointsToAlarm: shape.datapointsToAlarm,
          treatMissingData: cloudwatch.TreatMissingData.BREACHING,
        },
      );
    }

    for (const stream of streams) {
      const { table, cursor } = cursorOf(this.config, stream);
      this.add(
        `NullCursorRows${pascal(stream)}`,
        'warning',
        `stream ${stream}`,
        RUNBOOK_ANCHORS.nullCursorRows,
        `${stream} rows with a NULL cursor`,
        `Rows of ${table} have a NULL ${cursor}: they belong to no window and no watermark, so they are not landed. Counted when a snapshot is planned and by every incremental run; the alarm clears when a run counts none.`,
        [
          `the operator's DBA: SELECT count(*) FROM ${table} WHERE ${cursor} IS NULL`,
          `Logs Insights on /connector/${this.name}/incremental-sync: filter stream = "${stream}" and nullCursorRows > 0`,
        ],
        this.connectorMetric(METRICS.nullCursorRows, 'Maximum', this.period, stream),
        {
          threshold: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          datapointsToAlarm: 1,
          treatMissingData: cloudwatch.TreatMissingData.IGNORE,
        },
      );
    }

    const { lookbackMinutes, latenessAlarmShare } = this.config.incremental;
    const latenessThreshold = Math.round(latenessAlarmShare * lookbackMinutes * 60);
    for (const stream of streams) {
      this.add(
        `LookbackTooShort${pascal(stream)}`,
        'warning',
        `stream ${stream}`,
        RUNBOOK_ANCHORS.lookbackTooShort,
        `${stream} late arrivals near the lookback`,
        `An incremental run found a ${stream} row committed after an earlier run had read past its cursor by more than ${latenessThreshold} s (${Math.round(latenessAlarmShare * 100)}% of the ${lookbackMinutes}-minute lookback). It was caught; a row later than the lookback would be lost. MaxLatenessSeconds per run; the alarm clears after a run without such a row.`,
        [
          `connector status ${this.config.operatorId} --stage ${this.config.stage} (lateness distribution) and connector check (recommended lookback)`,
          `Logs Insights on /connector/${this.name}/incremental-sync: filter stream = "${stream}" and lateRows > 0`,
        ],
        this.connectorMetric(METRICS.maxLatenessSeconds, 'Maximum', this.period, stream),
        {
          threshold: latenessThreshold,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          datapointsToAlarm: 1,
          treatMissingData: cloudwatch.TreatMissingData.IGNORE,
        },
      );
    }

    // Snapshot stalled: running (extract-window invoked) AND no window completed, over the stall time.
    const stallMinutes = stall.toMinutes();
    const noWindowCompleted = new cloudwatch.Alarm(this, 'NoWindowCompleted', {
      alarmName: `${this.name} no snapshot window completed in ${stallMinutes} minutes`,
      alarmDescription: `${this.name}: building block of "${this.name} critical snapshot stalled"; in ALARM whenever no snapshot runs, so it has no actions.`,
      metric: this.sumOverStreams(METRICS.windowsCompleted, streams, stall, 'snapshot windows completed (all streams)'),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    const snapshotRunning = new cloudwatch.Alarm(this, 'SnapshotRunning', {
      alarmName: `${this.name} snapshot running (extract-window invoked in ${stallMinutes} minutes)`,
      alarmDescription: `${this.name}: building block of "${this.name} critical snapshot stalled"; in ALARM while a snapshot runs, so it has no actions.`,
      metric: pipeline.extractWindow.metricInvocations({ period: stall, statistic: 'Sum' }),
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
    const stalled = new cloudwatch.CompositeAlarm(this, 'SnapshotStalled', {
      compositeAlarmName: `${this.name} critical snapshot stalled`,
      alarmRule: cloudwatch.AlarmRule.allOf(noWindowCompleted, snapshotRunning),
      alarmDescription: describe({
        operator: this.name,
        component: 'snapshot state machine',
        meaning: `A snapshot is running (extract-window was invoked) but no window completed in ${stallMinutes} minutes: a window is stuck in continuations, or the operator database is far slower than planned.`,
        checks: [
          `the running execution of ${this.name}-snapshot (which windows loop in "Continue window")`,
          `Logs Insights on /connector/${this.name}/extract-window: rows per invocation of the looping window`,
        ],
        anchor: RUNBOOK_ANCHORS.snapshotStalled,
        runbookUrl: this.config.alerts.runbookUrl,
      }),
    });
    stalled.addAlarmAction(this.notify);
    stalled.addOkAction(this.notify);
    this.list.push({
      alarm: stalled,
      severity: 'critical',
      component: 'snapshot state machine',
      anchor: RUNBOOK_ANCHORS.snapshotStalled,
    });

    this.add(
      'ReconciliationMismatch',
      'critical',
      'reconciliation',
      RUNBOOK_ANCHORS.reconciliationMismatch,
      'reconciliation mismatch',
      'A window or incremental run landed a different row count or money sum than the source holds for its range; nothing of it was committed.',
      [
        `Logs Insights on /connector/${this.name}/extract-window and incremental-sync: filter error.name = "ReconciliationError"`,
        'the failed window or stream in the execution (its range), then the source count for that range',
      ],
      this.sumOverStreams(METRICS.reconciliationMismatch, streams, this.period, 'reconciliation mismatches'),
      this.anyInOnePeriod,
    );

    const functions: [lambda.IFunction, string][] = [
      [pipeline.planSnapshot, 'plan-snapshot'],
      [pipeline.extractWindow, 'extract-window'],
      [pipeline.finalizeSnapshot, 'finalize-snapshot'],
      [pipeline.runLock, 'run-lock'],
      [pipeline.incrementalSync, 'incremental-sync'],
    ];
    for (const [fn, handler] of functions) this.functionAlarms(fn, handler);

    this.queueNotEmpty(
      'ScheduleDeadLetters',
      pipeline.scheduleDeadLetterQueue,
      'incremental schedule',
      RUNBOOK_ANCHORS.scheduleDeadLetters,
      'schedule dead letters',
      'EventBridge Scheduler could not start an incremental execution after its retries; the start request is in the dead-letter queue.',
      [
        'aws sqs receive-message on the schedule dead-letter queue (message attributes name the error)',
        `the schedule role may still start ${this.name}-incremental (aws iam simulate-principal-policy)`,
      ],
    );
  }

  private schemaDriftAlarms(streams: readonly StreamName[], source: 'database' | 'files'): void {
    for (const stream of streams) {
      const where =
        source === 'database'
          ? `the source table of ${stream}`
          : `the header of ${stream} files (against the last landed file)`;
      this.add(
        `SchemaDrift${pascal(stream)}`,
        'warning',
        `stream ${stream}`,
        RUNBOOK_ANCHORS.schemaDrift,
        `${stream} schema drift`,
        `Columns of ${where} changed since the last successful run: a new, removed or retyped column is reported (never read); a mapped column dropped, renamed or retyped beyond its landed type fails the stream with SchemaDriftError until the config matches.`,
        [
          `connector status ${this.config.operatorId} --stage ${this.config.stage} (line "schema drift": what changed, when, and what to change in config)`,
          `Logs Insights on /connector/${this.name}/${source === 'database' ? 'incremental-sync' : 'ingest-file'}: filter stream = "${stream}" and ispresent(schemaDrift)`,
        ],
        this.connectorMetric(METRICS.schemaDriftColumns, 'Maximum', this.period, stream),
        {
          threshold: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          datapointsToAlarm: 1,
          treatMissingData: cloudwatch.TreatMissingData.IGNORE,
        },
      );
    }
  }

  /**
   * Key audit: a failed audit (the function's KeyAuditFailed, or an execution that failed before it
   * could report) and an audit that found rows missing from the lake (KeyAuditRepaired). Both per
   * stream stay in ALARM until that stream's next audit reports otherwise (missing data ignored:
   * audits run daily).
   */
  private keyAuditAlarms(keyAudit: NonNullable<MonitoringProps['keyAudit']>): void {
    const options = { period: this.period, statistic: 'Sum' };
    const machine = keyAudit.stateMachine;
    this.add(
      'KeyAuditExecutionFailed',
      'critical',
      'key-audit state machine',
      RUNBOOK_ANCHORS.keyAuditFailed,
      'key audit execution failed',
      'An execution of the key-audit state machine failed, timed out or was aborted: a stream was not audited, or what the audit landed was not published.',
      [
        `aws stepfunctions list-executions --state-machine-arn <${this.name}-key-audit> --status-filter FAILED --max-items 5`,
        `Logs Insights on /connector/${this.name}/key-audit: filter level = "ERROR"`,
      ],
      new cloudwatch.MathExpression({
        expression: 'FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)',
        usingMetrics: {
          failed: machine.metricFailed(options),
          timedOut: machine.metricTimedOut(options),
          aborted: machine.metricAborted(options),
        },
        period: this.period,
        label: 'key-audit executions failed, timed out or aborted',
      }),
      this.anyInOnePeriod,
    );
    const ignoreMissing = {
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      treatMissingData: cloudwatch.TreatMissingData.IGNORE,
    };
    const status = `connector status ${this.name.replace(/-(sandbox|production)$/, '')} (the last key audit per stream)`;
    for (const stream of keyAudit.streams) {
      this.add(
        `KeyAuditFailed${pascal(stream)}`,
        'critical',
        `stream ${stream}`,
        RUNBOOK_ANCHORS.keyAuditFailed,
        `${stream} key audit failed`,
        `The key audit of ${stream} failed: deletes at the source and rows missing from the lake are not being detected. In ALARM until an audit of the stream completes.`,
        [status, `Logs Insights on /connector/${this.name}/key-audit: filter stream = "${stream}" and level = "ERROR"`],
        this.connectorMetric(METRICS.keyAuditFailed, 'Maximum', this.period, stream),
        ignoreMissing,
      );
      this.add(
        `KeyAuditLostRows${pascal(stream)}`,
        'warning',
        `stream ${stream}`,
        RUNBOOK_ANCHORS.keyAuditLostRows,
        `${stream} rows lost from the lake`,
        `The key audit of ${stream} found rows at the source that the lake had lost, and re-extracted them: something removed or never landed them (a commit later than the lookback, a manual deletion). In ALARM until an audit of the stream finds none.`,
        [
          status,
          `Logs Insights on /connector/${this.name}/key-audit: filter stream = "${stream}" and rowsRepaired > 0`,
        ],
        this.connectorMetric(METRICS.keyAuditRepaired, 'Maximum', this.period, stream),
        ignoreMissing,
      );
    }
    this.functionAlarms(keyAudit.function, 'key-audit');
    this.queueNotEmpty(
      'KeyAuditScheduleDeadLetters',
      keyAudit.scheduleDeadLetterQueue,
      'key-audit schedule',
      RUNBOOK_ANCHORS.keyAuditScheduleDeadLetters,
      'key audit schedule dead letters',
      'EventBridge Scheduler could not start a key audit after its retries; the start request is in the dead-letter queue.',
      [
        'aws sqs receive-message on the key-audit schedule dead-letter queue (the input names the stream)',
        `the schedule role may still start ${this.name}-key-audit (aws iam simulate-principal-policy)`,
      ],
    );
  }

  private fileDropAlarms(fileDrop: MonitoredFileDrop): void {
    this.queueNotEmpty(
      'FileDropDeadLetters',
      fileDrop.deadLetterQueue,
      'file drop',
      RUNBOOK_ANCHORS.fileDropDeadLetters,
      'file drop dead letters',
      'The ingest function failed on dropped files after its retries: those files have neither landed nor been quarantined.',
      [
        'aws sqs receive-message on the file-drop dead-letter queue (the S3 keys of the files)',
        `Logs Insights on /connector/${this.name}/ingest-file: filter level = "ERROR"`,
      ],
    );
    this.add(
      'FilesQuarantined',
      'warning',
      'file drop',
      RUNBOOK_ANCHORS.filesQuarantined,
      'files quarantined',
      'Dropped files failed validation and were moved to quarantine/ with a machine-readable reason; their rows did not land.',
      [
        `aws s3 ls s3://<landing bucket>/quarantine/ --recursive (newest first) and the reason file beside each`,
        'whether the operator changed its export format (columns, delimiter, time format)',
      ],
      this.connectorMetric(INGEST_METRICS.filesQuarantined, 'Sum', this.period),
      this.anyInOnePeriod,
    );
    this.functionAlarms(fileDrop.ingest, 'ingest-file');

    for (const stream of Object.keys(this.config.streams) as StreamName[]) {
      const sla = fileDropSlaMinutes(this.config, stream);
      const shape = fileDropFreshnessShape(sla);
      this.add(
        `FileDropStale${pascal(stream)}`,
        'critical',
        `stream ${stream}`,
        RUNBOOK_ANCHORS.fileDropStale,
        `${stream} no file landed`,
        `No ${stream} file has landed for ${sla} minutes (its file-drop freshness SLA): the operator's export stopped, its upload fails, or every file was quarantined. Missing data counts as breaching.`,
        [
          `aws s3 ls s3://<landing bucket>/inbound/${stream}/ and quarantine/${stream}/ (newest first)`,
          `Logs Insights on /connector/${this.name}/ingest-file: filter stream = "${stream}"`,
        ],
        // One RowsIngested datapoint per landed file: its sample count is the number of files landed.
        this.connectorMetric(INGEST_METRICS.rowsIngested, 'SampleCount', Duration.minutes(shape.periodMinutes), stream),
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

  private servingAlarms(serving: NonNullable<MonitoringProps['serving']>, maxDelayMinutes: number): void {
    const options = { period: this.period, statistic: 'Sum' };
    const machine = serving.publishStateMachine;
    this.add(
      'PublishFailed',
      'critical',
      'publish state machine',
      RUNBOOK_ANCHORS.publishFailed,
      'publish failed',
      'A publish into the serving tables failed, timed out or was aborted: the tables analysts query miss the runs it should have merged (they stay in the backlog for the next publish).',
      [
        `aws stepfunctions list-executions --state-machine-arn <${this.name}-publish> --status-filter FAILED --max-items 5`,
        "the execution's cause (names the streams and runs) and the failed Athena query in the workgroup's history",
      ],
      new cloudwatch.MathExpression({
        expression: 'FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)',
        usingMetrics: {
          failed: machine.metricFailed(options),
          timedOut: machine.metricTimedOut(options),
          aborted: machine.metricAborted(options),
        },
        period: this.period,
        label: 'publish executions failed, timed out or aborted',
      }),
      this.anyInOnePeriod,
    );
    this.add(
      'PublishBacklog',
      'warning',
      'serving tables',
      RUNBOOK_ANCHORS.publishBacklog,
      'publish backlog',
      `A committed window has waited more than ${maxDelayMinutes} minutes to be published: the serving tables are behind what has landed.`,
      [
        `connector status ${this.name.replace(/-(sandbox|production)$/, '')} (the publish backlog per stream)`,
        `aws stepfunctions list-executions --state-machine-arn <${this.name}-publish> --max-items 5`,
      ],
      this.connectorMetric(PUBLISH_METRICS.publishBacklogAgeSeconds, 'Maximum', Duration.minutes(15)),
      {
        threshold: maxDelayMinutes * 60,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        datapointsToAlarm: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      },
    );
    if (serving.scheduleDeadLetterQueue) {
      this.queueNotEmpty(
        'PublishScheduleDeadLetters',
        serving.scheduleDeadLetterQueue,
        'publish schedule',
        RUNBOOK_ANCHORS.publishScheduleDeadLetters,
        'publish schedule dead letters',
        'EventBridge Scheduler could not start the publish state machine after its retries: dropped files that landed are not reaching the serving tables.',
        [
          'aws sqs receive-message on the publish schedule dead-letter queue (the error the scheduler got)',
          `aws stepfunctions describe-state-machine --state-machine-arn <${this.name}-publish>`,
        ],
      );
    }
    if (walletLedgerSettings(this.config).enabled && this.config.streams.wallet_transactions) this.walletAlarms();
    this.functionAlarms(serving.publishFunction, 'publish');
  }

  /** The wallet ledger audit run after each publish: breaks found, and audits that could not run. */
  private walletAlarms(): void {
    const operator = this.name.replace(/-(sandbox|production)$/, '');
    this.add(
      'WalletLedgerBreaks',
      'critical',
      'stream wallet_transactions',
      RUNBOOK_ANCHORS.walletLedgerBreaks,
      'wallet ledger breaks',
      "The wallet ledger audit found entries whose balance_after does not follow from the player's previous entry and the entry's amount: a ledger entry is missing, duplicated or mapped to the wrong type (a wallet discrepancy, at the operator or in the lake).",
      [
        `connector status ${operator} (the last audit's breaks and the report object)`,
        `aws s3 cp s3://<landing bucket>/_integrity/wallet/<publish>-<time>.json - (the examples: player pseudonym, transaction ids, expected and actual balance)`,
      ],
      this.connectorMetric(WALLET_LEDGER_METRICS.walletLedgerBreaks, 'Maximum', this.period),
      {
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      },
    );
    this.add(
      'WalletLedgerAuditFailed',
      'warning',
      'stream wallet_transactions',
      RUNBOOK_ANCHORS.walletLedgerAuditFailed,
      'wallet ledger audit failed',
      "The wallet ledger audit after a publish could not run (its Athena statement failed or timed out): the players of that publish's wallet entries went unchecked.",
      [
        `aws stepfunctions list-executions --state-machine-arn <${this.name}-publish> --max-items 5 (the "Audit wallet ledger" step)`,
        'the publish function log (the audit error) and the failed query in the workgroup history',
      ],
      this.connectorMetric(WALLET_LEDGER_METRICS.walletLedgerAuditFailures, 'Sum', this.period),
      this.anyInOnePeriod,
    );
  }

  private landingAlarms(landing: NonNullable<MonitoringProps['landing']>): void {
    this.queueNotEmpty(
      'SweepDeadLetters',
      landing.scheduleDeadLetterQueue,
      'landing sweep',
      RUNBOOK_ANCHORS.sweepDeadLetters,
      'landing sweep not started',
      'The scheduler could not invoke the daily landing sweep after its retries: attempts that never committed are not being removed (they stay invisible, but accumulate).',
      [
        'aws sqs receive-message on the sweep schedule dead-letter queue (the error the scheduler got)',
        `aws lambda get-function --function-name <sweep-landing function> (does it exist, is it throttled)`,
      ],
    );
    this.functionAlarms(landing.sweep, 'sweep-landing');
  }

  // ---------------------------------------------------------------------------------- dashboard

  private buildDashboard(props: MonitoringProps, streams: readonly StreamName[]): cloudwatch.Dashboard {
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${this.name}-connector`,
      defaultInterval: Duration.days(1),
    });
    const fiveMinutes = Duration.minutes(5);
    const hour = Duration.hours(1);
    dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown: `# ${this.config.displayName} (${this.config.stage})\nOne section per alarm in the runbook (${this.config.alerts.runbookUrl ? `[runbook](${this.config.alerts.runbookUrl})` : `\`${RUNBOOK}\``}). Health alarm: **${this.name} unhealthy**.`,
        width: 24,
        height: 2,
      }),
    );
    if (this.list.length > 0) {
      dashboard.addWidgets(
        new cloudwatch.AlarmStatusWidget({
          title: 'Alarms',
          alarms: [...(this.healthAlarm ? [this.healthAlarm] : []), ...this.list.map((a) => a.alarm)],
          width: 24,
          height: 4,
        }),
      );
    }

    if (props.pipeline) {
      const interval = scheduleIntervalMinutes(this.config.incremental.schedule);
      dashboard.addWidgets(
        ...streams.map(
          (stream) =>
            new cloudwatch.GraphWidget({
              title: `Freshness lag: ${stream}`,
              left: [
                this.connectorMetric(METRICS.freshnessLagSeconds, 'Maximum', Duration.minutes(interval), stream).with({
                  label: `${stream} lag`,
                }),
              ],
              leftAnnotations: [
                { value: freshnessSlaMinutes(this.config, stream) * 60, label: 'SLA (seconds)', color: '#d62728' },
              ],
              leftYAxis: { min: 0, label: 'seconds' },
              width: 6,
              height: 5,
            }),
        ),
      );
      const { snapshotStateMachine: snapshot, incrementalStateMachine: incremental } = props.pipeline;
      const sum = { period: fiveMinutes, statistic: 'Sum' };
      dashboard.addWidgets(
        new cloudwatch.GraphWidget({
          title: 'Rows landed per stream',
          left: streams.map((s) =>
            this.connectorMetric(METRICS.rowsExtracted, 'Sum', fiveMinutes, s).with({ label: s }),
          ),
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
            this.sumOverStreams(METRICS.extractFailures, streams, fiveMinutes, 'extract failures (all streams)'),
            this.sumOverStreams(
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
            this.connectorMetric(METRICS.windowDurationMs, 'Maximum', fiveMinutes, s).with({ label: s }),
          ),
          width: 12,
          height: 6,
        }),
        new cloudwatch.GraphWidget({
          title: 'Snapshot progress',
          left: [
            this.connectorMetric(PIPELINE_METRICS.snapshotWindowsPlanned, 'Sum', hour),
            this.sumOverStreams(METRICS.windowsCompleted, streams, hour, 'windows completed (all streams)'),
            this.connectorMetric(PIPELINE_METRICS.snapshotWindowsFailed, 'Sum', hour),
          ],
          right: [
            this.connectorMetric(PIPELINE_METRICS.snapshotsCompleted, 'Sum', hour),
            this.connectorMetric(PIPELINE_METRICS.snapshotsFailed, 'Sum', hour),
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
            this.connectorMetric(PIPELINE_METRICS.incrementalRunsSkipped, 'Sum', fiveMinutes),
            this.connectorMetric(PIPELINE_METRICS.incrementalStreamsFailed, 'Sum', fiveMinutes),
          ],
          width: 12,
          height: 6,
        }),
        new cloudwatch.GraphWidget({
          title: 'Rows with a NULL cursor (not landed)',
          left: streams.map((s) =>
            this.connectorMetric(METRICS.nullCursorRows, 'Maximum', fiveMinutes, s).with({ label: s }),
          ),
          leftYAxis: { min: 0, label: 'rows' },
          width: 12,
          height: 6,
        }),
        new cloudwatch.GraphWidget({
          title: 'Late arrivals: largest lateness per run (alarm above the line)',
          left: streams.map((s) =>
            this.connectorMetric(METRICS.maxLatenessSeconds, 'Maximum', fiveMinutes, s).with({ label: s }),
          ),
          leftYAxis: { min: 0, label: 'seconds' },
          leftAnnotations: [
            {
              value: this.config.incremental.latenessAlarmShare * this.config.incremental.lookbackMinutes * 60,
              label: `${Math.round(this.config.incremental.latenessAlarmShare * 100)}% of the lookback`,
            },
          ],
          width: 12,
          height: 6,
        }),
        new cloudwatch.GraphWidget({
          title: 'Schedule dead letters',
          left: [
            props.pipeline.scheduleDeadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: fiveMinutes }),
          ],
          width: 12,
          height: 6,
        }),
      );
    }

    if (props.pipeline || props.fileDrop) {
      dashboard.addWidgets(
        new cloudwatch.GraphWidget({
          title: 'Schema drift (columns changed per check)',
          left: streams.map((s) =>
            this.connectorMetric(METRICS.schemaDriftColumns, 'Maximum', fiveMinutes, s).with({ label: s }),
          ),
          leftYAxis: { min: 0, label: 'columns' },
          width: 24,
          height: 6,
        }),
      );
    }

    if (props.fileDrop) {
      dashboard.addWidgets(
        new cloudwatch.GraphWidget({
          title: 'File drops landed / quarantined',
          left: [
            this.connectorMetric(INGEST_METRICS.filesIngested, 'Sum', fiveMinutes).with({ label: 'files landed' }),
            this.connectorMetric(INGEST_METRICS.filesQuarantined, 'Sum', fiveMinutes).with({
              label: 'files quarantined',
            }),
          ],
          right: streams.map((s) =>
            this.connectorMetric(INGEST_METRICS.rowsIngested, 'Sum', fiveMinutes, s).with({ label: `${s} rows` }),
          ),
          width: 12,
          height: 6,
        }),
        new cloudwatch.GraphWidget({
          title: 'File-drop dead letters',
          left: [props.fileDrop.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: fiveMinutes })],
          width: 12,
          height: 6,
        }),
      );
    }
    return dashboard;
  }
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

function pascal(stream: string): string {
  return stream.replace(/(^|_)(\w)/g, (_, __, c: string) => c.toUpperCase());
}

function validateMinutes(name: string, what: string, value: Duration, min: number, max: number): void {
  const minutes = value.toMinutes({ integral: false });
  if (!Number.isInteger(minutes) || minutes < min || minutes > max) {
    throw new Error(
      `Monitoring of ${name}: ${what} must be whole minutes between ${min} and ${max}, got ${value.toHumanString()}; e.g. Duration.minutes(${Math.max(min, 5)})`,
    );
  }
}

/**
 * An alarm description: operator and component, what it means, the first two things to check and
 * the runbook section. CloudWatch keeps at most 1,024 characters.
 */
function describe(parts: {
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
