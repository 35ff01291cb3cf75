/**
 * The operator's landing zone: its customer-managed KMS key and the S3 bucket everything lands in,
 * with a separate bucket for the landing bucket's server access logs.
 */
import { createHash } from 'node:crypto';
import { ArnFormat, Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { STREAM_NAMES, type StreamName } from '#shared/canonical';
import type { OperatorConfig } from '#shared/config/schema';
import { lookbackDigestPrefix, PREFIX, QUARANTINE_REASON_SUFFIX, WALLET_AUDIT_PREFIX } from '#shared/layout';
import { acknowledgeFindings } from '../nag.ts';
import { type ConnectorStage, dataRemovalPolicy } from './removal-policy.ts';

/** Retention settings of the landing zone (the operator config's `retention` block). */
export type LandingZoneRetention = OperatorConfig['retention'];

export interface LandingZoneProps {
  /** Operator identifier; names the key alias and log-group prefix. */
  readonly operatorId: string;
  /** Stage of the stack; DESTROY is refused for anything but sandbox. */
  readonly stage: ConnectorStage;
  /** How long landed data, originals, quarantined files, old versions and access logs are kept. */
  readonly retention: LandingZoneRetention;
  /**
   * What `cdk destroy` does to the key and both buckets. DESTROY (sandbox only) also empties the
   * buckets and schedules the key for deletion after 7 days.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Send the landing bucket's object events to EventBridge (file drops are triggered from them).
   * @default false
   */
  readonly eventBridgeEnabled?: boolean;
}

const S3_PUT_ACTIONS = ['s3:PutObject', 's3:AbortMultipartUpload'];

/**
 * KMS key (rotation on, alias `alias/connector/<operatorId>-<stage>`), landing bucket (SSE-KMS with
 * that key and a bucket key, TLS 1.2+ only, all public access blocked, ACLs disabled, versioned,
 * lifecycle from the retention settings, writes with any other key denied) and its access-log bucket.
 */
export class LandingZone extends Construct {
  /** The operator's customer-managed key; encrypts everything in the stack. */
  public readonly key: kms.Key;
  /** `alias/connector/<operatorId>-<stage>`. */
  public readonly keyAlias: kms.Alias;
  /** The landing bucket (`inbound/`, `raw/`, `_manifests/`, `archive/`, `quarantine/`). */
  public readonly bucket: s3.Bucket;
  /**
   * The landing bucket's name, known at synth: the key policy can name the bucket in its
   * encryption-context condition without referring to the bucket (which refers to the key).
   */
  public readonly bucketName: string;
  /** Receives the landing bucket's S3 server access logs under `landing/`. */
  public readonly accessLogBucket: s3.Bucket;
  /**
   * CloudWatch Logs may encrypt with {@link key} only for log groups whose names start with this
   * prefix (`/connector/<operatorId>-<stage>/`): name the stack's log groups under it.
   */
  public readonly logGroupNamePrefix: string;
  /** The removal policy applied to the key and buckets. */
  public readonly removalPolicy: RemovalPolicy;

  constructor(scope: Construct, id: string, props: LandingZoneProps) {
    super(scope, id);
    // Server access logs must be delivered under a bucket policy: the legacy ACL grant cannot
    // coexist with BucketOwnerEnforced. Pinned here so the construct does not depend on the app's flags.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    const name = `${props.operatorId}-${props.stage}`;
    this.removalPolicy = dataRemovalPolicy(`landing zone of ${props.operatorId}`, props.stage, props.removalPolicy);
    const destroy = this.removalPolicy === RemovalPolicy.DESTROY;
    const { retention } = props;
    const stack = Stack.of(this);

    this.key = new kms.Key(this, 'Key', {
      description: `Connector ${name}: encrypts landed data, credentials, sync state, alarms and logs`,
      enableKeyRotation: true,
      removalPolicy: this.removalPolicy,
      ...(destroy ? { pendingWindow: Duration.days(7) } : {}),
    });
    this.keyAlias = new kms.Alias(this, 'KeyAlias', {
      aliasName: `alias/connector/${name}`,
      targetKey: this.key,
      removalPolicy: this.removalPolicy,
    });

    this.logGroupNamePrefix = `/connector/${name}/`;
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchLogsForConnectorLogGroups',
        principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': stack.formatArn({
              service: 'logs',
              resource: 'log-group',
              resourceName: `${this.logGroupNamePrefix}*`,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );

    this.accessLogBucket = new s3.Bucket(this, 'AccessLogBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      lifecycleRules: [
        {
          id: 'expire-access-logs',
          expiration: Duration.days(retention.accessLogDays),
          noncurrentVersionExpiration: Duration.days(retention.noncurrentVersionDays),
          abortIncompleteMultipartUploadAfter: Duration.days(7),
        },
      ],
      removalPolicy: this.removalPolicy,
      autoDeleteObjects: destroy,
    });
    acknowledgeFindings(
      this.accessLogBucket,
      ['PCI.DSS.321-S3DefaultEncryptionKMS', 'NIST.800.53.R5-S3DefaultEncryptionKMS'],
      "Server access logs hold request metadata (requester, operation, object key, status), never landed data, and are encrypted at rest with SSE-S3. Encrypting them with the operator key would need a key-policy statement for the S3 logging service that can only be scoped to the account, not to this bucket (the bucket refers to the key, so the key cannot refer to the bucket), widening who may use the key that protects player data for logs that hold none. The bucket is TLS-only, blocks all public access, and only this account's log delivery writes to it.",
    );

    this.bucketName = landingBucketName(props.operatorId, props.stage, stack.account, stack.region);
    this.bucket = new s3.Bucket(this, 'Bucket', {
      bucketName: this.bucketName,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      blockedEncryptionTypes: [s3.BlockedEncryptionType.SSE_C],
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      serverAccessLogsBucket: this.accessLogBucket,
      serverAccessLogsPrefix: 'landing/',
      targetObjectKeyFormat: s3.TargetObjectKeyFormat.partitionedPrefix(s3.PartitionDateSource.EVENT_TIME),
      lifecycleRules: landingLifecycleRules(retention),
      removalPolicy: this.removalPolicy,
      autoDeleteObjects: destroy,
    });
    this.denyWritesWithOtherEncryption();
    if (props.eventBridgeEnabled) {
      // Set on the bucket resource itself: the L2 option adds a notification custom resource (a
      // Lambda with an AWS managed policy) that is only needed for imported buckets.
      (this.bucket.node.defaultChild as s3.CfnBucket).notificationConfiguration = {
        eventBridgeConfiguration: { eventBridgeEnabled: true },
      };
    }

    const replicationReason =
      'Cross-region replication would copy player data out of the region the operator chose (data residency under its gaming licence); the landing zone is protected by versioning, retained noncurrent versions and RETAIN on delete, and can be rebuilt from the operator source by a new snapshot.';
    for (const bucket of [this.bucket, this.accessLogBucket]) {
      acknowledgeFindings(
        bucket,
        ['PCI.DSS.321-S3BucketReplicationEnabled', 'NIST.800.53.R5-S3BucketReplicationEnabled'],
        replicationReason,
      );
    }
  }

  /**
   * Lets S3 writes land only with this key. A PUT without encryption headers gets the bucket's
   * default encryption (this key), which is what writers should do; a PUT naming another
   * algorithm (AES256, DSSE) or another key is denied, and so is one that names `aws:kms` without
   * a key id, because S3 then encrypts with the account's AWS-managed aws/s3 key instead of the
   * bucket default. A writer that sets the key id must pass this key's full ARN. SSE-C is blocked
   * by the bucket setting and denied here as well.
   */
  private denyWritesWithOtherEncryption(): void {
    const objects = this.bucket.arnForObjects('*');
    const deny = (sid: string, conditions: Record<string, Record<string, string>>) =>
      this.bucket.addToResourcePolicy(
        new iam.PolicyStatement({
          sid,
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: ['s3:PutObject'],
          resources: [objects],
          conditions,
        }),
      );
    deny('DenyEncryptionOtherThanKms', {
      StringNotEqualsIfExists: { 's3:x-amz-server-side-encryption': 'aws:kms' },
    });
    deny('DenyKmsKeyOtherThanOperatorKey', {
      StringNotEqualsIfExists: { 's3:x-amz-server-side-encryption-aws-kms-key-id': this.key.keyArn },
    });
    deny('DenyKmsWithoutKeyId', {
      Null: {
        's3:x-amz-server-side-encryption': 'false',
        's3:x-amz-server-side-encryption-aws-kms-key-id': 'true',
      },
    });
    deny('DenyCustomerProvidedKeys', {
      Null: { 's3:x-amz-server-side-encryption-customer-algorithm': 'false' },
    });
  }

  /**
   * Lets `grantee` write Parquet parts under `raw/`, manifests under `_manifests/` and committed
   * lists under `_committed/` (multipart included).
   */
  public grantWriteRaw(grantee: iam.IGrantable): iam.Grant {
    return this.grantPutUnder(grantee, PREFIX.raw)
      .combine(this.grantPutUnder(grantee, PREFIX.manifests))
      .combine(this.grantPutUnder(grantee, PREFIX.committed));
  }

  /**
   * Everything an extractor needs to land and commit a window (`landing/window.ts`): write parts,
   * manifests and the committed list, read a committed list and its manifest, list the window's
   * attempts under `raw/` and `_manifests/`, and delete the other attempts' objects there. Listing
   * is limited to those prefixes; nothing under `_committed/` is ever deleted by an extractor.
   */
  public grantLandRaw(grantee: iam.IGrantable): iam.Grant {
    return this.grantWriteRaw(grantee)
      .combine(
        iam.Grant.addToPrincipal({
          grantee,
          actions: ['s3:GetObject'],
          resourceArns: [
            this.bucket.arnForObjects(`${PREFIX.manifests}*`),
            this.bucket.arnForObjects(`${PREFIX.committed}*`),
          ],
        }),
      )
      .combine(this.grantDeleteAttempts(grantee))
      .combine(this.grantListUnder(grantee, [PREFIX.raw, PREFIX.manifests]));
  }

  /**
   * What the late-arrival measurement needs (`extract/lateness.ts`): write, read, list and delete the
   * lookback digests of `streams` (keyed hashes of versions, never values), each under its own
   * `_integrity/<stream>/lookback/`; nothing else under `_integrity/` (the wallet ledger reports).
   */
  public grantLookbackDigests(grantee: iam.IGrantable, streams: readonly StreamName[]): iam.Grant {
    if (streams.length === 0) throw new Error('grantLookbackDigests needs at least one stream');
    const prefixes = streams.map((stream) => lookbackDigestPrefix(stream));
    const objects = prefixes.map((prefix) => this.bucket.arnForObjects(`${prefix}*`));
    return iam.Grant.addToPrincipal({ grantee, actions: S3_PUT_ACTIONS, resourceArns: objects })
      .combine(this.key.grant(grantee, 'kms:GenerateDataKey*', 'kms:Encrypt', 'kms:Decrypt'))
      .combine(
        iam.Grant.addToPrincipal({ grantee, actions: ['s3:GetObject', 's3:DeleteObject'], resourceArns: objects }),
      )
      .combine(this.grantListUnder(grantee, prefixes));
  }

  /**
   * What the landing sweep needs (`landing/sweep.ts`): list attempts and committed lists, read a
   * committed list, and delete the objects of attempts that never committed.
   */
  public grantSweepRaw(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject'],
      resourceArns: [this.bucket.arnForObjects(`${PREFIX.committed}*`)],
    })
      .combine(this.key.grantDecrypt(grantee))
      .combine(this.grantDeleteAttempts(grantee))
      .combine(this.grantListUnder(grantee, [PREFIX.raw, PREFIX.manifests, PREFIX.committed]));
  }

  /** Lets `grantee` read landed Parquet under `raw/`, manifests and committed lists. */
  public grantReadRaw(grantee: iam.IGrantable): iam.Grant {
    return this.bucket
      .grantRead(grantee, `${PREFIX.raw}*`)
      .combine(this.bucket.grantRead(grantee, `${PREFIX.manifests}*`))
      .combine(this.bucket.grantRead(grantee, `${PREFIX.committed}*`));
  }

  private grantDeleteAttempts(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:DeleteObject'],
      resourceArns: [this.bucket.arnForObjects(`${PREFIX.raw}*`), this.bucket.arnForObjects(`${PREFIX.manifests}*`)],
    });
  }

  private grantListUnder(grantee: iam.IGrantable, prefixes: readonly string[]): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [this.bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': prefixes.map((p) => `${p}*`) } },
    });
  }

  /**
   * What ingesting a dropped file takes on `inbound/`: read exact versions of the originals (also
   * as the source of the copy to archive/ or quarantine/) and delete them once they have landed or
   * been quarantined. Object actions on `inbound/*` only: no listing, no bucket-level action.
   */
  public grantIngestInbound(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject', 's3:GetObjectVersion', 's3:DeleteObject', 's3:DeleteObjectVersion'],
      resourceArns: [this.bucket.arnForObjects(`${PREFIX.inbound}*`)],
    }).combine(this.key.grantDecrypt(grantee));
  }

  /** Lets `grantee` write rejected files and their reasons under `quarantine/`. */
  public grantWriteQuarantine(grantee: iam.IGrantable): iam.Grant {
    return this.grantPutUnder(grantee, PREFIX.quarantine);
  }

  /** Lets `grantee` write ingested originals under `archive/`. */
  public grantWriteArchive(grantee: iam.IGrantable): iam.Grant {
    return this.grantPutUnder(grantee, PREFIX.archive);
  }

  /**
   * Lets `grantee` (an operator principal in another account, or an upload role of this stack) drop
   * files: `s3:PutObject` under `inbound/` and nothing else (no listing, no reading), and the key
   * only through S3 in this region. A principal of another account is granted in the bucket and
   * key policies (it also needs an identity policy in its own account); a role of this account in
   * its identity policy. The deny statements of the bucket policy apply to everyone: TLS only, and
   * only this key.
   *
   * kms:Decrypt is included because multipart uploads (the AWS CLI uses them above 8 MB) read the
   * data key back; kms:Encrypt is not (S3 encrypts with a generated data key). Either way the key
   * may be used only through S3 in this region and only for this bucket (with S3 Bucket Keys the
   * encryption context is the bucket ARN, without them the object ARN under `inbound/`); the key
   * policy names the bucket by its synth-time name, so it does not refer to the bucket resource
   * (which refers to the key), and another account's principal also only for its own calls.
   */
  public grantDropInbound(grantee: iam.IGrantable): iam.Grant {
    const stack = Stack.of(this);
    const principal = grantee.grantPrincipal;
    const account =
      principal instanceof iam.ArnPrincipal && !Token.isUnresolved(principal.arn)
        ? principal.arn.split(':')[4]
        : principal.principalAccount;
    const crossAccount = account !== undefined && !Token.isUnresolved(account) && account !== stack.account;
    const bucketArn = stack.formatArn({ service: 's3', region: '', account: '', resource: this.bucketName });
    const scope: Record<string, Record<string, unknown>> = {
      StringEquals: {
        'kms:ViaService': `s3.${stack.region}.amazonaws.com`,
        ...(crossAccount ? { 'kms:CallerAccount': account } : {}),
      },
      StringLike: { 'kms:EncryptionContext:aws:s3:arn': [bucketArn, `${bucketArn}/${PREFIX.inbound}*`] },
    };
    return iam.Grant.addToPrincipalOrResource({
      grantee,
      actions: ['s3:PutObject'],
      resourceArns: [this.bucket.arnForObjects(`${PREFIX.inbound}*`)],
      resource: this.bucket,
    }).combine(
      iam.Grant.addToPrincipalOrResource({
        grantee,
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resourceArns: [this.key.keyArn],
        resourceSelfArns: ['*'],
        resource: this.key,
        conditions: scope,
      }),
    );
  }

  /**
   * Lets `grantee` (an operator principal or upload role, already granted {@link grantDropInbound})
   * read the reason documents of its quarantined files, `quarantine/<stream>/<name>.reason.json`,
   * and nothing else: not the quarantined files, no listing. With write-only access to `inbound/`
   * this is how the operator learns why a file was refused, at a key it derives from its own
   * upload key. The key grant of `grantDropInbound` already covers decrypting through S3.
   */
  public grantReadQuarantineReasons(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipalOrResource({
      grantee,
      actions: ['s3:GetObject'],
      resourceArns: [this.bucket.arnForObjects(`${PREFIX.quarantine}*${QUARANTINE_REASON_SUFFIX}`)],
      resource: this.bucket,
    });
  }

  /**
   * PutObject on one prefix. kms:Decrypt is included because multipart uploads (used for large
   * Parquet parts) read back the data key when completing.
   */
  private grantPutUnder(grantee: iam.IGrantable, prefix: string): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: S3_PUT_ACTIONS,
      resourceArns: [this.bucket.arnForObjects(`${prefix}*`)],
    }).combine(this.key.grant(grantee, 'kms:GenerateDataKey*', 'kms:Encrypt', 'kms:Decrypt'));
  }
}

