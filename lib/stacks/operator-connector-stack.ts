/**
 * One operator and stage: the landing zone and everything the connector needs around it.
 */
import { CfnOutput, Fn, RemovalPolicy, Stack, type StackProps, Tags } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { keyAuditedStreams, type OperatorConfig } from '#shared/config/schema';
import { PREFIX } from '#shared/layout';
import { AlarmTopic } from '../constructs/alarm-topic.ts';
import { hardenCustomResourceProviders } from '../constructs/custom-resource-providers.ts';
import { DataCatalog } from '../constructs/data-catalog.ts';
import { Extractors } from '../constructs/extractors.ts';
import { FileDrop } from '../constructs/file-drop.ts';
import { KeyAudit } from '../constructs/key-audit.ts';
import { LambdaBundle } from '../constructs/lambda-bundle.ts';
import { LandingMaintenance } from '../constructs/landing-maintenance.ts';
import { LandingZone } from '../constructs/landing-zone.ts';
import { Monitoring } from '../constructs/monitoring/index.ts';
import { Network } from '../constructs/network.ts';
import { Pipeline } from '../constructs/pipeline/index.ts';
import { dataRemovalPolicy } from '../constructs/removal-policy.ts';
import { Serving } from '../constructs/serving.ts';
import { SourceCredentials } from '../constructs/source-credentials.ts';
import { SyncState } from '../constructs/sync-state.ts';
import { failSynthOnWarnings } from '../nag.ts';

/** Value of the `product` tag on every stack and resource. */
export const PRODUCT_TAG = 'igaming-connector';

/** `<operatorId>-<stage>`: the stack name, and the id of the stack in the app. */
export function operatorStackName(config: Pick<OperatorConfig, 'operatorId' | 'stage'>): string {
  return `${config.operatorId}-${config.stage}`;
}

export interface OperatorConnectorStackProps extends Omit<StackProps, 'env' | 'stackName'> {
  /** The validated operator config; decides account, region, name and every resource. */
  readonly config: OperatorConfig;
}

/**
 * The stack of one operator and stage, named `<operatorId>-<stage>` and deployed to the config's
 * account and region. Composes the landing zone (key + buckets), the source credentials and the
 * extractor network (database sources), the sync state, the Glue catalog and the alarm topic.
 */
export class OperatorConnectorStack extends Stack {
  /** The config the stack was built from. */
  public readonly config: OperatorConfig;
  /** KMS key, landing bucket and access-log bucket. */
  public readonly landingZone: LandingZone;
  /** Secret with the source database credentials; undefined for file-drop operators. */
  public readonly sourceCredentials?: SourceCredentials;
  /** VPC, subnets and security groups for the extractors; undefined for file-drop operators. */
  public readonly network?: Network;
  /** Sync-state table. */
  public readonly syncState: SyncState;
  /** Glue database and stream tables. */
  public readonly dataCatalog: DataCatalog;
  /** Topic every alarm notifies. */
  public readonly alarmTopic: AlarmTopic;
  /** The code asset every function of the stack runs. */
  public readonly bundle: LambdaBundle;
  /** extract-window and incremental-sync; undefined for file-drop operators. */
  public readonly extractors?: Extractors;
  /** Snapshot and incremental state machines and the schedule; undefined for file-drop operators. */
  public readonly pipeline?: Pipeline;
  /** The scheduled key audit of the audited streams; undefined when no stream is audited. */
  public readonly keyAudit?: KeyAudit;
  /** Upload access, event queue and ingest function; undefined without `fileDrop` config. */
  public readonly fileDrop?: FileDrop;
  /** Workgroup, publish state machine and table optimizers of the serving tables. */
  public readonly serving: Serving;
  /** The daily sweep of attempts that never committed. */
  public readonly landingMaintenance: LandingMaintenance;
  /** Removal policy of data resources: RETAIN unless a sandbox opted in to DESTROY. */
  public readonly dataRemovalPolicy: RemovalPolicy;
  /** Alarms, the paging health alarm, the notification topic and the dashboard. */
  public readonly monitoring: Monitoring;

