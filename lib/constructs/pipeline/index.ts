/**
 * The snapshot and incremental pipelines of a database operator: two Step Functions state machines
 * (standard workflows, X-Ray traced, every event logged without execution data to a KMS-encrypted
 * log group), the small Lambda tasks around the extractors (plan-snapshot, finalize-snapshot,
 * run-lock), and the EventBridge Scheduler schedule that starts incremental runs.
 *
 * **SnapshotStateMachine.** `Plan snapshot` records the windows (or reads those of a snapshot being
 * resumed) and returns the ones not done → `Extract windows`, one flat Map over them with
 * MaxConcurrency = `snapshot.maxParallelWindows` (exactly the number of concurrent sessions on the
 * operator database; a Map over streams with an inner Map would multiply or serialize it) →
 * per window `Extract window` (extract-window, which records the window's progress itself) looping
 * through `Continue window` while it returns a continuation; a window that keeps failing becomes a
 * `{ s, w, e }` entry and the other windows go on → `Finalize snapshot` completes the snapshot (each
 * stream's watermark starts at the cutoff), or fails it naming the failed windows. Input `{}` is a
 * new full snapshot, `{ snapshotId }` a resume, `{ from, to, streams? }` a replay under a new id. A
 * snapshot of more than 1,000 windows (execution history and payload limits) runs its remaining
 * windows in a new execution (`Start next execution`).
 *
 * **IncrementalStateMachine.** `Begin incremental run` (run-lock): before the first snapshot has
 * completed the run succeeds quietly (`skipped: waiting-for-snapshot`: the schedule keeps firing
 * harmlessly, and the freshness alarm still tells on-call nothing lands); when another run holds the
 * operator's lock it succeeds quietly too (`skipped: locked`). Otherwise `Sync streams` maps over the
 * configured streams (MaxConcurrency = `snapshot.maxParallelWindows`) running incremental-sync with
 * the lock owner, looping on continuations; a failing stream becomes a result entry and the others
 * go on. `Release lock` runs on every path that took the lock, and the execution fails at the end
 * naming the failed streams.
 */
import { ArnFormat, type CfnResource, Duration, type RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import type { OperatorConfig } from '#shared/config/schema';
import { RETRYABLE_ERRORS, TIMEOUT_ERRORS } from '#shared/contracts/errors';
import { INCREMENTAL_LOCK_TTL_SECONDS } from '#shared/contracts/locks';
import { acknowledgeFindings } from '../../nag.ts';
import { ConnectorFunction } from '../connector-function.ts';
import { connectorEnvironment, type Extractors } from '../extractors.ts';
import type { LambdaBundle } from '../lambda-bundle.ts';
import type { LandingZone } from '../landing-zone.ts';
import { EncryptedLogGroup } from '../log-group.ts';
import type { Network } from '../network.ts';
import { scheduleDeadLetterQueue, schedulerRole } from '../schedule.ts';
import type { SourceCredentials } from '../source-credentials.ts';
import type { SyncState } from '../sync-state.ts';

/** Errors of the Lambda service itself that AWS recommends retrying on every Lambda task. */
export const LAMBDA_TRANSIENT_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.TooManyRequestsException',
] as const;

/** State names of the snapshot state machine. */
export const SNAPSHOT_STATES = {
  plan: 'Plan snapshot',
  planFailed: 'Snapshot planning failed',
  windows: 'Extract windows',
  extract: 'Extract window',
  continues: 'Window continues?',
  continueWindow: 'Continue window',
  windowDone: 'Window extracted',
  windowFailed: 'Window failed',
  finalize: 'Finalize snapshot',
  recordFailure: 'Record snapshot failure',
  publish: 'Publish snapshot windows',
  publishNotDone: 'Snapshot publish failed',
  outcome: 'Snapshot outcome',
  published: 'Snapshot published?',
  publishFailed: 'Publish failed',
  completed: 'Snapshot completed',
  startNext: 'Start next execution',
  continued: 'Snapshot continues in a new execution',
  failed: 'Snapshot failed',
  stepFailed: 'Snapshot step failed',
} as const;

