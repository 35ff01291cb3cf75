/**
 * What every EventBridge Scheduler schedule of the stack needs besides its target: a dead-letter
 * queue for start requests the scheduler could not deliver, and the role it assumes (trusted only
 * for this account).
 */
import { Duration, type RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { acknowledgeFindings } from '../nag.ts';

/**
 * The schedule's dead-letter queue (`ScheduleDeadLetterQueue` in `scope`): encrypted with the
 * operator key, TLS only, 14 days. `reason` tells why it has no dead-letter queue of its own.
 */
export function scheduleDeadLetterQueue(
  scope: Construct,
  key: kms.IKey,
  removalPolicy: RemovalPolicy | undefined,
  reason: string,
): sqs.Queue {
  const queue = new sqs.Queue(scope, 'ScheduleDeadLetterQueue', {
    encryption: sqs.QueueEncryption.KMS,
    encryptionMasterKey: key,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
    ...(removalPolicy ? { removalPolicy } : {}),
  });
  acknowledgeFindings(queue, ['AwsSolutions-SQS3', 'Serverless-SQSRedrivePolicy'], reason);
  return queue;
}

/** The role the scheduler assumes (`ScheduleRole` in `scope`), for this account's schedules only. */
export function schedulerRole(scope: Construct, description: string): iam.Role {
  return new iam.Role(scope, 'ScheduleRole', {
    assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
      conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(scope).account } },
    }),
    description,
  });
}