  constructor(scope: Construct, id: string, props: OperatorConnectorStackProps) {
    const { config, ...stackProps } = props;
    const tags = { operator: config.operatorId, stage: config.stage, product: PRODUCT_TAG };
    super(scope, id, {
      ...stackProps,
      stackName: operatorStackName(config),
      env: { account: config.account, region: config.region },
      description: stackProps.description ?? `Data connector of ${config.displayName} (${config.stage})`,
      tags: { ...tags, ...stackProps.tags },
      // A production stack holds the landing zone's key and data: deleting it takes a deliberate step.
      terminationProtection: stackProps.terminationProtection ?? config.stage === 'production',
    });
    this.config = config;
    failSynthOnWarnings(this);
    for (const [key, value] of Object.entries(tags)) {
      // CloudFormation propagates the stack's tags to the dashboard; cfn-lint's resource schema does
      // not know the dashboard's own Tags property yet, and a template must lint clean.
      Tags.of(this).add(key, value, { excludeResourceTypes: ['AWS::CloudWatch::Dashboard'] });
    }

    this.dataRemovalPolicy = dataRemovalPolicy(
      `stack ${operatorStackName(config)}`,
      config.stage,
      config.removalPolicy === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    );
    const common = { operatorId: config.operatorId, stage: config.stage, removalPolicy: this.dataRemovalPolicy };

    this.landingZone = new LandingZone(this, 'LandingZone', {
      ...common,
      retention: config.retention,
      eventBridgeEnabled: config.fileDrop !== undefined,
    });
    const key = this.landingZone.key;

    const source = config.source;
    if (source.type !== 'files') {
      this.sourceCredentials = new SourceCredentials(this, 'SourceCredentials', {
        ...common,
        source,
        encryptionKey: key,
      });
      this.network = new Network(this, 'Network', {
        network: source.network,
        databasePort: source.port,
        encryptionKey: key,
        flowLogGroupName: `${this.landingZone.logGroupNamePrefix}vpc-flow-logs`,
        logRetentionDays: config.retention.logDays,
        removalPolicy: this.dataRemovalPolicy,
      });
    }

    this.syncState = new SyncState(this, 'SyncState', { ...common, encryptionKey: key });
    this.dataCatalog = new DataCatalog(this, 'DataCatalog', { config, bucket: this.landingZone.bucket });
    this.bundle = new LambdaBundle(this, 'Code', { config });
    this.serving = new Serving(this, 'Serving', {
      config,
      bundle: this.bundle,
      landingZone: this.landingZone,
      syncState: this.syncState,
      dataCatalog: this.dataCatalog,
      removalPolicy: this.dataRemovalPolicy,
    });
    if (this.sourceCredentials && this.network) {
      this.extractors = new Extractors(this, 'Extractors', {
        config,
        bundle: this.bundle,
        landingZone: this.landingZone,
        syncState: this.syncState,
        sourceCredentials: this.sourceCredentials,
        network: this.network,
        removalPolicy: this.dataRemovalPolicy,
      });
      this.pipeline = new Pipeline(this, 'Pipeline', {
        config,
        bundle: this.bundle,
        landingZone: this.landingZone,
        syncState: this.syncState,
        sourceCredentials: this.sourceCredentials,
        network: this.network,
        extractors: this.extractors,
        publish: {
          stateMachine: this.serving.publishStateMachine,
          statements: this.serving.publishStatements(),
        },
        removalPolicy: this.dataRemovalPolicy,
      });
      if (keyAuditedStreams(config).length > 0) {
        this.keyAudit = new KeyAudit(this, 'KeyAudit', {
          config,
          bundle: this.bundle,
          landingZone: this.landingZone,
          syncState: this.syncState,
          sourceCredentials: this.sourceCredentials,
          network: this.network,
          dataCatalog: this.dataCatalog,
          serving: {
            workGroupName: this.serving.workGroupName,
            publishStateMachine: this.serving.publishStateMachine,
            publishStatements: this.serving.publishStatements(),
          },
          removalPolicy: this.dataRemovalPolicy,
        });
      }
    }
    if (config.fileDrop) {
      this.fileDrop = new FileDrop(this, 'FileDrop', {
        config,
        bundle: this.bundle,
        landingZone: this.landingZone,
        syncState: this.syncState,
        removalPolicy: this.dataRemovalPolicy,
      });
    }
    this.landingMaintenance = new LandingMaintenance(this, 'LandingMaintenance', {
      config,
      bundle: this.bundle,
      landingZone: this.landingZone,
      syncState: this.syncState,
      removalPolicy: this.dataRemovalPolicy,
    });
    this.alarmTopic = new AlarmTopic(this, 'AlarmTopic', {
      operatorId: config.operatorId,
      stage: config.stage,
      encryptionKey: key,
      emails: config.alerts.emails,
      httpsEndpoints: config.alerts.httpsEndpoints,
    });
    this.monitoring = new Monitoring(this, 'Monitoring', {
      config,
      encryptionKey: key,
      alarmTopic: this.alarmTopic.topic,
      notificationDeadLetterQueue: this.alarmTopic.deadLetterQueue,
      ...(this.pipeline && this.extractors
        ? {
            pipeline: {
              snapshotStateMachine: this.pipeline.snapshotStateMachine,
              incrementalStateMachine: this.pipeline.incrementalStateMachine,
              scheduleDeadLetterQueue: this.pipeline.scheduleDeadLetterQueue,
              extractWindow: this.extractors.extractWindow.function,
              incrementalSync: this.extractors.incrementalSync.function,
              planSnapshot: this.pipeline.planSnapshot.function,
              finalizeSnapshot: this.pipeline.finalizeSnapshot.function,
              runLock: this.pipeline.runLock.function,
            },
          }
        : {}),
      ...(this.keyAudit
        ? {
            keyAudit: {
              stateMachine: this.keyAudit.stateMachine,
              function: this.keyAudit.function.function,
              streams: this.keyAudit.streams,
              scheduleDeadLetterQueue: this.keyAudit.scheduleDeadLetterQueue,
            },
          }
        : {}),
      serving: {
        publishStateMachine: this.serving.publishStateMachine,
        publishFunction: this.serving.publishFunction.function,
        ...(this.serving.scheduleDeadLetterQueue
          ? { scheduleDeadLetterQueue: this.serving.scheduleDeadLetterQueue }
          : {}),
      },
      landing: {
        sweep: this.landingMaintenance.sweepFunction.function,
        scheduleDeadLetterQueue: this.landingMaintenance.deadLetterQueue,
      },
      ...(this.fileDrop
        ? {
            fileDrop: {
              ingest: this.fileDrop.ingestFunction.function,
              deadLetterQueue: this.fileDrop.deadLetterQueue,
            },
          }
        : {}),
    });

    hardenCustomResourceProviders(this, {
      encryptionKey: key,
      logGroupNamePrefix: this.landingZone.logGroupNamePrefix,
      logRetentionDays: config.retention.logDays,
      removalPolicy: this.dataRemovalPolicy,
    });

    new CfnOutput(this, 'LandingBucketName', {
      description: 'Landing bucket of the operator',
      value: this.landingZone.bucket.bucketName,
    });
    new CfnOutput(this, 'InboundPrefix', {
      description: 'Prefix the operator drops files under (inbound/<stream>/...)',
      value: PREFIX.inbound,
    });
    if (this.sourceCredentials) {
      new CfnOutput(this, 'SourceSecretArn', {
        description: 'Secret holding the source database credentials (set with `connector credentials set`)',
        value: this.sourceCredentials.secret.secretArn,
      });
    }
    new CfnOutput(this, 'KmsKeyArn', { description: 'Customer-managed key of the operator', value: key.keyArn });
    new CfnOutput(this, 'GlueDatabaseName', {
      description: 'Glue database to query in Athena',
      value: this.dataCatalog.databaseName,
    });
    new CfnOutput(this, 'AlarmTopicArn', {
      description: 'SNS topic of the connector alarms',
      value: this.alarmTopic.topic.topicArn,
    });
    new CfnOutput(this, 'NotificationTopicArn', {
      description: 'SNS topic of individual (non-paging) alarm notifications: subscribe the team channel',
      value: this.monitoring.notificationTopic.topicArn,
    });
    new CfnOutput(this, 'SyncStateTableName', {
      description: 'DynamoDB table of watermarks, snapshot progress and run locks (connector status --table)',
      value: this.syncState.table.tableName,
    });
    if (this.pipeline) {
      new CfnOutput(this, 'SnapshotStateMachineArn', {
        description: 'Start a snapshot, resume ({"snapshotId"}) or replay ({"from","to","streams"})',
        value: this.pipeline.snapshotStateMachine.stateMachineArn,
      });
      new CfnOutput(this, 'IncrementalStateMachineArn', {
        description: 'Incremental syncs, started by the schedule',
        value: this.pipeline.incrementalStateMachine.stateMachineArn,
      });
    }
    if (this.network?.egressIp) {
      new CfnOutput(this, 'EgressIp', {
        description: 'Source address of every connection to the operator database: allow-list it',
        value: this.network.egressIp.attrPublicIp,
      });
    }
  }

  /**
   * The zones a created VPC spreads over, resolved by CloudFormation at deploy time
   * (`Fn::GetAZs`) so that synthesis needs no availability-zone lookup in the target account.
   */
  override get availabilityZones(): string[] {
    return [0, 1, 2].map((i) => Fn.select(i, Fn.getAzs()));
  }
}