/** State names of the incremental state machine. */
export const INCREMENTAL_STATES = {
  begin: 'Begin incremental run',
  beginFailed: 'Release lock after start failure',
  startFailed: 'Incremental run failed to start',
  runState: 'Can the run start?',
  waiting: 'Waiting for snapshot',
  locked: 'Locked by another run',
  skipped: 'Incremental run skipped',
  streams: 'Sync streams',
  sync: 'Sync stream',
  continues: 'Stream continues?',
  continueStream: 'Continue stream',
  streamDone: 'Stream synced',
  streamFailed: 'Stream failed',
  release: 'Release lock',
  releaseAfterFailure: 'Release lock after failure',
  publish: 'Publish runs',
  publishNotDone: 'Run publish failed',
  anyFailed: 'Any stream failed?',
  published: 'Run published?',
  publishFailed: 'Publish failed',
  completed: 'Incremental run completed',
  streamsFailed: 'Streams failed',
  runFailed: 'Incremental run failed',
  releaseFailed: 'Lock release failed',
} as const;

/**
 * Adds the connector's retry policy to a Lambda task: the transient Lambda service errors, the
 * connector's retryable errors by name, and one later attempt after a statement timeout, each with
 * exponential backoff and full jitter (so parallel windows do not retry in lock step).
 */
export function addLambdaRetries(task: sfn.TaskStateBase): void {
  task.addRetry({
    errors: [...LAMBDA_TRANSIENT_ERRORS],
    interval: Duration.seconds(2),
    backoffRate: 2,
    maxAttempts: 6,
    maxDelay: Duration.seconds(60),
    jitterStrategy: sfn.JitterType.FULL,
  });
  task.addRetry({
    errors: [...RETRYABLE_ERRORS],
    interval: Duration.seconds(10),
    backoffRate: 2,
    maxAttempts: 4,
    maxDelay: Duration.minutes(2),
    jitterStrategy: sfn.JitterType.FULL,
  });
  task.addRetry({
    errors: [...TIMEOUT_ERRORS],
    interval: Duration.seconds(30),
    maxAttempts: 1,
    jitterStrategy: sfn.JitterType.FULL,
  });
}

export interface PipelineProps {
  /** The validated config of a database operator. */
  readonly config: OperatorConfig;
  /** The stack's shared code asset. */
  readonly bundle: LambdaBundle;
  readonly landingZone: LandingZone;
  readonly syncState: SyncState;
  /** The database credentials (read by plan-snapshot: NULL-cursor counts, and row estimates for adaptive windows). */
  readonly sourceCredentials: SourceCredentials;
  /** The extractor network: the pipeline functions run beside the extractors. */
  readonly network: Network;
  /** The extract-window and incremental-sync functions the state machines invoke. */
  readonly extractors: Pick<Extractors, 'extractWindow' | 'incrementalSync'>;
  /**
   * The publish state machine both state machines start (and wait for) when they end, and what
   * their roles need to do so.
   */
  readonly publish: { readonly stateMachine: sfn.IStateMachine; readonly statements: readonly iam.PolicyStatement[] };
  /**
   * What `cdk destroy` does to the log groups.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** The snapshot and incremental state machines, their helper functions and the schedule. */
export class Pipeline extends Construct {
  /** Plans, extracts and finalizes a snapshot (start it once, or to resume or replay). */
  public readonly snapshotStateMachine: sfn.StateMachine;
  /** Lands every stream's changes since its watermark; started by {@link schedule}. */
  public readonly incrementalStateMachine: sfn.StateMachine;
  /** EventBridge Scheduler schedule starting {@link incrementalStateMachine} (`incremental.schedule`). */
  public readonly schedule: scheduler.CfnSchedule;
  /** Role the schedule starts executions with: `states:StartExecution` on the incremental state machine only. */
  public readonly scheduleRole: iam.Role;
  /** Start requests the scheduler could not deliver after its retries. */
  public readonly scheduleDeadLetterQueue: sqs.Queue;
  /** plan-snapshot: records or resumes a snapshot and returns its windows not done. */
  public readonly planSnapshot: ConnectorFunction;
  /** finalize-snapshot: completes or fails a snapshot. */
  public readonly finalizeSnapshot: ConnectorFunction;
  /** run-lock: begins (lock, snapshot check) and ends (release, summary) incremental runs. */
  public readonly runLock: ConnectorFunction;
  /** Execution log of the snapshot state machine (`<prefix>snapshot-state-machine`). */
  public readonly snapshotLogGroup: EncryptedLogGroup;
  /** Execution log of the incremental state machine (`<prefix>incremental-state-machine`). */
  public readonly incrementalLogGroup: EncryptedLogGroup;

  private readonly operator: string;
  private readonly publish: PipelineProps['publish'];

