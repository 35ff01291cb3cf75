/**
 * The serving layer of an operator: the Athena workgroup its queries run in, the Publish state
 * machine that merges committed windows into the Iceberg serving tables (through Athena's
 * `startQueryExecution.sync` integration), the publish function that plans and ends each publish,
 * and the Glue table optimizers that compact the tables, expire old snapshots and delete orphan
 * files. The snapshot and incremental state machines start a publish when they end; file-drop
 * operators publish on a schedule (`serving.publishSchedule`).
 *
 * **PublishStateMachine.** `Plan publish` takes the operator's publish lock and plans batches
 * (nothing to do, or another publish running: succeed quietly) → `Publish streams`, a Map over
 * streams (in parallel) whose iterations run their stream's MERGE statements in turn (`Merge`, an
 * Athena task retried with backoff: an Iceberg commit conflict or a throttled query is transient
 * and a MERGE is idempotent) → `End publish` removes what merged from the backlog and releases the
 * lock → another round while the backlog holds more than one plan, or `Publish failed` naming the
 * streams and runs that did not merge.
 */
import { ArnFormat, type CfnResource, Duration, type RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import type { StreamName } from '#shared/canonical';
import type { OperatorConfig } from '#shared/config/schema';
import { walletLedgerSettings } from '#shared/config/wallet-ledger';
import { ENV } from '#shared/contracts/environment';
import type { RETRYABLE_ERRORS } from '#shared/contracts/errors';
import { PUBLISH_LOCK_TTL_SECONDS } from '#shared/contracts/locks';
import {
  type EndPublishResult,
  type FieldOf,
  fieldPath,
  type PlanPublishResult,
  type PublishInput,
  type PublishStatement,
  type PublishStreamPlan,
  type StatementOutcome,
  type StepPayload,
} from '#shared/contracts/steps';
import { PREFIX, servingTablePrefix, WALLET_AUDIT_PREFIX } from '#shared/layout';
import { acknowledgeFindings } from '../nag.ts';
import { ConnectorFunction } from './connector-function.ts';
import type { DataCatalog } from './data-catalog.ts';
import { connectorEnvironment } from './extractors.ts';
import type { LambdaBundle } from './lambda-bundle.ts';
import type { LandingZone } from './landing-zone.ts';
import { EncryptedLogGroup } from './log-group.ts';
import { scheduleDeadLetterQueue, schedulerRole } from './schedule.ts';
import { LAMBDA_TRANSIENT_ERRORS, vendedLogDeliveryStatements } from './step-functions.ts';
import type { SyncState } from './sync-state.ts';

/** The retryable errors the publish function can throw (it reads no source database). */
const PUBLISH_RETRYABLE_ERRORS = [
  'SyncStateError',
  'SinkError',
] as const satisfies readonly (typeof RETRYABLE_ERRORS)[number][];

/** State names of the publish state machine. */
export const PUBLISH_STATES = {
  plan: 'Plan publish',
  planFailed: 'Publish planning failed',
  outcome: 'Anything to publish?',
  nothing: 'Nothing to publish',
  streams: 'Publish streams',
  statements: 'Merge statements',
  merge: 'Merge',
  merged: 'Merged',
  mergeFailed: 'Merge failed',
  end: 'End publish',
  endFailed: 'Publish could not end',
  walletChoice: 'Wallet entries published?',
  walletAudit: 'Audit wallet ledger',
  walletAuditFailed: 'Wallet ledger audit failed',
  result: 'Publish outcome',
  again: 'More to publish?',
  completed: 'Publish completed',
  failed: 'Publish failed',
} as const;

/** Athena engine the workgroup pins. */
export const ATHENA_ENGINE_VERSION = 'Athena engine version 3';

export interface ServingProps {
  readonly config: OperatorConfig;
  readonly bundle: LambdaBundle;
  readonly landingZone: LandingZone;
  readonly syncState: SyncState;
  readonly dataCatalog: DataCatalog;
  /**
   * What `cdk destroy` does to log groups and queues.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** The workgroup, publish function and state machine, table optimizers and (file drops) schedule. */
export class Serving extends Construct {
  /** The operator's Athena workgroup (`<operator>-<stage>`): engine v3, enforced settings. */
  public readonly workGroup: athena.CfnWorkGroup;
  /** Name of the workgroup. */
  public readonly workGroupName: string;
  /** publish: plans and ends publishes. */
  public readonly publishFunction: ConnectorFunction;
  /** Merges the publication backlog into the serving tables. */
  public readonly publishStateMachine: sfn.StateMachine;
  /** Execution log of the publish state machine. */
  public readonly publishLogGroup: EncryptedLogGroup;
  /** The role Glue's table optimizers act with. */
  public readonly optimizerRole: iam.Role;
  /** The optimizers (compaction, retention, orphan-file deletion) of each serving table. */
  public readonly optimizers: readonly glue.CfnTableOptimizer[];
  /** File-drop operators: the schedule that starts publishes. */
  public readonly schedule?: scheduler.CfnSchedule;
  /** File-drop operators: start requests the scheduler could not deliver. */
  public readonly scheduleDeadLetterQueue?: sqs.Queue;

  private readonly landing: LandingZone;

  constructor(scope: Construct, id: string, props: ServingProps) {
    super(scope, id);
    const { config, landingZone, syncState, dataCatalog } = props;
    const stack = Stack.of(this);
    const name = `${config.operatorId}-${config.stage}`;
    const removal = props.removalPolicy ? { removalPolicy: props.removalPolicy } : {};
    const bucket = landingZone.bucket;
    this.landing = landingZone;
    const streams = Object.keys(dataCatalog.servingTables) as StreamName[];

    // ------------------------------------------------------------------ workgroup
    this.workGroupName = name;
    this.workGroup = new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: this.workGroupName,
      description: `Queries of ${config.displayName} (${config.stage}): publishing and analysis of the serving tables`,
      state: 'ENABLED',
      recursiveDeleteOption: false,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        engineVersion: { selectedEngineVersion: ATHENA_ENGINE_VERSION },
        publishCloudWatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: config.serving.bytesScannedCutoffGb * 1024 ** 3,
        requesterPaysEnabled: false,
        resultConfiguration: {
          outputLocation: `s3://${bucket.bucketName}/${PREFIX.athenaResults}`,
          expectedBucketOwner: stack.account,
          encryptionConfiguration: { encryptionOption: 'SSE_KMS', kmsKey: landingZone.key.keyArn },
        },
      },
    });
    const workGroupArn = stack.formatArn({
      service: 'athena',
      resource: 'workgroup',
      resourceName: this.workGroupName,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });

    // ------------------------------------------------------------------ publish function
    this.publishFunction = new ConnectorFunction(this, 'Publish', {
      bundle: props.bundle,
      handler: 'publish',
      description: `${name}: plans and ends publishes into the serving tables`,
      encryptionKey: landingZone.key,
      logGroupName: `${landingZone.logGroupNamePrefix}publish`,
      logRetentionDays: config.retention.logDays,
      environment: {
        ...connectorEnvironment(config, landingZone, syncState),
        [ENV.glueDatabase]: dataCatalog.databaseName,
      },
      // One publish at a time; plan and end of consecutive publishes may overlap.
      reservedConcurrency: 2,
      memorySize: 512,
      // The wallet ledger audit waits for its Athena statement (at most 10 minutes).
      timeout: Duration.minutes(12),
      ...removal,
    });
    const fn = this.publishFunction;
    syncState.grantReadWrite(fn.grantee);
    iam.Grant.addToPrincipal({
      grantee: fn.grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${PREFIX.committed}*`] } },
    });
    if (walletLedgerSettings(config).enabled && streams.includes('wallet_transactions')) {
      this.grantWalletAudit(fn, workGroupArn, dataCatalog);
    }
    fn.acknowledgeWildcards(
      ['Action::kms:GenerateDataKey*', 'Action::kms:ReEncrypt*'],
      "These are the KMS action groups DynamoDB uses with the customer-managed key of the sync-state table (GenerateDataKey / GenerateDataKeyWithoutPlaintext, ReEncryptFrom / ReEncryptTo); they are granted on this operator's one key ARN only.",
    );
    acknowledgeFindings(
      fn.function,
      ['NIST.800.53.R5-LambdaInsideVPC', 'PCI.DSS.321-LambdaInsideVPC'],
      'The publish function only calls DynamoDB and S3 (listing committed lists) over TLS with IAM authorization; it connects to no network resource, so it needs no VPC (a file-drop operator has none in this stack).',
    );

    // ------------------------------------------------------------------ publish state machine
    this.publishLogGroup = new EncryptedLogGroup(this, 'PublishLogs', {
      logGroupName: `${landingZone.logGroupNamePrefix}publish-state-machine`,
      encryptionKey: landingZone.key,
      retentionDays: config.retention.logDays,
      ...removal,
    });
    const role = new iam.Role(this, 'PublishRole', {
      assumedBy: new iam.ServicePrincipal('states.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
      description: `Role of state machine ${name}-publish`,
    });
    const objects = (prefix: string) => bucket.arnForObjects(`${prefix}*`);
    const tableArn = (table: string) =>
      stack.formatArn({
        service: 'glue',
        resource: 'table',
        resourceName: `${dataCatalog.databaseName}/${table}`,
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
      });
    const policy = new iam.ManagedPolicy(this, 'PublishPolicy', {
      roles: [role],
      description: `Permissions of state machine ${name}-publish`,
      statements: [
        new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [fn.function.functionArn] }),
        // The MERGE statements, in this operator's workgroup only.
        new iam.PolicyStatement({
          actions: ['athena:StartQueryExecution', 'athena:GetQueryExecution', 'athena:StopQueryExecution'],
          resources: [workGroupArn],
        }),
        // Athena reads the table definitions and commits Iceberg snapshots (UpdateTable) with the caller's rights.
        new iam.PolicyStatement({
          actions: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetPartitions', 'glue:UpdateTable'],
          resources: [
            dataCatalog.catalogArn,
            dataCatalog.databaseArn,
            ...streams.flatMap((s) => [tableArn(s), tableArn(`${s}_landed`)]),
          ],
        }),
        // Landed parts through the committed lists (read only).
        new iam.PolicyStatement({
          actions: ['s3:GetObject'],
          resources: [objects(PREFIX.committed), objects(PREFIX.raw)],
        }),
        // Iceberg data and metadata files of the serving tables, and the workgroup's query results.
        new iam.PolicyStatement({
          actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
          resources: [objects(PREFIX.lake), objects(PREFIX.athenaResults)],
        }),
        new iam.PolicyStatement({
          actions: ['s3:ListBucket', 's3:GetBucketLocation'],
          resources: [bucket.bucketArn],
          conditions: {
            StringLike: {
              's3:prefix': [PREFIX.committed, PREFIX.raw, PREFIX.lake, PREFIX.athenaResults].map((p) => `${p}*`),
            },
          },
        }),
        new iam.PolicyStatement({
          actions: ['kms:Decrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
          resources: [landingZone.key.keyArn],
        }),
        ...vendedLogDeliveryStatements(),
      ],
    });
    const bucketId = stack.getLogicalId(bucket.node.defaultChild as CfnResource);
    acknowledgeFindings(
      policy,
      [
        'AwsSolutions-IAM5[Resource::*]',
        `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/_committed/*]`,
        `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/raw/*]`,
        `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/lake/*]`,
        `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/_athena/*]`,
      ],
      'Athena runs the MERGE statements with this role: it reads the committed lists and the landed Parquet parts they name (keys chosen per run, window and attempt), and writes Iceberg data, delete and metadata files under lake/ and query results under _athena/ (file names Athena chooses) — all prefixes of this operator bucket; listing is limited to them by an s3:prefix condition. The CloudWatch Logs vended-delivery and X-Ray actions do not support resource-level permissions.',
    );
    const machine = new sfn.StateMachine(this, 'PublishStateMachine', {
      stateMachineName: `${name}-publish`,
      stateMachineType: sfn.StateMachineType.STANDARD,
      comment: `Publishes committed windows of ${config.displayName} (${config.stage}) into the serving tables`,
      definitionBody: sfn.DefinitionBody.fromChainable(this.definition(config, dataCatalog.databaseName)),
      role: role.withoutPolicyUpdates(),
      tracingEnabled: true,
      logs: { destination: this.publishLogGroup.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });
    machine.node.addDependency(policy);
    this.publishStateMachine = machine;

    // ------------------------------------------------------------------ table optimizers
    this.optimizerRole = new iam.Role(this, 'OptimizerRole', {
      assumedBy: new iam.ServicePrincipal('glue.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
      description: `${name}: Glue table optimizers of the serving tables`,
    });
    const optimizerPolicy = new iam.ManagedPolicy(this, 'OptimizerPolicy', {
      roles: [this.optimizerRole],
      description: `${name}: compaction, snapshot retention and orphan-file deletion of the serving tables`,
      statements: [
        new iam.PolicyStatement({
          actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
          resources: streams.map((s) => bucket.arnForObjects(`${servingTablePrefix(s)}*`)),
        }),
        new iam.PolicyStatement({
          actions: ['s3:ListBucket'],
          resources: [bucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': streams.map((s) => `${servingTablePrefix(s)}*`) } },
        }),
        new iam.PolicyStatement({
          actions: ['glue:GetDatabase', 'glue:GetTable', 'glue:UpdateTable'],
          resources: [dataCatalog.catalogArn, dataCatalog.databaseArn, ...streams.map((s) => tableArn(s))],
        }),
        new iam.PolicyStatement({
          actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
          resources: [landingZone.key.keyArn],
        }),
        new iam.PolicyStatement({
          actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'],
          resources: ['iceberg-compaction', 'iceberg-retention', 'iceberg-orphan-file-deletion'].map((kind) =>
            stack.formatArn({
              service: 'logs',
              resource: 'log-group',
              resourceName: `/aws-glue/${kind}/logs:*`,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          ),
        }),
      ],
    });
    acknowledgeFindings(
      optimizerPolicy,
      [
        ...streams.map((s) => `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/lake/${s}/*]`),
        ...['iceberg-compaction', 'iceberg-retention', 'iceberg-orphan-file-deletion'].map(
          (kind) =>
            `AwsSolutions-IAM5[Resource::arn:${nagPartition(stack)}:logs:${stack.region}:${stack.account}:log-group:/aws-glue/${kind}/logs:*]`,
        ),
      ],
      "The optimizers rewrite and delete Iceberg data, delete and metadata files (names Iceberg chooses) under each serving table's own location lake/<stream>/ only, and write their run logs to the log groups Glue's table optimizers use.",
    );
    const optimizers: glue.CfnTableOptimizer[] = [];
    for (const stream of streams) {
      const table = dataCatalog.servingTables[stream]!;
      const common = { catalogId: stack.account, databaseName: dataCatalog.databaseName, tableName: stream };
      const add = (
        kind: string,
        type: string,
        configuration: glue.CfnTableOptimizer.TableOptimizerConfigurationProperty,
      ) => {
        const optimizer = new glue.CfnTableOptimizer(this, `${kind}-${stream}`, {
          ...common,
          type,
          tableOptimizerConfiguration: configuration,
        });
        optimizer.addResourceDependency(table);
        optimizer.node.addDependency(optimizerPolicy);
        optimizers.push(optimizer);
      };
      add('Compaction', 'compaction', { enabled: config.serving.compaction, roleArn: this.optimizerRole.roleArn });
      add('Retention', 'retention', {
        enabled: true,
        roleArn: this.optimizerRole.roleArn,
        retentionConfiguration: {
          icebergConfiguration: {
            snapshotRetentionPeriodInDays: config.serving.snapshotRetentionDays,
            numberOfSnapshotsToRetain: config.serving.snapshotsToRetain,
            cleanExpiredFiles: true,
          },
        },
      });
      add('OrphanFiles', 'orphan_file_deletion', {
        enabled: true,
        roleArn: this.optimizerRole.roleArn,
        orphanFileDeletionConfiguration: {
          icebergConfiguration: {
            orphanFileRetentionPeriodInDays: config.serving.orphanFileRetentionDays,
            location: `s3://${bucket.bucketName}/${servingTablePrefix(stream)}`,
          },
        },
      });
    }
    this.optimizers = optimizers;

    // ------------------------------------------------------------------ file drops: publish on a schedule
    if (config.source.type === 'files') {
      const dlq = scheduleDeadLetterQueue(
        this,
        landingZone.key,
        props.removalPolicy,
        'This queue is itself the dead-letter queue of the publish schedule: it keeps start requests the scheduler could not deliver for 14 days; a dead-letter queue of a dead-letter queue would only move them again.',
      );
      const scheduleRole = schedulerRole(this, `${name}: starts publishes on schedule`);
      const schedulePolicy = new iam.ManagedPolicy(this, 'SchedulePolicy', {
        roles: [scheduleRole],
        description: `${name}: start the publish state machine; dead-letter undeliverable starts`,
        statements: [
          new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [machine.stateMachineArn] }),
          new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [dlq.queueArn] }),
          new iam.PolicyStatement({
            actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
            resources: [landingZone.key.keyArn],
          }),
        ],
      });
      this.schedule = new scheduler.CfnSchedule(this, 'PublishSchedule', {
        name: `${name}-publish`,
        description: `Publishes dropped files of ${config.operatorId} (${config.stage}) into the serving tables`,
        scheduleExpression: config.serving.publishSchedule,
        scheduleExpressionTimezone: 'UTC',
        flexibleTimeWindow: { mode: 'OFF' },
        state: 'ENABLED',
        target: {
          arn: machine.stateMachineArn,
          roleArn: scheduleRole.roleArn,
          input: '{}',
          retryPolicy: { maximumRetryAttempts: 3, maximumEventAgeInSeconds: 300 },
          deadLetterConfig: { arn: dlq.queueArn },
        },
      });
      this.schedule.node.addDependency(schedulePolicy);
      this.scheduleDeadLetterQueue = dlq;
    }
  }

  /**
   * What the wallet ledger audit needs (the publish function runs it): its Athena statement in the
   * workgroup, reading the wallet serving table and the committed wallet windows, the query results,
   * and writing the audit reports under `_integrity/wallet/`. Nothing of the other streams.
   */
  private grantWalletAudit(fn: ConnectorFunction, workGroupArn: string, dataCatalog: DataCatalog): void {
    const stack = Stack.of(this);
    const bucket = this.landing.bucket;
    const stream: StreamName = 'wallet_transactions';
    const tableArn = (table: string) =>
      stack.formatArn({
        service: 'glue',
        resource: 'table',
        resourceName: `${dataCatalog.databaseName}/${table}`,
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
      });
    const add = (actions: string[], resources: string[], conditions?: Record<string, Record<string, unknown>>) =>
      iam.Grant.addToPrincipal({
        grantee: fn.grantee,
        actions,
        resourceArns: resources,
        ...(conditions ? { conditions } : {}),
      });
    add(
      ['athena:StartQueryExecution', 'athena:GetQueryExecution', 'athena:GetQueryResults', 'athena:StopQueryExecution'],
      [workGroupArn],
    );
    add(
      ['glue:GetDatabase', 'glue:GetTable', 'glue:GetPartitions'],
      [dataCatalog.catalogArn, dataCatalog.databaseArn, tableArn(stream), tableArn(`${stream}_landed`)],
    );
    const readPrefixes = [`${PREFIX.committed}${stream}/`, `${PREFIX.raw}${stream}/`, servingTablePrefix(stream)];
    add(
      ['s3:GetObject'],
      readPrefixes.map((p) => bucket.arnForObjects(`${p}*`)),
    );
    add(
      ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'],
      [bucket.arnForObjects(`${PREFIX.athenaResults}*`)],
    );
    add(['s3:PutObject'], [bucket.arnForObjects(`${WALLET_AUDIT_PREFIX}*`)]);
    add(['s3:ListBucket', 's3:GetBucketLocation'], [bucket.bucketArn], {
      StringLike: { 's3:prefix': [...readPrefixes, PREFIX.athenaResults].map((p) => `${p}*`) },
    });
    add(['kms:Decrypt', 'kms:GenerateDataKey'], [this.landing.key.keyArn]);
    const bucketId = stack.getLogicalId(bucket.node.defaultChild as CfnResource);
    fn.acknowledgeWildcards(
      [...[...readPrefixes, PREFIX.athenaResults, WALLET_AUDIT_PREFIX].map((p) => `Resource::<${bucketId}.Arn>/${p}*`)],
      "The wallet ledger audit's Athena statement reads the wallet serving table (Iceberg files under lake/wallet_transactions/) and the committed wallet windows (lists under _committed/wallet_transactions/, parts under raw/wallet_transactions/), whose object names Iceberg and the extractor choose; Athena writes its results under _athena/ with names it chooses; each audit writes one report under _integrity/wallet/ named by its publish. All are prefixes of this operator's bucket, and listing is limited to them.",
    );
  }

  /**
   * Grants `role` what starting a publish and waiting for it takes (`states:startExecution.sync:2`):
   * start and stop it, read its executions, and the EventBridge rule Step Functions manages for it.
   */
  public publishStatements(): iam.PolicyStatement[] {
    const stack = Stack.of(this);
    return [
      new iam.PolicyStatement({
        actions: ['states:StartExecution'],
        resources: [this.publishStateMachine.stateMachineArn],
      }),
      new iam.PolicyStatement({
        actions: ['states:DescribeExecution', 'states:StopExecution'],
        resources: [
          stack.formatArn({
            service: 'states',
            resource: 'execution',
            resourceName: `${this.publishStateMachine.stateMachineName}:*`,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ],
      }),
      new iam.PolicyStatement({
        actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        resources: [
          stack.formatArn({
            service: 'events',
            resource: 'rule',
            resourceName: 'StepFunctionsGetEventsForStepFunctionsExecutionRule',
          }),
        ],
      }),
    ];
  }

  private definition(config: OperatorConfig, database: string): sfn.IChainable {
    const S = PUBLISH_STATES;
    const path = sfn.JsonPath;
    const operator = `operator ${config.operatorId} (${config.stage})`;
    const invoke = (
      id: string,
      stateName: string,
      payload: StepPayload<PublishInput>,
      resultPath: string | undefined,
    ) => {
      const task = new tasks.LambdaInvoke(this, id, {
        stateName,
        lambdaFunction: this.publishFunction.function,
        payloadResponseOnly: true,
        retryOnServiceExceptions: false,
        payload: sfn.TaskInput.fromObject(payload),
        ...(resultPath ? { resultPath } : {}),
      });
      task.addRetry({
        errors: [...LAMBDA_TRANSIENT_ERRORS, ...PUBLISH_RETRYABLE_ERRORS],
        interval: Duration.seconds(2),
        backoffRate: 2,
        maxAttempts: 6,
        maxDelay: Duration.seconds(60),
        jitterStrategy: sfn.JitterType.FULL,
      });
      return task;
    };

    const planFailed = new sfn.Fail(this, 'PublishPlanningFailed', {
      stateName: S.planFailed,
      errorPath: '$.error.Error',
      causePath: sfn.JsonPath.format(`${operator}: planning the publish failed: {}`, path.stringAt('$.error.Cause')),
    });
    // What the states after the plan read: its output, a stream of it, a statement, the end's output.
    const planned = (field: FieldOf<PlanPublishResult>) => fieldPath<PlanPublishResult>('$.plan', field);
    const streamPlan = (field: FieldOf<PublishStreamPlan>) => fieldPath<PublishStreamPlan>('$', field);
    const statement = (field: FieldOf<PublishStatement>) => fieldPath<PublishStatement>('$', field);
    const ended = (field: FieldOf<EndPublishResult>) => fieldPath<EndPublishResult>('$.end', field);
    const plan = invoke(
      'PlanPublishTask',
      S.plan,
      { action: 'plan', executionName: path.stringAt('$$.Execution.Name') },
      '$.plan',
    );
    plan.addCatch(planFailed, { errors: ['States.ALL'], resultPath: '$.error' });

    // One MERGE: Athena in the operator's workgroup; a failure becomes the statement's outcome.
    const merge = new sfn.CustomState(this, S.merge, {
      stateJson: {
        Type: 'Task',
        Resource: `arn:${Stack.of(this).partition}:states:::athena:startQueryExecution.sync`,
        Parameters: {
          'QueryString.$': statement('sql'),
          WorkGroup: this.workGroupName,
          QueryExecutionContext: { Catalog: 'AwsDataCatalog', Database: database },
        },
        ResultSelector: { 'scannedBytes.$': '$.QueryExecution.Statistics.DataScannedInBytes' },
        ResultPath: '$.query',
      },
    });
    // Iceberg commit conflicts, throttling and transient failures: a MERGE is idempotent.
    merge.addRetry({
      errors: ['States.ALL'],
      interval: Duration.seconds(15),
      backoffRate: 2,
      maxAttempts: 4,
      maxDelay: Duration.minutes(5),
      jitterStrategy: sfn.JitterType.FULL,
    });
    const merged = new sfn.Pass(this, 'MergedStatement', {
      stateName: S.merged,
      parameters: {
        id: path.stringAt(statement('id')),
        status: 'merged',
        scannedBytes: path.numberAt('$.query.scannedBytes'),
      } satisfies StepPayload<StatementOutcome>,
    });
    const mergeFailed = new sfn.Pass(this, 'MergeFailedStatement', {
      stateName: S.mergeFailed,
      parameters: {
        id: path.stringAt(statement('id')),
        status: 'failed',
        error: path.stringAt('$.error.Error'),
        cause: path.stringAt('$.error.Cause'),
      } satisfies StepPayload<StatementOutcome>,
    });
    const statements = new sfn.Map(this, 'MergeStatements', {
      stateName: S.statements,
      itemsPath: streamPlan('statements'),
      // A stream's statements in turn: two commits to one Iceberg table would conflict.
      maxConcurrency: 1,
    });
    merge.addCatch(mergeFailed, { errors: ['States.ALL'], resultPath: '$.error' });
    statements.itemProcessor(merge.next(merged));
    const streams = new sfn.Map(this, 'PublishStreams', {
      stateName: S.streams,
      itemsPath: planned('streams'),
      maxConcurrency: 4,
      resultPath: '$.results',
    });
    streams.itemProcessor(statements);

    const endFailed = new sfn.Fail(this, 'PublishEndFailed', {
      stateName: S.endFailed,
      errorPath: '$.error.Error',
      causePath: sfn.JsonPath.format(
        `${operator}: ending the publish failed (its lock expires by itself after ${PUBLISH_LOCK_TTL_SECONDS / 60} minutes): {}`,
        path.stringAt('$.error.Cause'),
      ),
    });
    const end = invoke(
      'EndPublishTask',
      S.end,
      { action: 'end', owner: path.stringAt(planned('owner')), results: path.listAt('$.results') },
      '$.end',
    );
    end.addCatch(endFailed, { errors: ['States.ALL'], resultPath: '$.error' });
    const endAfterError = invoke(
      'EndPublishAfterErrorTask',
      S.end + ' after error',
      { action: 'end', owner: path.stringAt(planned('owner')), error: path.objectAt('$.error') },
      '$.end',
    );
    endAfterError.addCatch(endFailed, { errors: ['States.ALL'], resultPath: '$.error' });
    streams.addCatch(endAfterError, { errors: ['States.ALL'], resultPath: '$.error' });

    // The wallet ledger audit of the players whose entries merged: a failure is reported by the
    // function (metric WalletLedgerAuditFailures) and does not fail the publish, which did its work.
    const walletAudit = invoke(
      'AuditWalletLedgerTask',
      S.walletAudit,
      {
        action: 'audit-wallet',
        publish: path.stringAt('$$.Execution.Name'),
        sources: path.listAt(ended('walletSources')),
      },
      '$.walletAudit',
    );
    const walletAuditFailed = new sfn.Pass(this, 'WalletLedgerAuditFailed', {
      stateName: S.walletAuditFailed,
      parameters: { status: 'failed', error: path.stringAt('$.walletAuditError.Error') },
      resultPath: '$.walletAudit',
    });
    walletAudit.addCatch(walletAuditFailed, { errors: ['States.ALL'], resultPath: '$.walletAuditError' });

    const failed = new sfn.Fail(this, 'PublishFailed', {
      stateName: S.failed,
      error: 'PublishFailed',
      causePath: path.stringAt(ended('summary')),
    });
    const completed = new sfn.Succeed(this, 'PublishCompleted', { stateName: S.completed });
    const nothing = new sfn.Succeed(this, 'NothingToPublish', { stateName: S.nothing, outputPath: '$.plan' });
    endAfterError.next(failed);
    const again = new sfn.Choice(this, 'MoreToPublish', { stateName: S.again })
      .when(sfn.Condition.numberGreaterThan(planned('remaining'), 0), plan)
      .otherwise(completed);
    const result = new sfn.Choice(this, 'PublishOutcome', { stateName: S.result })
      .when(sfn.Condition.numberGreaterThan(ended('failed'), 0), failed)
      .otherwise(again);
    walletAudit.next(result);
    walletAuditFailed.next(result);
    const walletChoice = new sfn.Choice(this, 'WalletEntriesPublished', { stateName: S.walletChoice })
      .when(
        sfn.Condition.and(
          sfn.Condition.isPresent(ended('walletWindows')),
          sfn.Condition.numberGreaterThan(ended('walletWindows'), 0),
        ),
        walletAudit,
      )
      .otherwise(result);
    const outcome = new sfn.Choice(this, 'AnythingToPublish', { stateName: S.outcome })
      .when(sfn.Condition.stringEquals(planned('status'), 'planned'), streams.next(end).next(walletChoice))
      .otherwise(nothing);
    return plan.next(outcome);
  }
}

/** How cdk-nag writes the stack's partition in a finding: the literal, or the pseudo parameter. */
export function nagPartition(stack: Stack): string {
  return Token.isUnresolved(stack.partition) ? '<AWS::Partition>' : stack.partition;
}