/** Days the integrity reports under `_integrity/wallet/` (the wallet ledger audit's examples) are kept. */
export const INTEGRITY_REPORT_DAYS = 90;

/** Days a lookback digest under `_integrity/<stream>/lookback/` is kept if no run deletes it. */
export const LOOKBACK_DIGEST_DAYS = 14;

function landingLifecycleRules(retention: LandingZoneRetention): s3.LifecycleRule[] {
  const rules: s3.LifecycleRule[] = [
    { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
    {
      id: 'expire-noncurrent-versions',
      noncurrentVersionExpiration: Duration.days(retention.noncurrentVersionDays),
      expiredObjectDeleteMarker: true,
    },
    { id: 'expire-archive', prefix: PREFIX.archive, expiration: Duration.days(retention.archiveDays) },
    { id: 'expire-quarantine', prefix: PREFIX.quarantine, expiration: Duration.days(retention.quarantineDays) },
    // Athena query results are read by the state machine that ran the query, then never again.
    { id: 'expire-athena-results', prefix: PREFIX.athenaResults, expiration: Duration.days(1) },
    // Integrity reports (pseudonymized player ids, transaction ids) serve an investigation, then go.
    { id: 'expire-integrity-reports', prefix: WALLET_AUDIT_PREFIX, expiration: Duration.days(INTEGRITY_REPORT_DAYS) },
    // Lookback digests are read by the next run and then deleted; these remove those of streams
    // whose runs stopped (the next run after that is reported as not measured). One rule per
    // stream, so no prefix overlaps the reports' (S3 would apply the shorter expiration to both).
    ...STREAM_NAMES.map(
      (stream): s3.LifecycleRule => ({
        id: `expire-lookback-digests-${stream}`,
        prefix: lookbackDigestPrefix(stream),
        expiration: Duration.days(LOOKBACK_DIGEST_DAYS),
      }),
    ),
  ];
  if (retention.rawDays > 0) {
    // Parts, their manifests and the committed lists naming them expire together.
    rules.push({ id: 'expire-raw', prefix: PREFIX.raw, expiration: Duration.days(retention.rawDays) });
    rules.push({ id: 'expire-manifests', prefix: PREFIX.manifests, expiration: Duration.days(retention.rawDays) });
    rules.push({ id: 'expire-committed', prefix: PREFIX.committed, expiration: Duration.days(retention.rawDays) });
  }
  return rules;
}

/**
 * The landing bucket's name: `connector-<operatorId>-<stage>-<hash of account and region>`, at
 * most 62 characters, the same on every synth of a stack and different across accounts and
 * regions.
 */
export function landingBucketName(operatorId: string, stage: string, account: string, region: string): string {
  const suffix = createHash('sha256').update(`${account}/${region}/${operatorId}/${stage}`).digest('hex').slice(0, 8);
  return `connector-${operatorId}-${stage}-${suffix}`;
}
