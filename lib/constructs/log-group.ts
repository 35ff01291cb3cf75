/**
 * A CloudWatch log group encrypted with the operator key and kept for the configured retention.
 */
import type { RemovalPolicy } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { OperatorConfig } from '#shared/config/schema';

export interface EncryptedLogGroupProps {
  /**
   * Full name of the log group; it must start with the landing zone's `logGroupNamePrefix`, the
   * only log groups the key policy lets CloudWatch Logs encrypt for.
   */
  readonly logGroupName: string;
  /** The operator's customer-managed key. */
  readonly encryptionKey: kms.IKey;
  /** Days log events are kept (the config's `retention.logDays`). */
  readonly retentionDays: OperatorConfig['retention']['logDays'];
  /**
   * What `cdk destroy` does to the log group.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** A log group encrypted with the operator key, with a finite retention. */
export class EncryptedLogGroup extends Construct {
  /** The log group. */
  public readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: EncryptedLogGroupProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      logGroupName: props.logGroupName,
      encryptionKey: props.encryptionKey,
      retention: props.retentionDays as logs.RetentionDays,
      ...(props.removalPolicy ? { removalPolicy: props.removalPolicy } : {}),
    });
  }
}
