/**
 * The two database extractor functions of an operator: extract-window (snapshot windows) and
 * incremental-sync, placed in the extractor network, with permissions scoped to this operator's
 * secret, key, table and bucket prefixes.
 */
import { type CfnResource, type RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { StreamName } from '#shared/canonical';
import type { OperatorConfig } from '#shared/config/schema';
import { ENV } from '#shared/contracts/environment';
import { lookbackDigestPrefix } from '#shared/layout';
import { ConnectorFunction } from './connector-function.ts';
import type { LambdaBundle } from './lambda-bundle.ts';
import type { LandingZone } from './landing-zone.ts';
import type { Network } from './network.ts';
import type { SourceCredentials } from './source-credentials.ts';
import type { SyncState } from './sync-state.ts';

export interface ExtractorsProps {
  readonly config: OperatorConfig;
  /** The stack's shared code asset. */
  readonly bundle: LambdaBundle;
  readonly landingZone: LandingZone;
  readonly syncState: SyncState;
  readonly sourceCredentials: SourceCredentials;
  readonly network: Network;
  /**
   * What `cdk destroy` does to the functions' log groups.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** Environment every connector function of the stack gets (never a secret value). */
export function connectorEnvironment(
  config: OperatorConfig,
  landingZone: LandingZone,
  syncState: SyncState,
  sourceCredentials?: SourceCredentials,
): Record<string, string> {
  return {
    [ENV.operatorId]: config.operatorId,
    [ENV.stage]: config.stage,
    [ENV.bucket]: landingZone.bucket.bucketName,
    [ENV.kmsKeyArn]: landingZone.key.keyArn,
    [ENV.stateTable]: syncState.table.tableName,
    ...(sourceCredentials ? { [ENV.secretId]: sourceCredentials.secret.secretArn } : {}),
    POWERTOOLS_LOG_LEVEL: 'INFO',
  };
}

/** Memory of the snapshot window function: 2 vCPUs (see bench/RESULTS.md). */
export const EXTRACT_WINDOW_MEMORY_MB = 3538;

/** extract-window and incremental-sync. */
export class Extractors extends Construct {
  public readonly extractWindow: ConnectorFunction;
  public readonly incrementalSync: ConnectorFunction;

  constructor(scope: Construct, id: string, props: ExtractorsProps) {
    super(scope, id);
    const { config, landingZone, syncState, sourceCredentials, network } = props;
    const common = {
      bundle: props.bundle,
      encryptionKey: landingZone.key,
      logRetentionDays: config.retention.logDays,
      environment: connectorEnvironment(config, landingZone, syncState, sourceCredentials),
      vpc: { vpc: network.vpc, subnets: network.subnetSelection, securityGroups: network.securityGroups },
      ...(props.removalPolicy ? { removalPolicy: props.removalPolicy } : {}),
    };
    this.extractWindow = new ConnectorFunction(this, 'ExtractWindow', {
      ...common,
      handler: 'extract-window',
      // The state machine's Map runs at most this many windows; never more sessions than that.
      reservedConcurrency: config.snapshot.maxParallelWindows,
      // Two vCPUs: two worker threads decode, map, pseudonymize and encode Parquet row groups
      // while the main thread reads COPY, places the row groups in the parts and uploads
      // (bench/RESULTS.md has the figures and the cost per million rows). At 1,769 MB (one vCPU)
      // the window runs single-threaded.
      memorySize: EXTRACT_WINDOW_MEMORY_MB,
      description: `${config.operatorId}-${config.stage}: extracts one snapshot window into Parquet`,
      logGroupName: `${landingZone.logGroupNamePrefix}extract-window`,
    });
    this.incrementalSync = new ConnectorFunction(this, 'IncrementalSync', {
      ...common,
      handler: 'incremental-sync',
      // One branch per stream in an incremental run.
      reservedConcurrency: Math.max(1, Object.keys(config.streams).length),
      description: `${config.operatorId}-${config.stage}: lands one stream's changes since its watermark`,
      logGroupName: `${landingZone.logGroupNamePrefix}incremental-sync`,
    });
    const streams = Object.keys(config.streams) as StreamName[];
    const bucket = Stack.of(landingZone).getLogicalId(landingZone.bucket.node.defaultChild as CfnResource);
    for (const fn of [this.extractWindow, this.incrementalSync]) {
      landingZone.grantLandRaw(fn.grantee);
      landingZone.grantLookbackDigests(fn.grantee, streams);
      syncState.grantReadWrite(fn.grantee);
      sourceCredentials.grantRead(fn.grantee);
      acknowledgeLandingWildcards(fn, landingZone);
      fn.acknowledgeWildcards(
        streams.map((stream) => `Resource::<${bucket}.Arn>/${lookbackDigestPrefix(stream)}*`),
        "Lookback digests have keys chosen per watermark and invocation (_integrity/<stream>/lookback/<watermark>/<part>.bin): keyed hashes of the versions a read found, read and then deleted by the next run; the grant is limited to each configured stream's lookback prefix of this operator bucket (not the rest of _integrity/), listing by an s3:prefix condition.",
      );
    }
  }
}

/** The wildcard findings every function that lands data has, with the reasons. */
export function acknowledgeLandingWildcards(fn: ConnectorFunction, landingZone: LandingZone): void {
  const bucket = Stack.of(landingZone).getLogicalId(landingZone.bucket.node.defaultChild as CfnResource);
  fn.acknowledgeWildcards(
    [
      `Resource::<${bucket}.Arn>/raw/*`,
      `Resource::<${bucket}.Arn>/_manifests/*`,
      `Resource::<${bucket}.Arn>/_committed/*`,
    ],
    'Parquet parts, manifests and committed lists have keys chosen per run, window and attempt (raw/<stream>/<run>/<window>/<attempt>/dt=<date>/part-<n>.parquet, _manifests/<stream>/<run>/<window>/<attempt>.json, _committed/<stream>/<run>/<window>/parts.txt); the grant is limited to these three prefixes of this operator bucket, deletion to raw/ and _manifests/, and listing to raw/ and _manifests/ by an s3:prefix condition.',
  );
  fn.acknowledgeWildcards(
    ['Action::kms:GenerateDataKey*', 'Action::kms:ReEncrypt*'],
    "These are the KMS action groups S3 and DynamoDB use with a customer-managed key (GenerateDataKey / GenerateDataKeyWithoutPlaintext, ReEncryptFrom / ReEncryptTo); they are granted on this operator's one key ARN only.",
  );
}
