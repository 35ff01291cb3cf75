/**
 * Housekeeping of the landing zone: the sweep-landing function, run daily by an EventBridge
 * Scheduler schedule, removes the parts and manifests of window attempts that never committed
 * (they were never visible; see `lambdas/shared/landing/sweep.ts`).
 */
import { type CfnResource, Duration, type RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { OperatorConfig } from '#shared/config/schema';
import { acknowledgeFindings } from '../nag.ts';
import { ConnectorFunction } from './connector-function.ts';
import { connectorEnvironment } from './extractors.ts';
import type { LambdaBundle } from './lambda-bundle.ts';
import type { LandingZone } from './landing-zone.ts';
import { scheduleDeadLetterQueue, schedulerRole } from './schedule.ts';
import type { SyncState } from './sync-state.ts';

/** When the sweep runs (UTC): daily, off the hour so it does not meet the incremental schedule's round minutes. */
export const SWEEP_SCHEDULE = 'cron(17 3 * * ? *)';

export interface LandingMaintenanceProps {
  readonly config: OperatorConfig;
  /** The stack's shared code asset. */
  readonly bundle: LambdaBundle;
  readonly landingZone: LandingZone;
  readonly syncState: SyncState;
  /**
   * What `cdk destroy` does to the function's log group and the schedule's dead-letter queue.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** The sweep-landing function and its daily schedule. */
export class LandingMaintenance extends Construct {
  /** sweep-landing: removes attempts that never committed, once older than the grace period. */
  public readonly sweepFunction: ConnectorFunction;
  /** Starts the sweep daily ({@link SWEEP_SCHEDULE}). */
  public readonly schedule: scheduler.CfnSchedule;
  /** Invocations the scheduler could not deliver after its retries. */
  public readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: LandingMaintenanceProps) {
    super(scope, id);
    const { config, landingZone, syncState } = props;
    const name = `${config.operatorId}-${config.stage}`;
    const removal = props.removalPolicy ? { removalPolicy: props.removalPolicy } : {};

    this.sweepFunction = new ConnectorFunction(this, 'SweepLanding', {
      bundle: props.bundle,
      handler: 'sweep-landing',
      description: `${name}: removes landed parts of window attempts that never committed`,
      encryptionKey: landingZone.key,
      logGroupName: `${landingZone.logGroupNamePrefix}sweep-landing`,
      logRetentionDays: config.retention.logDays,
      environment: connectorEnvironment(config, landingZone, syncState),
      // One run a day; a second concurrent sweep would only repeat the same deletions.
      reservedConcurrency: 1,
      memorySize: 512,
      timeout: Duration.minutes(15),
      ...removal,
    });
    const fn = this.sweepFunction;
    landingZone.grantSweepRaw(fn.grantee);
    const bucket = Stack.of(landingZone).getLogicalId(landingZone.bucket.node.defaultChild as CfnResource);
    fn.acknowledgeWildcards(
      [
        `Resource::<${bucket}.Arn>/raw/*`,
        `Resource::<${bucket}.Arn>/_manifests/*`,
        `Resource::<${bucket}.Arn>/_committed/*`,
      ],
      'Attempts at windows have keys chosen per run, window and attempt under raw/ and _manifests/ (deleted when they never committed), and committed lists under _committed/ (only read); listing is limited to these three prefixes of this operator bucket by an s3:prefix condition.',
    );
    acknowledgeFindings(
      fn.function,
      ['NIST.800.53.R5-LambdaInsideVPC', 'PCI.DSS.321-LambdaInsideVPC'],
      'The sweep only calls S3 and KMS over TLS with IAM authorization; it connects to no network resource, so it needs no VPC (a file-drop operator has none in this stack).',
    );

    this.deadLetterQueue = scheduleDeadLetterQueue(
      this,
      landingZone.key,
      props.removalPolicy,
      'This queue is itself the dead-letter queue of the sweep schedule: it keeps invocations the scheduler could not deliver for 14 days; a dead-letter queue of a dead-letter queue would only move them again.',
    );
    const role = schedulerRole(this, `${name}: invokes the landing sweep on schedule`);
    const policy = new iam.ManagedPolicy(this, 'SchedulePolicy', {
      roles: [role],
      description: `${name}: invoke the landing sweep; dead-letter undeliverable invocations`,
      statements: [
        new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [fn.function.functionArn] }),
        new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.deadLetterQueue.queueArn] }),
        new iam.PolicyStatement({
          actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
          resources: [landingZone.key.keyArn],
        }),
      ],
    });
    this.schedule = new scheduler.CfnSchedule(this, 'SweepSchedule', {
      name: `${name}-sweep-landing`,
      description: `Removes landed parts of window attempts of ${config.operatorId} (${config.stage}) that never committed`,
      scheduleExpression: SWEEP_SCHEDULE,
      scheduleExpressionTimezone: 'UTC',
      flexibleTimeWindow: { mode: 'FLEXIBLE', maximumWindowInMinutes: 60 },
      state: 'ENABLED',
      target: {
        arn: fn.function.functionArn,
        roleArn: role.roleArn,
        input: '{}',
        retryPolicy: { maximumRetryAttempts: 3, maximumEventAgeInSeconds: 3600 },
        deadLetterConfig: { arn: this.deadLetterQueue.queueArn },
      },
    });
    this.schedule.node.addDependency(policy);
  }
}
