/**
 * The SNS topic alarms are sent to, and its subscriptions.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { acknowledgeFindings } from '../nag.ts';

export interface AlarmTopicProps {
  /** Operator identifier, shown in the topic's display name. */
  readonly operatorId: string;
  /** Stage, shown in the topic's display name. */
  readonly stage: string;
  /**
   * The operator's customer-managed key; encrypts the topic and the dead-letter queue. Its key
   * policy is extended so CloudWatch (alarms) and SNS (dead letters) of this account may use it.
   */
  readonly encryptionKey: kms.IKey;
  /**
   * E-mail addresses subscribed to the topic.
   * @default - none
   */
  readonly emails?: readonly string[];
  /**
   * HTTPS endpoints (paging tools) subscribed to the topic.
   * @default - none
   */
  readonly httpsEndpoints?: readonly string[];
}

/**
 * KMS-encrypted, TLS-only topic that CloudWatch alarms of this account may publish to, with an
 * e-mail subscription per address and an HTTPS subscription per endpoint. Notifications that cannot
 * be delivered go to an encrypted dead-letter queue instead of being lost.
 */
export class AlarmTopic extends Construct {
  /** The alarm topic; use it as the action of every alarm. */
  public readonly topic: sns.Topic;
  /** Notifications SNS could not deliver to a subscriber. */
  public readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: AlarmTopicProps) {
    super(scope, id);
    const account = Stack.of(this).account;
    const sameAccount = { StringEquals: { 'aws:SourceAccount': account } };

    this.topic = new sns.Topic(this, 'Topic', {
      displayName: `Connector alarms ${props.operatorId} (${props.stage})`,
      masterKey: props.encryptionKey,
      enforceSSL: true,
    });

    // Encrypted topics need the publisher's service to use the key; scoped to this account's alarms.
    props.encryptionKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToUseKeyForAlarmTopic',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: sameAccount,
      }),
    );
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: sameAccount,
      }),
    );

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: props.encryptionKey,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    // SNS writes dead letters into the KMS-encrypted queue on behalf of this account's topic.
    props.encryptionKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowSnsToUseKeyForAlarmDeadLetters',
        principals: [new iam.ServicePrincipal('sns.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: sameAccount,
      }),
    );
    const deadLetterReason =
      'This queue is itself the dead-letter queue of the alarm subscriptions; messages in it are kept 14 days for the on-call engineer, and a dead-letter queue of a dead-letter queue would only move them again.';
    acknowledgeFindings(this.deadLetterQueue, ['AwsSolutions-SQS3', 'Serverless-SQSRedrivePolicy'], deadLetterReason);

    for (const email of props.emails ?? []) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(email, { deadLetterQueue: this.deadLetterQueue }));
    }
    for (const url of props.httpsEndpoints ?? []) {
      this.topic.addSubscription(
        new subscriptions.UrlSubscription(url, {
          protocol: sns.SubscriptionProtocol.HTTPS,
          deadLetterQueue: this.deadLetterQueue,
        }),
      );
    }
  }

  /** Lets `grantee` publish to the topic (e.g. a Lambda reporting a failed run). */
  public grantPublish(grantee: iam.IGrantable): iam.Grant {
    return this.topic.grantPublish(grantee);
  }
}
