/**
 * The alarms of the serving layer: publishes into the serving tables that failed, a publish backlog,
 * a publish schedule that could not start (file drops), the wallet ledger audit run after each
 * publish, and the publish function.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { walletLedgerSettings } from '#shared/config/wallet-ledger';
import { PUBLISH_METRICS } from '#shared/contracts/metrics';
import { type AlarmFactory, ANY_IN_ONE_PERIOD } from './alarm-factory.ts';
import type { MonitoredServing } from './props.ts';
import { RUNBOOK_ANCHORS } from './runbook.ts';
import { walletLedgerAlarms } from './wallet-ledger.ts';

/** Every alarm of the serving layer, in the order the health alarm lists them. */
export function servingAlarms(alarms: AlarmFactory, serving: MonitoredServing, maxDelayMinutes: number): void {
  const { config, name } = alarms;
  alarms.add(
    'PublishFailed',
    'critical',
    'publish state machine',
    RUNBOOK_ANCHORS.publishFailed,
    'publish failed',
    'A publish into the serving tables failed, timed out or was aborted: the tables analysts query miss the runs it should have merged (they stay in the backlog for the next publish).',
    [
      `aws stepfunctions list-executions --state-machine-arn <${name}-publish> --status-filter FAILED --max-items 5`,
      "the execution's cause (names the streams and runs) and the failed Athena query in the workgroup's history",
    ],
    alarms.executionsFailed(serving.publishStateMachine, 'publish executions failed, timed out or aborted'),
    ANY_IN_ONE_PERIOD,
  );
  alarms.add(
    'PublishBacklog',
    'warning',
    'serving tables',
    RUNBOOK_ANCHORS.publishBacklog,
    'publish backlog',
    `A committed window has waited more than ${maxDelayMinutes} minutes to be published: the serving tables are behind what has landed.`,
    [
      `connector status ${name.replace(/-(sandbox|production)$/, '')} (the publish backlog per stream)`,
      `aws stepfunctions list-executions --state-machine-arn <${name}-publish> --max-items 5`,
    ],
    alarms.metrics.metric(PUBLISH_METRICS.publishBacklogAgeSeconds, 'Maximum', Duration.minutes(15)),
    {
      threshold: maxDelayMinutes * 60,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    },
  );
  if (serving.scheduleDeadLetterQueue) {
    alarms.queueNotEmpty(
      'PublishScheduleDeadLetters',
      serving.scheduleDeadLetterQueue,
      'publish schedule',
      RUNBOOK_ANCHORS.publishScheduleDeadLetters,
      'publish schedule dead letters',
      'EventBridge Scheduler could not start the publish state machine after its retries: dropped files that landed are not reaching the serving tables.',
      [
        'aws sqs receive-message on the publish schedule dead-letter queue (the error the scheduler got)',
        `aws stepfunctions describe-state-machine --state-machine-arn <${name}-publish>`,
      ],
    );
  }
  // The wallet ledger audit runs in the publish function, after each publish.
  if (walletLedgerSettings(config).enabled && config.streams.wallet_transactions) walletLedgerAlarms(alarms);
  alarms.functionAlarms(serving.publishFunction, 'publish');
}
