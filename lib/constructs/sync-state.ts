/**
 * The DynamoDB table of sync state: watermarks, snapshot progress and the run lock.
 */
import type { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { acknowledgeFindings } from '../nag.ts';
import { type ConnectorStage, dataRemovalPolicy } from './removal-policy.ts';

/** Attribute names of the sync-state table's keys and TTL. */
export const SYNC_STATE_KEYS = { partitionKey: 'pk', sortKey: 'sk', ttl: 'expiresAt' } as const;

export interface SyncStateProps {
  /** Operator identifier, named in errors. */
  readonly operatorId: string;
  /** Stage of the stack; DESTROY is refused for anything but sandbox. */
  readonly stage: ConnectorStage;
  /** The operator's customer-managed key; encrypts the table. */
  readonly encryptionKey: kms.IKey;
  /**
   * What `cdk destroy` does to the table.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Refuse DeleteTable, whoever asks.
   * @default true in production, false in sandbox
   */
  readonly deletionProtection?: boolean;
}

/**
 * On-demand table keyed by `pk`/`sk` (strings), TTL on `expiresAt` (epoch seconds, for locks and
 * finished-run records), encrypted with the operator key, point-in-time recovery on.
 */
export class SyncState extends Construct {
  /** The sync-state table. */
  public readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: SyncStateProps) {
    super(scope, id);
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: SYNC_STATE_KEYS.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: SYNC_STATE_KEYS.sortKey, type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: SYNC_STATE_KEYS.ttl,
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: props.encryptionKey,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: props.deletionProtection ?? props.stage === 'production',
      removalPolicy: dataRemovalPolicy(`sync state of ${props.operatorId}`, props.stage, props.removalPolicy),
    });
    acknowledgeFindings(
      this.table,
      ['NIST.800.53.R5-DynamoDBInBackupPlan'],
      'Point-in-time recovery keeps 35 days of continuous backups of this table, and its content (watermarks, snapshot progress, locks) can be rebuilt from the manifests in the landing bucket; a separate AWS Backup plan would add no recovery point it lacks.',
    );
  }

  /** Lets `grantee` read and write state items (and use the key for them). */
  public grantReadWrite(grantee: iam.IGrantable): iam.Grant {
    return this.table.grantReadWriteData(grantee);
  }

  /** Lets `grantee` read state items (for status reports and the CLI). */
  public grantRead(grantee: iam.IGrantable): iam.Grant {
    return this.table.grantReadData(grantee);
  }
}
