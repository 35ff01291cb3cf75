/**
 * The EventBridge Scheduler schedule that starts incremental runs (`incremental.schedule`, UTC),
 * with its dead-letter queue and its role (the shared parts come from ../schedule.ts).
 */
import type { RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import type { OperatorConfig } from '#shared/config/schema';
import { scheduleDeadLetterQueue, schedulerRole } from '../schedule.ts';

/** The schedule and what it needs. */
export interface IncrementalSchedule {
  readonly schedule: scheduler.CfnSchedule;
  /** `states:StartExecution` on the incremental state machine only. */
  readonly role: iam.Role;
  /** Start requests the scheduler could not deliver after its retries. */
  readonly deadLetterQueue: sqs.Queue;
}

/**
 * The incremental schedule (`IncrementalSchedule` in `scope`, named like the state machine), its
 * dead-letter queue, role and policy (`ScheduleDeadLetterQueue`, `ScheduleRole`, `SchedulePolicy`).
 */
export function incrementalSchedule(
  scope: Construct,
  props: {
    readonly config: OperatorConfig;
    /** The incremental state machine's name (the schedule's too). */
    readonly incrementalName: string;
    readonly incrementalStateMachine: sfn.IStateMachine;
    readonly key: kms.IKey;
    readonly removalPolicy?: RemovalPolicy;
  },
): IncrementalSchedule {
  const { config, incrementalName, incrementalStateMachine } = props;
  const name = `${config.operatorId}-${config.stage}`;
  const deadLetterQueue = scheduleDeadLetterQueue(
    scope,
    props.key,
    props.removalPolicy,
    'This queue is itself the dead-letter queue of the incremental schedule: it keeps start requests the scheduler could not deliver for 14 days for the on-call engineer; a dead-letter queue of a dead-letter queue would only move them again.',
  );
  const role = schedulerRole(scope, `${name}: starts incremental executions on schedule`);
  const schedulePolicy = new iam.ManagedPolicy(scope, 'SchedulePolicy', {
    roles: [role],
    description: `${name}: start the incremental state machine; dead-letter undeliverable starts`,
    statements: [
      new iam.PolicyStatement({
        actions: ['states:StartExecution'],
        resources: [incrementalStateMachine.stateMachineArn],
      }),
      new iam.PolicyStatement({
        actions: ['sqs:SendMessage'],
        resources: [deadLetterQueue.queueArn],
      }),
      new iam.PolicyStatement({
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: [props.key.keyArn],
      }),
    ],
  });
  const schedule = new scheduler.CfnSchedule(scope, 'IncrementalSchedule', {
    name: incrementalName,
    description: `Starts the incremental sync of ${config.operatorId} (${config.stage})`,
    scheduleExpression: config.incremental.schedule,
    scheduleExpressionTimezone: 'UTC',
    flexibleTimeWindow: { mode: 'OFF' },
    state: 'ENABLED',
    target: {
      arn: incrementalStateMachine.stateMachineArn,
      roleArn: role.roleArn,
      input: '{}',
      // A missed start is caught up by the next one; retry briefly, then keep the request.
      retryPolicy: { maximumRetryAttempts: 3, maximumEventAgeInSeconds: 300 },
      deadLetterConfig: { arn: deadLetterQueue.queueArn },
    },
  });
  schedule.node.addDependency(schedulePolicy);
  return { schedule, role, deadLetterQueue };
}
