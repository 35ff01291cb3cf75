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
 * **Layout.** One file per concern: `metrics.ts` (the metric factory over `contracts/metrics`),
 * `alarm-factory.ts` (names, descriptions, actions and the shared alarm shapes), `runbook.ts` (the
 * runbook section of each alarm kind), one file per component family of alarms (`extraction.ts`,
 * `money-totals.ts`, `freshness.ts`, `schema-drift.ts`, `file-drop.ts`, `landing.ts`, `serving.ts`,
 * `wallet-ledger.ts`, `key-audit.ts`), `dashboard.ts`; this construct composes them. The order in
 * which the families are called is the order of the alarms (the health alarm's rule, the
 * dashboard's status widget).
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import type { StreamName } from '#shared/canonical';
import { AlarmFactory, type AlarmSeverity, type OperatorAlarm } from './alarm-factory.ts';
import { operatorDashboard } from './dashboard.ts';
import { extractionAlarms } from './extraction.ts';
import { fileDropAlarms } from './file-drop.ts';
import { keyAuditAlarms } from './key-audit.ts';
import { landingAlarms } from './landing.ts';
import { ConnectorMetrics } from './metrics.ts';
import { moneyTotalsAlarms } from './money-totals.ts';
import type { MonitoringProps } from './props.ts';
import { describeAlarm, RUNBOOK_ANCHORS } from './runbook.ts';
import { schemaDriftAlarms } from './schema-drift.ts';
import { servingAlarms } from './serving.ts';

export type { AlarmSeverity, OperatorAlarm } from './alarm-factory.ts';
export {
  type FreshnessShape,
  fileDropFreshnessShape,
  fileDropSlaMinutes,
  freshnessShape,
  freshnessSlaMinutes,
  scheduleIntervalMinutes,
} from './freshness.ts';
export type {
  MonitoredFileDrop,
  MonitoredKeyAudit,
  MonitoredLanding,
  MonitoredPipeline,
  MonitoredServing,
  MonitoringOptions,
  MonitoringProps,
} from './props.ts';
export { RUNBOOK, RUNBOOK_ANCHORS, runbookLink } from './runbook.ts';

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

  private readonly metrics: ConnectorMetrics;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const { config } = props;
    const name = `${config.operatorId}-${config.stage}`;
    const period = props.period ?? Duration.minutes(5);
    const stall = props.snapshotStallTime ?? Duration.hours(2);
    validateMinutes(name, 'period', period, 1, 1440);
    validateMinutes(name, 'snapshotStallTime', stall, 5, 1440);
    if (props.freshnessPeriod) validateMinutes(name, 'freshnessPeriod', props.freshnessPeriod, 5, 480);
    if (props.notificationEmails?.length && !props.notificationDeadLetterQueue) {
      throw new Error(
        `Monitoring of ${name}: notificationEmails need a notificationDeadLetterQueue (e.g. the alarm topic's deadLetterQueue) so undeliverable notifications are kept`,
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

    this.metrics = new ConnectorMetrics(name);
    const alarms = new AlarmFactory(
      this,
      name,
      config,
      period,
      this.metrics,
      new actions.SnsAction(this.notificationTopic),
    );
    const streams = Object.keys(config.streams) as StreamName[];
    if (props.pipeline) {
      extractionAlarms(alarms, props.pipeline, streams, stall, props.freshnessPeriod);
      moneyTotalsAlarms(alarms, streams);
    }
    if (props.fileDrop) fileDropAlarms(alarms, props.fileDrop);
    if (props.pipeline || props.fileDrop) schemaDriftAlarms(alarms, streams, props.pipeline ? 'database' : 'files');
    if (props.landing) landingAlarms(alarms, props.landing);
    if (props.serving) servingAlarms(alarms, props.serving, config.serving.maxPublishDelayMinutes);
    if (props.keyAudit) keyAuditAlarms(alarms, props.keyAudit);
    this.alarms = alarms.alarms;

    if (this.alarms.length > 0) {
      this.healthAlarm = new cloudwatch.CompositeAlarm(this, 'Health', {
        compositeAlarmName: `${name} unhealthy`,
        alarmRule: cloudwatch.AlarmRule.anyOf(...this.alarms.map((a) => a.alarm)),
        alarmDescription: describeAlarm({
          operator: name,
          component: 'connector',
          meaning:
            'At least one alarm of the connector is in ALARM: data is failing to land, is late, or may be wrong. This is the one alarm that pages.',
          checks: [
            `aws cloudwatch describe-alarms --alarm-name-prefix "${name} " --state-value ALARM`,
            `dashboard ${name}-connector`,
          ],
          anchor: RUNBOOK_ANCHORS.unhealthy,
          runbookUrl: config.alerts.runbookUrl,
        }),
      });
      const page = new actions.SnsAction(props.alarmTopic);
      this.healthAlarm.addAlarmAction(page);
      this.healthAlarm.addOkAction(page);
    }

    this.dashboard = operatorDashboard(this, {
      name,
      config,
      metrics: this.metrics,
      alarms: this.alarms,
      healthAlarm: this.healthAlarm,
      pipeline: props.pipeline,
      fileDrop: props.fileDrop,
      streams,
    });
  }

  /** The alarms of one severity. */
  public alarmsOf(severity: AlarmSeverity): readonly OperatorAlarm[] {
    return this.alarms.filter((a) => a.severity === severity);
  }

  /** A connector metric with the dimensions the handlers emit (`service`, `Operator`, and `Stream` when given). */
  public connectorMetric(
    metricName: string,
    statistic: string,
    period: Duration,
    stream?: StreamName,
  ): cloudwatch.Metric {
    return this.metrics.metric(metricName, statistic, period, stream);
  }
}

function validateMinutes(name: string, what: string, value: Duration, min: number, max: number): void {
  const minutes = value.toMinutes({ integral: false });
  if (!Number.isInteger(minutes) || minutes < min || minutes > max) {
    throw new Error(
      `Monitoring of ${name}: ${what} must be whole minutes between ${min} and ${max}, got ${value.toHumanString()}; e.g. Duration.minutes(${Math.max(min, 5)})`,
    );
  }
}