  constructor(scope: Construct, id: string, props: PipelineProps) {
    super(scope, id);
    const { config, landingZone, syncState, sourceCredentials, network, extractors } = props;
    this.publish = props.publish;
    if (config.source.type === 'files') {
      throw new Error(
        `Pipeline of ${config.operatorId}: file-drop operators have no snapshot or incremental pipeline; create it only for postgres or mysql sources`,
      );
    }
    const name = `${config.operatorId}-${config.stage}`;
    this.operator = `operator ${config.operatorId} (${config.stage})`;
    const removal = props.removalPolicy ? { removalPolicy: props.removalPolicy } : {};

    const common = {
      bundle: props.bundle,
      encryptionKey: landingZone.key,
      logRetentionDays: config.retention.logDays,
      vpc: { vpc: network.vpc, subnets: network.subnetSelection, securityGroups: network.securityGroups },
      ...removal,
    };
    const environment = connectorEnvironment(config, landingZone, syncState);
    this.planSnapshot = new ConnectorFunction(this, 'PlanSnapshot', {
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
    this.finalizeSnapshot = new ConnectorFunction(this, 'FinalizeSnapshot', {
      ...common,
      handler: 'finalize-snapshot',
      description: `${name}: completes a snapshot and starts the incremental watermarks`,
      logGroupName: `${landingZone.logGroupNamePrefix}finalize-snapshot`,
      memorySize: 512,
      timeout: Duration.minutes(5),
      reservedConcurrency: 2,
      environment,
    });
    this.runLock = new ConnectorFunction(this, 'RunLock', {
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
    for (const fn of [this.planSnapshot, this.finalizeSnapshot, this.runLock]) {
      syncState.grantReadWrite(fn.grantee);
      fn.acknowledgeWildcards(
        ['Action::kms:GenerateDataKey*', 'Action::kms:ReEncrypt*'],
        "These are the KMS action groups DynamoDB uses with the customer-managed key of the sync-state table (GenerateDataKey / GenerateDataKeyWithoutPlaintext, ReEncryptFrom / ReEncryptTo); they are granted on this operator's one key ARN only.",
      );
    }
    sourceCredentials.grantRead(this.planSnapshot.grantee);

    const stack = Stack.of(this);
    const snapshotName = `${name}-snapshot`;
    const incrementalName = `${name}-incremental`;
    const arnOf = (machine: string) =>
      stack.formatArn({
        service: 'states',
        resource: 'stateMachine',
        resourceName: machine,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });

    this.snapshotLogGroup = new EncryptedLogGroup(this, 'SnapshotLogs', {
      logGroupName: `${landingZone.logGroupNamePrefix}snapshot-state-machine`,
      encryptionKey: landingZone.key,
      retentionDays: config.retention.logDays,
      ...removal,
    });
    this.incrementalLogGroup = new EncryptedLogGroup(this, 'IncrementalLogs', {
      logGroupName: `${landingZone.logGroupNamePrefix}incremental-state-machine`,
      encryptionKey: landingZone.key,
      retentionDays: config.retention.logDays,
      ...removal,
    });

    this.snapshotStateMachine = this.stateMachine('Snapshot', {
      stateMachineName: snapshotName,
      definition: this.snapshotDefinition(config, extractors.extractWindow),
      logGroup: this.snapshotLogGroup,
      invokes: [this.planSnapshot, extractors.extractWindow, this.finalizeSnapshot],
      // The next execution of a snapshot larger than one execution takes (`Start next execution`).
      extraStatements: [
        new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [arnOf(snapshotName)] }),
        ...props.publish.statements,
      ],
      description: `Snapshot of ${config.displayName} (${config.stage}): input {} (new), {"snapshotId": …} (resume) or {"from": …, "to": …, "streams": […]} (replay)`,
    });
    this.incrementalStateMachine = this.stateMachine('Incremental', {
      stateMachineName: incrementalName,
      definition: this.incrementalDefinition(config, extractors.incrementalSync),
      logGroup: this.incrementalLogGroup,
      invokes: [this.runLock, extractors.incrementalSync],
      extraStatements: [...props.publish.statements],
      description: `Incremental sync of ${config.displayName} (${config.stage}), started by its schedule`,
    });

    // ---------------------------------------------------------------- schedule
    this.scheduleDeadLetterQueue = scheduleDeadLetterQueue(
      this,
      landingZone.key,
      props.removalPolicy,
      'This queue is itself the dead-letter queue of the incremental schedule: it keeps start requests the scheduler could not deliver for 14 days for the on-call engineer; a dead-letter queue of a dead-letter queue would only move them again.',
    );
    this.scheduleRole = schedulerRole(this, `${name}: starts incremental executions on schedule`);
    const schedulePolicy = new iam.ManagedPolicy(this, 'SchedulePolicy', {
      roles: [this.scheduleRole],
      description: `${name}: start the incremental state machine; dead-letter undeliverable starts`,
      statements: [
        new iam.PolicyStatement({
          actions: ['states:StartExecution'],
          resources: [this.incrementalStateMachine.stateMachineArn],
        }),
        new iam.PolicyStatement({
          actions: ['sqs:SendMessage'],
          resources: [this.scheduleDeadLetterQueue.queueArn],
        }),
        new iam.PolicyStatement({
          actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
          resources: [landingZone.key.keyArn],
        }),
      ],
    });
    this.schedule = new scheduler.CfnSchedule(this, 'IncrementalSchedule', {
      name: incrementalName,
      description: `Starts the incremental sync of ${config.operatorId} (${config.stage})`,
      scheduleExpression: config.incremental.schedule,
      scheduleExpressionTimezone: 'UTC',
      flexibleTimeWindow: { mode: 'OFF' },
      state: 'ENABLED',
      target: {
        arn: this.incrementalStateMachine.stateMachineArn,
        roleArn: this.scheduleRole.roleArn,
        input: '{}',
        // A missed start is caught up by the next one; retry briefly, then keep the request.
        retryPolicy: { maximumRetryAttempts: 3, maximumEventAgeInSeconds: 300 },
        deadLetterConfig: { arn: this.scheduleDeadLetterQueue.queueArn },
      },
    });
    this.schedule.node.addDependency(schedulePolicy);
  }

  /** A Lambda task with the connector's retry policy, whose result is the function's response. */
  private invoke(id: string, stateName: string, fn: ConnectorFunction, props: Partial<tasks.LambdaInvokeProps> = {}) {
    const task = new tasks.LambdaInvoke(this, id, {
      stateName,
      lambdaFunction: fn.function,
      payloadResponseOnly: true,
      // Replaced by addLambdaRetries: the same errors plus Lambda.TooManyRequestsException, with jitter.
      retryOnServiceExceptions: false,
      ...props,
    });
    addLambdaRetries(task);
    return task;
  }

  /** `operator <id> (<stage>): <text>` as a States.Format template (the id is safe: [a-z0-9-]). */
  private format(text: string, ...paths: string[]): string {
    return sfn.JsonPath.format(`${this.operator}: ${text}`, ...paths.map((p) => sfn.JsonPath.stringAt(p)));
  }

  /**
   * Starts the publish state machine and waits for it (`startExecution.sync:2`). A publish that
   * fails is recorded under `$.publish.error` (with `failedState`'s Pass) instead of failing the run
   * at once: the run's own outcome is decided first, then the publish failure.
   */
  private publishTask(
    stateName: string,
    notDoneId: string,
    notDoneName: string,
  ): { readonly task: sfn.CustomState; readonly notDone: sfn.Pass } {
    const notDone = new sfn.Pass(this, notDoneId, {
      stateName: notDoneName,
      parameters: {
        error: sfn.JsonPath.stringAt('$.publishError.Error'),
        cause: sfn.JsonPath.stringAt('$.publishError.Cause'),
      },
      resultPath: '$.publish',
    });
    const task = new sfn.CustomState(this, stateName, {
      stateJson: {
        Type: 'Task',
        Resource: `arn:${Stack.of(this).partition}:states:::states:startExecution.sync:2`,
        Parameters: {
          StateMachineArn: this.publish.stateMachine.stateMachineArn,
          Input: { 'AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$': '$$.Execution.Id' },
        },
        ResultSelector: { 'status.$': '$.Status' },
        ResultPath: '$.publish',
        Retry: [
          {
            ErrorEquals: ['StepFunctions.ExecutionLimitExceededException', 'StepFunctions.SdkClientException'],
            IntervalSeconds: 5,
            BackoffRate: 2,
            MaxAttempts: 4,
            JitterStrategy: 'FULL',
          },
        ],
      },
    });
    task.addCatch(notDone, { errors: ['States.ALL'], resultPath: '$.publishError' });
    return { task, notDone };
  }

  private snapshotDefinition(config: OperatorConfig, extractWindow: ConnectorFunction): sfn.IChainable {
    const S = SNAPSHOT_STATES;
    const path = sfn.JsonPath;

    const planFailed = new sfn.Fail(this, 'SnapshotPlanningFailed', {
      stateName: S.planFailed,
      errorPath: '$.error.Error',
      causePath: this.format('planning the snapshot failed: {}', '$.error.Cause'),
    });
    const plan = this.invoke('PlanSnapshotTask', S.plan, this.planSnapshot, {
      payload: sfn.TaskInput.fromObject({
        executionName: path.stringAt('$$.Execution.Name'),
        startTime: path.stringAt('$$.Execution.StartTime'),
        request: path.objectAt('$'),
      }),
    });
    plan.addCatch(planFailed, { errors: ['States.ALL'], resultPath: '$.error' });

    // One window: extract, and extract again with the continuation until it is complete.
    const windowFields = {
      snapshotId: path.stringAt('$.snapshotId'),
      runId: path.stringAt('$.runId'),
      stream: path.stringAt('$.stream'),
      windowId: path.stringAt('$.windowId'),
      from: path.stringAt('$.from'),
      to: path.stringAt('$.to'),
    };
    const extract = this.invoke('ExtractWindowTask', S.extract, extractWindow, { resultPath: '$.result' });
    const continueWindow = new sfn.Pass(this, 'ContinueWindow', {
      stateName: S.continueWindow,
      parameters: { ...windowFields, continuation: path.objectAt('$.result.continuation') },
    });
    const windowDone = new sfn.Pass(this, 'WindowExtracted', {
      stateName: S.windowDone,
      result: sfn.Result.fromObject({}),
    });
    const windowFailed = new sfn.Pass(this, 'WindowFailed', {
      stateName: S.windowFailed,
      parameters: { s: path.stringAt('$.stream'), w: path.stringAt('$.windowId'), e: path.stringAt('$.error.Error') },
    });
    extract.addCatch(windowFailed, { errors: ['States.ALL'], resultPath: '$.error' });
    const continues = new sfn.Choice(this, 'WindowContinues', { stateName: S.continues })
      .when(sfn.Condition.stringEquals('$.result.status', 'continue'), continueWindow.next(extract))
      .otherwise(windowDone);

    const windows = new sfn.Map(this, 'ExtractWindows', {
      stateName: S.windows,
      itemsPath: '$.windows',
      maxConcurrency: config.snapshot.maxParallelWindows,
      itemSelector: {
        snapshotId: path.stringAt('$.snapshotId'),
        runId: path.stringAt('$.runId'),
        stream: path.stringAt('$$.Map.Item.Value.s'),
        windowId: path.stringAt('$$.Map.Item.Value.w'),
        from: path.stringAt('$$.Map.Item.Value.f'),
        to: path.stringAt('$$.Map.Item.Value.t'),
      },
      // `{}` per window done, `{ s, w, e }` per window failed: a few KiB for a thousand windows.
      resultPath: '$.results',
    });
    windows.itemProcessor(extract.next(continues));

    const stepFailed = new sfn.Fail(this, 'SnapshotStepFailed', {
      stateName: S.stepFailed,
      errorPath: '$.error.Error',
      causePath: this.format('snapshot {} could not be finalized: {}', '$.snapshotId', '$.error.Cause'),
    });
    const failed = new sfn.Fail(this, 'SnapshotFailed', {
      stateName: S.failed,
      error: 'SnapshotFailed',
      causePath: this.format('snapshot {} failed: {}', '$.snapshotId', '$.finalize.summary'),
    });
    const finalize = this.invoke('FinalizeSnapshotTask', S.finalize, this.finalizeSnapshot, {
      payload: sfn.TaskInput.fromObject({
        snapshotId: path.stringAt('$.snapshotId'),
        remaining: path.numberAt('$.remaining'),
        failures: path.listAt('$.results'),
      }),
      resultPath: '$.finalize',
    });
    finalize.addCatch(stepFailed, { errors: ['States.ALL'], resultPath: '$.error' });
    const recordFailure = this.invoke('RecordSnapshotFailureTask', S.recordFailure, this.finalizeSnapshot, {
      payload: sfn.TaskInput.fromObject({ snapshotId: path.stringAt('$.snapshotId'), error: path.objectAt('$.error') }),
      resultPath: '$.finalize',
    });
    recordFailure.addCatch(stepFailed, { errors: ['States.ALL'], resultPath: '$.error' });
    recordFailure.next(failed);
    windows.addCatch(recordFailure, { errors: ['States.ALL'], resultPath: '$.error' });

    // CustomState takes its state name from its construct id.
    const startNext = new sfn.CustomState(this, S.startNext, {
      stateJson: {
        Type: 'Task',
        Resource: `arn:${Stack.of(this).partition}:states:::states:startExecution`,
        Parameters: {
          'StateMachineArn.$': '$$.StateMachine.Id',
          'Name.$': '$.finalize.nextExecutionName',
          Input: { 'snapshotId.$': '$.snapshotId', 'AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$': '$$.Execution.Id' },
        },
        ResultPath: null,
      },
    });
    // StartExecution with the same name and input is idempotent: retrying cannot start two.
    startNext.addRetry({
      errors: ['States.ALL'],
      interval: Duration.seconds(5),
      backoffRate: 2,
      maxAttempts: 4,
      jitterStrategy: sfn.JitterType.FULL,
    });
    startNext.addCatch(stepFailed, { errors: ['States.ALL'], resultPath: '$.error' });
    const continued = new sfn.Succeed(this, 'SnapshotContinued', { stateName: S.continued, outputPath: '$.finalize' });
    const completed = new sfn.Succeed(this, 'SnapshotCompleted', { stateName: S.completed, outputPath: '$.finalize' });
    const publishFailed = new sfn.Fail(this, 'SnapshotPublishFailed', {
      stateName: S.publishFailed,
      error: 'PublishFailed',
      causePath: this.format(
        'snapshot {} landed, but publishing it into the serving tables failed (the next publish retries it): {}',
        '$.snapshotId',
        '$.publish.cause',
      ),
    });
    const published = new sfn.Choice(this, 'SnapshotPublished', { stateName: S.published })
      .when(sfn.Condition.isPresent('$.publish.error'), publishFailed)
      .otherwise(completed);
    const outcome = new sfn.Choice(this, 'SnapshotOutcome', { stateName: S.outcome })
      .when(sfn.Condition.stringEquals('$.finalize.status', 'completed'), published)
      .when(sfn.Condition.stringEquals('$.finalize.status', 'continue'), startNext.next(continued))
      .otherwise(failed);

    // Whatever the windows' outcome, what committed is published: a failed window does not hold back the others.
    const publish = this.publishTask(S.publish, 'SnapshotPublishNotDone', S.publishNotDone);
    publish.notDone.next(outcome);
    return plan.next(windows).next(finalize).next(publish.task).next(outcome);
  }

  private incrementalDefinition(config: OperatorConfig, incrementalSync: ConnectorFunction): sfn.IChainable {
    const S = INCREMENTAL_STATES;
    const path = sfn.JsonPath;

    const releaseFailed = new sfn.Fail(this, 'LockReleaseFailed', {
      stateName: S.releaseFailed,
      errorPath: '$.error.Error',
      causePath: this.format(
        `releasing the incremental run lock failed (it expires by itself after ${INCREMENTAL_LOCK_TTL_SECONDS / 60} minutes): {}`,
        '$.error.Cause',
      ),
    });
    const release = (id: string, stateName: string, payload: Record<string, unknown>) => {
      const task = this.invoke(id, stateName, this.runLock, {
        payload: sfn.TaskInput.fromObject({ action: 'end', ...payload }),
        resultPath: '$.end',
      });
      task.addCatch(releaseFailed, { errors: ['States.ALL'], resultPath: '$.error' });
      return task;
    };

    const startFailed = new sfn.Fail(this, 'IncrementalStartFailed', {
      stateName: S.startFailed,
      errorPath: '$.error.Error',
      causePath: this.format('starting the incremental run failed: {}', '$.error.Cause'),
    });
    const begin = this.invoke('BeginIncrementalRunTask', S.begin, this.runLock, {
      payload: sfn.TaskInput.fromObject({
        action: 'begin',
        executionName: path.stringAt('$$.Execution.Name'),
        startTime: path.stringAt('$$.Execution.StartTime'),
      }),
    });
    // The lock may have been taken before the step failed: release it (owner = execution name).
    begin.addCatch(
      release('ReleaseAfterStartFailureTask', S.beginFailed, {
        owner: path.stringAt('$$.Execution.Name'),
        error: path.objectAt('$.error'),
      }).next(startFailed),
      { errors: ['States.ALL'], resultPath: '$.error' },
    );

    const skipped = new sfn.Succeed(this, 'IncrementalRunSkipped', { stateName: S.skipped });
    const waiting = new sfn.Pass(this, 'WaitingForSnapshot', {
      stateName: S.waiting,
      parameters: { skipped: 'waiting-for-snapshot', reason: path.stringAt('$.reason') },
    });
    const locked = new sfn.Pass(this, 'LockedByAnotherRun', {
      stateName: S.locked,
      parameters: { skipped: 'locked', holder: path.stringAt('$.holder'), reason: path.stringAt('$.reason') },
    });

    // One stream: sync, and sync again with the continuation until it is complete.
    const sync = this.invoke('SyncStreamTask', S.sync, incrementalSync, { resultPath: '$.result' });
    const continueStream = new sfn.Pass(this, 'ContinueStream', {
      stateName: S.continueStream,
      parameters: {
        runId: path.stringAt('$.runId'),
        stream: path.stringAt('$.stream'),
        lockOwner: path.stringAt('$.lockOwner'),
        continuation: path.objectAt('$.result.continuation'),
        range: path.objectAt('$.result.range'),
      },
    });
    const streamDone = new sfn.Pass(this, 'StreamSynced', {
      stateName: S.streamDone,
      parameters: {
        stream: path.stringAt('$.stream'),
        status: path.stringAt('$.result.status'),
        // Every incremental-sync result that ends a stream carries it (null when not counted).
        nullCursorRows: path.numberAt('$.result.nullCursorRows'),
      },
    });
    const streamFailed = new sfn.Pass(this, 'StreamFailed', {
      stateName: S.streamFailed,
      parameters: {
        stream: path.stringAt('$.stream'),
        status: 'failed',
        error: path.stringAt('$.error.Error'),
        cause: path.stringAt('$.error.Cause'),
      },
    });
    sync.addCatch(streamFailed, { errors: ['States.ALL'], resultPath: '$.error' });
    const continues = new sfn.Choice(this, 'StreamContinues', { stateName: S.continues })
      .when(sfn.Condition.stringEquals('$.result.status', 'continue'), continueStream.next(sync))
      .otherwise(streamDone);

    const streams = new sfn.Map(this, 'SyncStreams', {
      stateName: S.streams,
      itemsPath: '$.streams',
      maxConcurrency: config.snapshot.maxParallelWindows,
      itemSelector: {
        runId: path.stringAt('$.runId'),
        lockOwner: path.stringAt('$.owner'),
        stream: path.stringAt('$$.Map.Item.Value'),
      },
      resultPath: '$.results',
    });
    streams.itemProcessor(sync.next(continues));

    const runFailed = new sfn.Fail(this, 'IncrementalRunFailed', {
      stateName: S.runFailed,
      errorPath: '$.error.Error',
      causePath: this.format('incremental run {} failed: {}', '$.runId', '$.end.summary'),
    });
    streams.addCatch(
      release('ReleaseAfterFailureTask', S.releaseAfterFailure, {
        owner: path.stringAt('$.owner'),
        runId: path.stringAt('$.runId'),
        error: path.objectAt('$.error'),
      }).next(runFailed),
      { errors: ['States.ALL'], resultPath: '$.error' },
    );

    const streamsFailed = new sfn.Fail(this, 'StreamsFailed', {
      stateName: S.streamsFailed,
      error: 'IncrementalSyncFailed',
      causePath: this.format(
        'incremental run {} failed for {} stream(s): {}',
        '$.runId',
        '$.end.failed',
        '$.end.summary',
      ),
    });
    const completed = new sfn.Succeed(this, 'IncrementalRunCompleted', { stateName: S.completed, outputPath: '$.end' });
    const publishFailed = new sfn.Fail(this, 'RunPublishFailed', {
      stateName: S.publishFailed,
      error: 'PublishFailed',
      causePath: this.format(
        'incremental run {} landed, but publishing it into the serving tables failed (the next publish retries it): {}',
        '$.runId',
        '$.publish.cause',
      ),
    });
    const published = new sfn.Choice(this, 'RunPublished', { stateName: S.published })
      .when(sfn.Condition.isPresent('$.publish.error'), publishFailed)
      .otherwise(completed);
    const anyFailed = new sfn.Choice(this, 'AnyStreamFailed', { stateName: S.anyFailed })
      .when(sfn.Condition.numberGreaterThan('$.end.failed', 0), streamsFailed)
      .otherwise(published);
    // What the streams committed is published, whether or not another stream failed.
    const publish = this.publishTask(S.publish, 'RunPublishNotDone', S.publishNotDone);
    publish.notDone.next(anyFailed);

    const runState = new sfn.Choice(this, 'CanTheRunStart', { stateName: S.runState })
      .when(sfn.Condition.stringEquals('$.status', 'waiting'), waiting.next(skipped))
      .when(sfn.Condition.stringEquals('$.status', 'locked'), locked.next(skipped))
      .otherwise(
        streams
          .next(
            release('ReleaseLockTask', S.release, {
              owner: path.stringAt('$.owner'),
              runId: path.stringAt('$.runId'),
              results: path.listAt('$.results'),
            }),
          )
          .next(publish.task)
          .next(anyFailed),
      );
    return begin.next(runState);
  }

  /**
   * A standard state machine whose role keeps every permission in one customer-managed policy:
   * CDK would put the invoke, logging and tracing grants into an inline default policy, which the
   * NIST and PCI packs refuse, so the machine gets an immutable view of the role and the policy
   * below holds exactly those grants.
   */
  private stateMachine(
    id: string,
    props: {
      readonly stateMachineName: string;
      readonly definition: sfn.IChainable;
      readonly logGroup: EncryptedLogGroup;
      readonly invokes: readonly ConnectorFunction[];
      readonly extraStatements: readonly iam.PolicyStatement[];
      readonly description: string;
    },
  ): sfn.StateMachine {
    const stack = Stack.of(this);
    const role = new iam.Role(this, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('states.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
      description: `Role of state machine ${props.stateMachineName}`,
    });
    const policy = new iam.ManagedPolicy(this, `${id}Policy`, {
      roles: [role],
      description: `Permissions of state machine ${props.stateMachineName}`,
      statements: [
        new iam.PolicyStatement({
          actions: ['lambda:InvokeFunction'],
          resources: props.invokes.map((fn) => fn.function.functionArn),
        }),
        ...vendedLogDeliveryStatements(),
        ...props.extraStatements,
      ],
    });
    const publishMachine = Stack.of(this).getLogicalId(this.publish.stateMachine.node.defaultChild as CfnResource);
    acknowledgeFindings(
      policy,
      [
        'AwsSolutions-IAM5[Resource::*]',
        `AwsSolutions-IAM5[Resource::arn:${Token.isUnresolved(stack.partition) ? '<AWS::Partition>' : stack.partition}:states:${stack.region}:${stack.account}:execution:<${publishMachine}.Name>:*]`,
      ],
      'Executions of the publish state machine this one starts and waits for have names Step Functions chooses, so they are granted on the machine\'s execution ARN prefix. The CloudWatch Logs vended-delivery actions (CreateLogDelivery, GetLogDelivery, UpdateLogDelivery, DeleteLogDelivery, ListLogDeliveries, PutResourcePolicy, DescribeResourcePolicies, DescribeLogGroups) and the X-Ray actions (PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) do not support resource-level permissions; AWS documents "*" for Step Functions logging and tracing. Lambda invocations are limited to the functions of this pipeline.',
    );
    const machine = new sfn.StateMachine(this, id, {
      stateMachineName: props.stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      comment: props.description,
      definitionBody: sfn.DefinitionBody.fromChainable(props.definition),
      role: role.withoutPolicyUpdates(),
      tracingEnabled: true,
      logs: { destination: props.logGroup.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });
    machine.node.addDependency(policy);
    return machine;
  }
}

/** What Step Functions needs to deliver its logs (vended log delivery) and traces. */
export function vendedLogDeliveryStatements(): iam.PolicyStatement[] {
  return [
    new iam.PolicyStatement({
      actions: [
        'logs:CreateLogDelivery',
        'logs:GetLogDelivery',
        'logs:UpdateLogDelivery',
        'logs:DeleteLogDelivery',
        'logs:ListLogDeliveries',
        'logs:PutResourcePolicy',
        'logs:DescribeResourcePolicies',
        'logs:DescribeLogGroups',
      ],
      resources: ['*'],
    }),
    new iam.PolicyStatement({
      actions: [
        'xray:PutTraceSegments',
        'xray:PutTelemetryRecords',
        'xray:GetSamplingRules',
        'xray:GetSamplingTargets',
      ],
      resources: ['*'],
    }),
  ];
}
