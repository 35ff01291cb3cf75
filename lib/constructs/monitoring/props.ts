/** The props of the Monitoring construct: the tunables, and what each component offers to monitor. */
import type { Duration } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { StreamName } from '#shared/canonical';
import type { OperatorConfig } from '#shared/config/schema';

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

/** What the snapshot and incremental pipelines offer to monitor: state machines, functions and the schedule's dead-letter queue. */
export interface MonitoredPipeline {
  readonly snapshotStateMachine: sfn.IStateMachine;
  readonly incrementalStateMachine: sfn.IStateMachine;
  readonly scheduleDeadLetterQueue: sqs.IQueue;
  /** extract-window: invoked only by the snapshot state machine ("a snapshot is running"). */
  readonly extractWindow: lambda.IFunction;
  readonly incrementalSync: lambda.IFunction;
  readonly planSnapshot: lambda.IFunction;
  readonly finalizeSnapshot: lambda.IFunction;
  readonly runLock: lambda.IFunction;
}

/** What a file drop offers to monitor. */
export interface MonitoredFileDrop {
  /** The function that validates and lands dropped files. */
  readonly ingest: lambda.IFunction;
  /** Object-created events the ingest function failed on after its retries. */
  readonly deadLetterQueue: sqs.IQueue;
}

/** What the landing sweep offers to monitor: its function and the dead-letter queue of its schedule. */
export interface MonitoredLanding {
  readonly sweep: lambda.IFunction;
  readonly scheduleDeadLetterQueue: sqs.IQueue;
}

/** What the scheduled key audit offers to monitor. */
export interface MonitoredKeyAudit {
  readonly stateMachine: sfn.IStateMachine;
  readonly function: lambda.IFunction;
  readonly streams: readonly StreamName[];
  readonly scheduleDeadLetterQueue: sqs.IQueue;
}

/** What the serving layer offers to monitor. */
export interface MonitoredServing {
  readonly publishStateMachine: sfn.IStateMachine;
  readonly publishFunction: lambda.IFunction;
  /** The publish schedule's dead-letter queue (file drops). */
  readonly scheduleDeadLetterQueue?: sqs.IQueue;
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
  readonly pipeline?: MonitoredPipeline;
  /**
   * The file drop: its ingest function, dead-letter queue and metrics.
   * @default - none
   */
  readonly fileDrop?: MonitoredFileDrop;
  /**
   * The landing sweep: its function and the dead-letter queue of its schedule.
   * @default - none
   */
  readonly landing?: MonitoredLanding;
  /** The scheduled key audit (hard deletes, lost rows), when any stream is audited. */
  readonly keyAudit?: MonitoredKeyAudit;
  /**
   * The serving layer: the publish state machine and function, and (file drops) the publish schedule's dead-letter queue.
   * @default - none
   */
  readonly serving?: MonitoredServing;
}
