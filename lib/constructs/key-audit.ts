/**
 * The key audit of an operator's database streams (lambdas/key-audit, lambdas/shared/audit/): the
 * key-audit function in the extractor network, a state machine that runs it for one stream and then
 * publishes what it landed, and one EventBridge Scheduler schedule per audited stream
 * (`streams.<stream>.keyAudit`).
 *
 * The function may read this operator's secret, land committed windows like the extractors, read
 * and write the sync state, and run queries in this operator's Athena workgroup that read the
 * audited streams' serving tables: Glue GetTable on those tables only, S3 reads on their `lake/`
 * prefixes only, results under `_athena/`. It never writes a serving table: its windows are merged
 * by the publish state machine.
 */
import { ArnFormat, type CfnResource, Duration, type RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import type { StreamName } from '#shared/canonical';
import { keyAuditedStreams, type OperatorConfig } from '#shared/config/schema';
import { ENV } from '#shared/contracts/environment';
import { fieldPath, type KeyAuditInput, type KeyAuditResult, type StepPayload } from '#shared/contracts/steps';
import { PREFIX, servingTablePrefix } from '#shared/layout';
import { acknowledgeFindings } from '../nag.ts';
import { ConnectorFunction } from './connector-function.ts';
import type { DataCatalog } from './data-catalog.ts';
import { acknowledgeLandingWildcards, connectorEnvironment } from './extractors.ts';
import type { LambdaBundle } from './lambda-bundle.ts';
import type { LandingZone } from './landing-zone.ts';
import { EncryptedLogGroup } from './log-group.ts';
import type { Network } from './network.ts';
import { scheduleDeadLetterQueue, schedulerRole } from './schedule.ts';
import type { SourceCredentials } from './source-credentials.ts';
import { addLambdaRetries, startPublishStateJson, vendedLogDeliveryStatements } from './step-functions.ts';
import type { SyncState } from './sync-state.ts';

/** State names of the key-audit state machine (tests and the local harness refer to them). */
export const KEY_AUDIT_STATES = {
  audit: 'Audit keys',
  landed: 'Anything landed?',
  publish: 'Publish audit windows',
  done: 'Audit done',
  failed: 'Audit failed',
} as const;

export interface KeyAuditProps {
  /** The validated operator config (a database source with at least one audited stream). */
  readonly config: OperatorConfig;
  readonly bundle: LambdaBundle;
  readonly landingZone: LandingZone;
  readonly syncState: SyncState;
  readonly sourceCredentials: SourceCredentials;
  readonly network: Network;
  readonly dataCatalog: DataCatalog;
  /** The serving layer: its workgroup, and the publish state machine with what starting it takes. */
  readonly serving: {
    readonly workGroupName: string;
    readonly publishStateMachine: sfn.IStateMachine;
    readonly publishStatements: readonly iam.PolicyStatement[];
  };
  /** @default the resources' own defaults (retain) */
  readonly removalPolicy?: RemovalPolicy;
}

export class KeyAudit extends Construct {
  /** The key-audit function. */
  public readonly function: ConnectorFunction;
  /** Runs one stream's audit (input `{"stream": …}`) and publishes its windows. */
  public readonly stateMachine: sfn.StateMachine;
  public readonly logGroup: EncryptedLogGroup;
  /** One schedule per audited stream, by stream. */
  public readonly schedules: Readonly<Partial<Record<StreamName, scheduler.CfnSchedule>>>;
  public readonly scheduleRole: iam.Role;
  /** Start requests the scheduler could not deliver after its retries. */
  public readonly scheduleDeadLetterQueue: sqs.Queue;
  /** The audited streams. */
  public readonly streams: readonly StreamName[];

  constructor(scope: Construct, id: string, props: KeyAuditProps) {
    super(scope, id);
    const { config, landingZone, syncState, sourceCredentials, network, dataCatalog, serving } = props;
    const audited = keyAuditedStreams(config);
    if (config.source.type === 'files' || audited.length === 0) {
      throw new Error(
        `KeyAudit of ${config.operatorId}: no stream has a key audit (database sources only; see streams.<stream>.keyAudit); create the construct only when keyAuditedStreams(config) is not empty`,
      );
    }
    this.streams = audited.map((a) => a.stream);
    const stack = Stack.of(this);
    const name = `${config.operatorId}-${config.stage}`;
    const removal = props.removalPolicy ? { removalPolicy: props.removalPolicy } : {};
    const bucket = landingZone.bucket;

    this.function = new ConnectorFunction(this, 'Function', {
      bundle: props.bundle,
      handler: 'key-audit',
      description: `${name}: key audit of a stream (hard deletes, lost rows)`,
      encryptionKey: landingZone.key,
      logGroupName: `${landingZone.logGroupNamePrefix}key-audit`,
      logRetentionDays: config.retention.logDays,
      environment: {
        ...connectorEnvironment(config, landingZone, syncState, sourceCredentials),
        [ENV.glueDatabase]: dataCatalog.databaseName,
        [ENV.athenaWorkGroup]: serving.workGroupName,
      },
      vpc: { vpc: network.vpc, subnets: network.subnetSelection, securityGroups: network.securityGroups },
      // One audit at a time per stream is enough; audits hold the run lock, so they never overlap runs.
      reservedConcurrency: 2,
      memorySize: 1024,
      timeout: Duration.minutes(15),
      ...removal,
    });
    const fn = this.function;
    landingZone.grantLandRaw(fn.grantee);
    syncState.grantReadWrite(fn.grantee);
    sourceCredentials.grantRead(fn.grantee);
    acknowledgeLandingWildcards(fn, landingZone);
    const workGroupArn = stack.formatArn({
      service: 'athena',
      resource: 'workgroup',
      resourceName: serving.workGroupName,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
    const lakePrefixes = this.streams.map((s) => servingTablePrefix(s));
    iam.Grant.addToPrincipal({
      grantee: fn.grantee,
      actions: [
        'athena:StartQueryExecution',
        'athena:GetQueryExecution',
        'athena:GetQueryResults',
        'athena:StopQueryExecution',
      ],
      resourceArns: [workGroupArn],
    });
    iam.Grant.addToPrincipal({
      grantee: fn.grantee,
      actions: ['glue:GetDatabase', 'glue:GetTable'],
      resourceArns: [
        dataCatalog.catalogArn,
        dataCatalog.databaseArn,
        ...this.streams.map((s) => dataCatalog.tableArn(s)),
      ],
    });
    iam.Grant.addToPrincipal({
      grantee: fn.grantee,
      actions: ['s3:GetObject'],
      resourceArns: lakePrefixes.map((p) => bucket.arnForObjects(`${p}*`)),
    });
    iam.Grant.addToPrincipal({
      grantee: fn.grantee,
      actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'],
      resourceArns: [bucket.arnForObjects(`${PREFIX.athenaResults}*`)],
    });
    iam.Grant.addToPrincipal({
      grantee: fn.grantee,
      actions: ['s3:ListBucket', 's3:GetBucketLocation'],
      resourceArns: [bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [...lakePrefixes.map((p) => `${p}*`), `${PREFIX.athenaResults}*`] } },
    });
    const bucketId = stack.getLogicalId(bucket.node.defaultChild as CfnResource);
    fn.acknowledgeWildcards(
      [
        ...lakePrefixes.map((p) => `Resource::<${bucketId}.Arn>/${p}*`),
        `Resource::<${bucketId}.Arn>/${PREFIX.athenaResults}*`,
      ],
      "Athena reads an audited stream's serving table from its Iceberg data and metadata files, whose keys Iceberg chooses under lake/<stream>/ (read-only, and only the audited streams), and writes query results under _athena/ with keys it chooses; the grants are limited to those prefixes of this operator's bucket.",
    );

    // ---------------------------------------------------------------- state machine
    const machineName = `${name}-key-audit`;
    this.logGroup = new EncryptedLogGroup(this, 'Logs', {
      logGroupName: `${landingZone.logGroupNamePrefix}key-audit-state-machine`,
      encryptionKey: landingZone.key,
      retentionDays: config.retention.logDays,
      ...removal,
    });
    const S = KEY_AUDIT_STATES;
    const audit = new tasks.LambdaInvoke(this, 'Audit', {
      stateName: S.audit,
      lambdaFunction: fn.function,
      payloadResponseOnly: true,
      retryOnServiceExceptions: false,
      // The schedule's input is the function's.
      payload: sfn.TaskInput.fromObject({
        stream: sfn.JsonPath.stringAt(fieldPath<KeyAuditInput>('$', 'stream')),
      } satisfies StepPayload<KeyAuditInput>),
      resultPath: '$.audit',
    });
    addLambdaRetries(audit);
    const failed = new sfn.Fail(this, 'Failed', {
      stateName: S.failed,
      errorPath: '$.error.Error',
      causePath: '$.error.Cause',
    });
    audit.addCatch(failed, { errors: ['States.ALL'], resultPath: '$.error' });
    const done = new sfn.Succeed(this, 'Done', { stateName: S.done });
    const publish = new sfn.CustomState(this, S.publish, {
      stateJson: startPublishStateJson(this, serving.publishStateMachine),
    });
    publish.addCatch(failed, { errors: ['States.ALL'], resultPath: '$.error' });
    const landed = new sfn.Choice(this, 'Landed', { stateName: S.landed })
      .when(sfn.Condition.isPresent(`${fieldPath<KeyAuditResult>('$.audit', 'windows')}[0]`), publish.next(done))
      .otherwise(done);

    const role = new iam.Role(this, 'StateMachineRole', {
      assumedBy: new iam.ServicePrincipal('states.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
      description: `Role of state machine ${machineName}`,
    });
    const policy = new iam.ManagedPolicy(this, 'StateMachinePolicy', {
      roles: [role],
      description: `Permissions of state machine ${machineName}`,
      statements: [
        new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [fn.function.functionArn] }),
        ...vendedLogDeliveryStatements(),
        ...serving.publishStatements,
      ],
    });
    const publishMachine = stack.getLogicalId(serving.publishStateMachine.node.defaultChild as CfnResource);
    acknowledgeFindings(
      policy,
      [
        'AwsSolutions-IAM5[Resource::*]',
        `AwsSolutions-IAM5[Resource::arn:${Token.isUnresolved(stack.partition) ? '<AWS::Partition>' : stack.partition}:states:${stack.region}:${stack.account}:execution:<${publishMachine}.Name>:*]`,
      ],
      'Executions of the publish state machine this one starts and waits for have names Step Functions chooses, so they are granted on the machine\'s execution ARN prefix. The CloudWatch Logs vended-delivery actions and the X-Ray actions do not support resource-level permissions; AWS documents "*" for Step Functions logging and tracing. Lambda invocations are limited to the key-audit function.',
    );
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: machineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      comment: `Key audit of one stream of ${config.displayName} (${config.stage}): input {"stream": …}, started by the stream's schedule`,
      definitionBody: sfn.DefinitionBody.fromChainable(audit.next(landed)),
      role: role.withoutPolicyUpdates(),
      tracingEnabled: true,
      logs: { destination: this.logGroup.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });
    this.stateMachine.node.addDependency(policy);

    // ---------------------------------------------------------------- schedules
    this.scheduleDeadLetterQueue = scheduleDeadLetterQueue(
      this,
      landingZone.key,
      props.removalPolicy,
      'This queue is itself the dead-letter queue of the key-audit schedules: it keeps start requests the scheduler could not deliver for 14 days for the on-call engineer; a dead-letter queue of a dead-letter queue would only move them again.',
    );
    this.scheduleRole = schedulerRole(this, `${name}: starts key audits on schedule`);
    const schedulePolicy = new iam.ManagedPolicy(this, 'SchedulePolicy', {
      roles: [this.scheduleRole],
      description: `${name}: start the key-audit state machine; dead-letter undeliverable starts`,
      statements: [
        new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [this.stateMachine.stateMachineArn] }),
        new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.scheduleDeadLetterQueue.queueArn] }),
        new iam.PolicyStatement({
          actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
          resources: [landingZone.key.keyArn],
        }),
      ],
    });
    const schedules: Partial<Record<StreamName, scheduler.CfnSchedule>> = {};
    for (const { stream, schedule } of audited) {
      const s = new scheduler.CfnSchedule(
        this,
        `Schedule${stream.replace(/(^|_)(\w)/g, (_, __, c: string) => c.toUpperCase())}`,
        {
          name: `${machineName}-${stream.replaceAll('_', '-')}`.slice(0, 64),
          description: `Starts the key audit of ${config.operatorId} (${config.stage}) stream ${stream}`,
          scheduleExpression: schedule,
          scheduleExpressionTimezone: 'UTC',
          flexibleTimeWindow: { mode: 'OFF' },
          state: 'ENABLED',
          target: {
            arn: this.stateMachine.stateMachineArn,
            roleArn: this.scheduleRole.roleArn,
            input: JSON.stringify({ stream } satisfies KeyAuditInput),
            retryPolicy: { maximumRetryAttempts: 3, maximumEventAgeInSeconds: 3600 },
            deadLetterConfig: { arn: this.scheduleDeadLetterQueue.queueArn },
          },
        },
      );
      s.node.addDependency(schedulePolicy);
      schedules[stream] = s;
    }
    this.schedules = schedules;
  }
}
