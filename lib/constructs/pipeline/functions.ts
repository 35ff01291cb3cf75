/**
 * The small Lambda tasks around the extractors: plan-snapshot, finalize-snapshot and run-lock, in
 * the extractor network, each reading and writing the sync state.
 */
import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { OperatorConfig } from '#shared/config/schema';
import { ConnectorFunction } from '../connector-function.ts';
import { connectorEnvironment } from '../extractors.ts';
import type { LambdaBundle } from '../lambda-bundle.ts';
import type { LandingZone } from '../landing-zone.ts';
import type { Network } from '../network.ts';
import type { SourceCredentials } from '../source-credentials.ts';
import type { SyncState } from '../sync-state.ts';

/** The pipeline's own functions. */
export interface PipelineFunctions {
  /** plan-snapshot: records or resumes a snapshot and returns its windows not done. */
  readonly planSnapshot: ConnectorFunction;
  /** finalize-snapshot: completes or fails a snapshot. */
  readonly finalizeSnapshot: ConnectorFunction;
  /** run-lock: begins (lock, snapshot check) and ends (release, summary) incremental runs. */
  readonly runLock: ConnectorFunction;
}

/** What the functions are made from (the Pipeline's props). */
export interface PipelineFunctionsProps {
  readonly config: OperatorConfig;
  readonly bundle: LambdaBundle;
  readonly landingZone: LandingZone;
  readonly syncState: SyncState;
  readonly sourceCredentials: SourceCredentials;
  readonly network: Network;
  readonly removalPolicy?: RemovalPolicy;
}

/** plan-snapshot, finalize-snapshot and run-lock (`PlanSnapshot`, `FinalizeSnapshot`, `RunLock` in `scope`). */
export function pipelineFunctions(scope: Construct, props: PipelineFunctionsProps): PipelineFunctions {
  const { config, landingZone, syncState, sourceCredentials, network } = props;
  const name = `${config.operatorId}-${config.stage}`;
  const common = {
    bundle: props.bundle,
    encryptionKey: landingZone.key,
    logRetentionDays: config.retention.logDays,
    vpc: { vpc: network.vpc, subnets: network.subnetSelection, securityGroups: network.securityGroups },
    ...(props.removalPolicy ? { removalPolicy: props.removalPolicy } : {}),
  };
  const environment = connectorEnvironment(config, landingZone, syncState);
  const planSnapshot = new ConnectorFunction(scope, 'PlanSnapshot', {
    ...common,
    handler: 'plan-snapshot',
    description: `${name}: plans the windows of a snapshot`,
    logGroupName: `${landingZone.logGroupNamePrefix}plan-snapshot`,
    memorySize: 1024,
    timeout: Duration.minutes(5),
    // Snapshot executions seldom overlap; a throttled start is retried by the state machine.
    reservedConcurrency: 2,
    // A new snapshot counts each stream's NULL-cursor rows (and reads row estimates when adaptive).
    environment: connectorEnvironment(config, landingZone, syncState, sourceCredentials),
  });
  const finalizeSnapshot = new ConnectorFunction(scope, 'FinalizeSnapshot', {
    ...common,
    handler: 'finalize-snapshot',
    description: `${name}: completes a snapshot and starts the incremental watermarks`,
    logGroupName: `${landingZone.logGroupNamePrefix}finalize-snapshot`,
    memorySize: 512,
    timeout: Duration.minutes(5),
    reservedConcurrency: 2,
    environment,
  });
  const runLock = new ConnectorFunction(scope, 'RunLock', {
    ...common,
    handler: 'run-lock',
    description: `${name}: takes and releases the incremental run lock`,
    logGroupName: `${landingZone.logGroupNamePrefix}run-lock`,
    memorySize: 256,
    timeout: Duration.minutes(1),
    // The end of one run and the start of the next can overlap.
    reservedConcurrency: 2,
    environment,
  });
  for (const fn of [planSnapshot, finalizeSnapshot, runLock]) {
    syncState.grantReadWrite(fn.grantee);
    fn.acknowledgeWildcards(
      ['Action::kms:GenerateDataKey*', 'Action::kms:ReEncrypt*'],
      "These are the KMS action groups DynamoDB uses with the customer-managed key of the sync-state table (GenerateDataKey / GenerateDataKeyWithoutPlaintext, ReEncryptFrom / ReEncryptTo); they are granted on this operator's one key ARN only.",
    );
  }
  sourceCredentials.grantRead(planSnapshot.grantee);
  return { planSnapshot, finalizeSnapshot, runLock };
}
