/**
 * The definition of the SnapshotStateMachine.
 *
 * `Plan snapshot` records the windows (or reads those of a snapshot being resumed) and returns the
 * ones not done → `Extract windows`, one flat Map over them with MaxConcurrency =
 * `snapshot.maxParallelWindows` (exactly the number of concurrent sessions on the operator database;
 * a Map over streams with an inner Map would multiply or serialize it) → per window `Extract window`
 * (extract-window, which records the window's progress itself) looping through `Continue window`
 * while it returns a continuation; a window that keeps failing becomes a `{ s, w, e }` entry and the
 * other windows go on → `Finalize snapshot` completes the snapshot (each stream's watermark starts at
 * the cutoff), or fails it naming the failed windows → `Publish snapshot windows` publishes what
 * committed, whatever the windows' outcome. Input `{}` is a new full snapshot, `{ snapshotId }` a
 * resume, `{ from, to, streams? }` a replay under a new id. A snapshot of more than 1,000 windows
 * (execution history and payload limits) runs its remaining windows in a new execution (`Start next
 * execution`).
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { OperatorConfig } from '#shared/config/schema';
import type {
  ExtractWindowInput,
  FinalizeSnapshotInput,
  PlanSnapshotInput,
  StepPayload,
  WindowFailure,
  WindowTask,
} from '#shared/contracts/steps';
import type { ConnectorFunction } from '../connector-function.ts';
import type { PipelineStates } from './states.ts';

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

/** The states of the snapshot state machine, created in `states.scope`. */
export function snapshotDefinition(
  states: PipelineStates,
  config: OperatorConfig,
  functions: {
    readonly planSnapshot: ConnectorFunction;
    readonly extractWindow: ConnectorFunction;
    readonly finalizeSnapshot: ConnectorFunction;
  },
): sfn.IChainable {
  const { scope } = states;
  const { planSnapshot, extractWindow, finalizeSnapshot } = functions;
  const S = SNAPSHOT_STATES;
  const path = sfn.JsonPath;

  const planFailed = new sfn.Fail(scope, 'SnapshotPlanningFailed', {
    stateName: S.planFailed,
    errorPath: '$.error.Error',
    causePath: states.format('planning the snapshot failed: {}', '$.error.Cause'),
  });
  const plan = states.invoke('PlanSnapshotTask', S.plan, planSnapshot, {
    payload: sfn.TaskInput.fromObject({
      executionName: path.stringAt('$$.Execution.Name'),
      startTime: path.stringAt('$$.Execution.StartTime'),
      request: path.objectAt('$'),
    } satisfies StepPayload<PlanSnapshotInput>),
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
  } satisfies StepPayload<WindowTask>;
  const extract = states.invoke('ExtractWindowTask', S.extract, extractWindow, { resultPath: '$.result' });
  const continueWindow = new sfn.Pass(scope, 'ContinueWindow', {
    stateName: S.continueWindow,
    parameters: {
      ...windowFields,
      continuation: path.objectAt('$.result.continuation'),
    } satisfies StepPayload<ExtractWindowInput>,
  });
  const windowDone = new sfn.Pass(scope, 'WindowExtracted', {
    stateName: S.windowDone,
    result: sfn.Result.fromObject({}),
  });
  const windowFailed = new sfn.Pass(scope, 'WindowFailed', {
    stateName: S.windowFailed,
    parameters: {
      s: path.stringAt('$.stream'),
      w: path.stringAt('$.windowId'),
      e: path.stringAt('$.error.Error'),
    } satisfies StepPayload<WindowFailure>,
  });
  extract.addCatch(windowFailed, { errors: ['States.ALL'], resultPath: '$.error' });
  const continues = new sfn.Choice(scope, 'WindowContinues', { stateName: S.continues })
    .when(sfn.Condition.stringEquals('$.result.status', 'continue'), continueWindow.next(extract))
    .otherwise(windowDone);

  const windows = new sfn.Map(scope, 'ExtractWindows', {
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
    } satisfies StepPayload<WindowTask>,
    // `{}` per window done, `{ s, w, e }` per window failed: a few KiB for a thousand windows.
    resultPath: '$.results',
  });
  windows.itemProcessor(extract.next(continues));

  const stepFailed = new sfn.Fail(scope, 'SnapshotStepFailed', {
    stateName: S.stepFailed,
    errorPath: '$.error.Error',
    causePath: states.format('snapshot {} could not be finalized: {}', '$.snapshotId', '$.error.Cause'),
  });
  const failed = new sfn.Fail(scope, 'SnapshotFailed', {
    stateName: S.failed,
    error: 'SnapshotFailed',
    causePath: states.format('snapshot {} failed: {}', '$.snapshotId', '$.finalize.summary'),
  });
  const finalize = states.invoke('FinalizeSnapshotTask', S.finalize, finalizeSnapshot, {
    payload: sfn.TaskInput.fromObject({
      snapshotId: path.stringAt('$.snapshotId'),
      remaining: path.numberAt('$.remaining'),
      failures: path.listAt('$.results'),
    } satisfies StepPayload<FinalizeSnapshotInput>),
    resultPath: '$.finalize',
  });
  finalize.addCatch(stepFailed, { errors: ['States.ALL'], resultPath: '$.error' });
  const recordFailure = states.invoke('RecordSnapshotFailureTask', S.recordFailure, finalizeSnapshot, {
    payload: sfn.TaskInput.fromObject({
      snapshotId: path.stringAt('$.snapshotId'),
      error: path.objectAt('$.error'),
    } satisfies StepPayload<FinalizeSnapshotInput>),
    resultPath: '$.finalize',
  });
  recordFailure.addCatch(stepFailed, { errors: ['States.ALL'], resultPath: '$.error' });
  recordFailure.next(failed);
  windows.addCatch(recordFailure, { errors: ['States.ALL'], resultPath: '$.error' });

  // CustomState takes its state name from its construct id.
  const startNext = new sfn.CustomState(scope, S.startNext, {
    stateJson: {
      Type: 'Task',
      Resource: `arn:${Stack.of(scope).partition}:states:::states:startExecution`,
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
  const continued = new sfn.Succeed(scope, 'SnapshotContinued', { stateName: S.continued, outputPath: '$.finalize' });
  const completed = new sfn.Succeed(scope, 'SnapshotCompleted', { stateName: S.completed, outputPath: '$.finalize' });
  const publishFailed = new sfn.Fail(scope, 'SnapshotPublishFailed', {
    stateName: S.publishFailed,
    error: 'PublishFailed',
    causePath: states.format(
      'snapshot {} landed, but publishing it into the serving tables failed (the next publish retries it): {}',
      '$.snapshotId',
      '$.publish.cause',
    ),
  });
  const published = new sfn.Choice(scope, 'SnapshotPublished', { stateName: S.published })
    .when(sfn.Condition.isPresent('$.publish.error'), publishFailed)
    .otherwise(completed);
  const outcome = new sfn.Choice(scope, 'SnapshotOutcome', { stateName: S.outcome })
    .when(sfn.Condition.stringEquals('$.finalize.status', 'completed'), published)
    .when(sfn.Condition.stringEquals('$.finalize.status', 'continue'), startNext.next(continued))
    .otherwise(failed);

  // Whatever the windows' outcome, what committed is published: a failed window does not hold back the others.
  const publish = states.publishTask(S.publish, 'SnapshotPublishNotDone', S.publishNotDone);
  publish.notDone.next(outcome);
  return plan.next(windows).next(finalize).next(publish.task).next(outcome);
}
