/**
 * The definition of the IncrementalStateMachine.
 *
 * `Begin incremental run` (run-lock): before the first snapshot has completed the run succeeds
 * quietly (`skipped: waiting-for-snapshot`: the schedule keeps firing harmlessly, and the freshness
 * alarm still tells on-call nothing lands); when another run holds the operator's lock it succeeds
 * quietly too (`skipped: locked`). Otherwise `Sync streams` maps over the configured streams
 * (MaxConcurrency = `snapshot.maxParallelWindows`) running incremental-sync with the lock owner,
 * looping on continuations; a failing stream becomes a result entry and the others go on. `Release
 * lock` runs on every path that took the lock, `Publish runs` publishes what the streams committed,
 * and the execution fails at the end naming the failed streams.
 */
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { OperatorConfig } from '#shared/config/schema';
import { INCREMENTAL_LOCK_TTL_SECONDS } from '#shared/contracts/locks';
import type {
  EndIncrementalInput,
  IncrementalSyncInput,
  RunLockInput,
  StepPayload,
  StreamOutcome,
} from '#shared/contracts/steps';
import type { ConnectorFunction } from '../connector-function.ts';
import type { PipelineStates } from './states.ts';

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

/** The states of the incremental state machine, created in `states.scope`. */
export function incrementalDefinition(
  states: PipelineStates,
  config: OperatorConfig,
  functions: { readonly runLock: ConnectorFunction; readonly incrementalSync: ConnectorFunction },
): sfn.IChainable {
  const { scope } = states;
  const { runLock, incrementalSync } = functions;
  const S = INCREMENTAL_STATES;
  const path = sfn.JsonPath;

  const releaseFailed = new sfn.Fail(scope, 'LockReleaseFailed', {
    stateName: S.releaseFailed,
    errorPath: '$.error.Error',
    causePath: states.format(
      `releasing the incremental run lock failed (it expires by itself after ${INCREMENTAL_LOCK_TTL_SECONDS / 60} minutes): {}`,
      '$.error.Cause',
    ),
  });
  const release = (id: string, stateName: string, payload: StepPayload<EndIncrementalInput>) => {
    const task = states.invoke(id, stateName, runLock, {
      payload: sfn.TaskInput.fromObject({ action: 'end', ...payload } satisfies StepPayload<RunLockInput>),
      resultPath: '$.end',
    });
    task.addCatch(releaseFailed, { errors: ['States.ALL'], resultPath: '$.error' });
    return task;
  };

  const startFailed = new sfn.Fail(scope, 'IncrementalStartFailed', {
    stateName: S.startFailed,
    errorPath: '$.error.Error',
    causePath: states.format('starting the incremental run failed: {}', '$.error.Cause'),
  });
  const begin = states.invoke('BeginIncrementalRunTask', S.begin, runLock, {
    payload: sfn.TaskInput.fromObject({
      action: 'begin',
      executionName: path.stringAt('$$.Execution.Name'),
      startTime: path.stringAt('$$.Execution.StartTime'),
    } satisfies StepPayload<RunLockInput>),
  });
  // The lock may have been taken before the step failed: release it (owner = execution name).
  begin.addCatch(
    release('ReleaseAfterStartFailureTask', S.beginFailed, {
      owner: path.stringAt('$$.Execution.Name'),
      error: path.objectAt('$.error'),
    }).next(startFailed),
    { errors: ['States.ALL'], resultPath: '$.error' },
  );

  const skipped = new sfn.Succeed(scope, 'IncrementalRunSkipped', { stateName: S.skipped });
  const waiting = new sfn.Pass(scope, 'WaitingForSnapshot', {
    stateName: S.waiting,
    parameters: { skipped: 'waiting-for-snapshot', reason: path.stringAt('$.reason') },
  });
  const locked = new sfn.Pass(scope, 'LockedByAnotherRun', {
    stateName: S.locked,
    parameters: { skipped: 'locked', holder: path.stringAt('$.holder'), reason: path.stringAt('$.reason') },
  });

  // One stream: sync, and sync again with the continuation until it is complete.
  const sync = states.invoke('SyncStreamTask', S.sync, incrementalSync, { resultPath: '$.result' });
  const continueStream = new sfn.Pass(scope, 'ContinueStream', {
    stateName: S.continueStream,
    parameters: {
      runId: path.stringAt('$.runId'),
      stream: path.stringAt('$.stream'),
      lockOwner: path.stringAt('$.lockOwner'),
      continuation: path.objectAt('$.result.continuation'),
      range: path.objectAt('$.result.range'),
    } satisfies StepPayload<IncrementalSyncInput>,
  });
  const streamDone = new sfn.Pass(scope, 'StreamSynced', {
    stateName: S.streamDone,
    parameters: {
      stream: path.stringAt('$.stream'),
      status: path.stringAt('$.result.status'),
      // Every incremental-sync result that ends a stream carries it (null when not counted).
      nullCursorRows: path.numberAt('$.result.nullCursorRows'),
    } satisfies StepPayload<StreamOutcome>,
  });
  const streamFailed = new sfn.Pass(scope, 'StreamFailed', {
    stateName: S.streamFailed,
    parameters: {
      stream: path.stringAt('$.stream'),
      status: 'failed',
      error: path.stringAt('$.error.Error'),
      cause: path.stringAt('$.error.Cause'),
    } satisfies StepPayload<StreamOutcome>,
  });
  sync.addCatch(streamFailed, { errors: ['States.ALL'], resultPath: '$.error' });
  const continues = new sfn.Choice(scope, 'StreamContinues', { stateName: S.continues })
    .when(sfn.Condition.stringEquals('$.result.status', 'continue'), continueStream.next(sync))
    .otherwise(streamDone);

  const streams = new sfn.Map(scope, 'SyncStreams', {
    stateName: S.streams,
    itemsPath: '$.streams',
    maxConcurrency: config.snapshot.maxParallelWindows,
    itemSelector: {
      runId: path.stringAt('$.runId'),
      lockOwner: path.stringAt('$.owner'),
      stream: path.stringAt('$$.Map.Item.Value'),
    } satisfies StepPayload<IncrementalSyncInput>,
    resultPath: '$.results',
  });
  streams.itemProcessor(sync.next(continues));

  const runFailed = new sfn.Fail(scope, 'IncrementalRunFailed', {
    stateName: S.runFailed,
    errorPath: '$.error.Error',
    causePath: states.format('incremental run {} failed: {}', '$.runId', '$.end.summary'),
  });
  streams.addCatch(
    release('ReleaseAfterFailureTask', S.releaseAfterFailure, {
      owner: path.stringAt('$.owner'),
      runId: path.stringAt('$.runId'),
      error: path.objectAt('$.error'),
    }).next(runFailed),
    { errors: ['States.ALL'], resultPath: '$.error' },
  );

  const streamsFailed = new sfn.Fail(scope, 'StreamsFailed', {
    stateName: S.streamsFailed,
    error: 'IncrementalSyncFailed',
    causePath: states.format(
      'incremental run {} failed for {} stream(s): {}',
      '$.runId',
      '$.end.failed',
      '$.end.summary',
    ),
  });
  const completed = new sfn.Succeed(scope, 'IncrementalRunCompleted', { stateName: S.completed, outputPath: '$.end' });
  const publishFailed = new sfn.Fail(scope, 'RunPublishFailed', {
    stateName: S.publishFailed,
    error: 'PublishFailed',
    causePath: states.format(
      'incremental run {} landed, but publishing it into the serving tables failed (the next publish retries it): {}',
      '$.runId',
      '$.publish.cause',
    ),
  });
  const published = new sfn.Choice(scope, 'RunPublished', { stateName: S.published })
    .when(sfn.Condition.isPresent('$.publish.error'), publishFailed)
    .otherwise(completed);
  const anyFailed = new sfn.Choice(scope, 'AnyStreamFailed', { stateName: S.anyFailed })
    .when(sfn.Condition.numberGreaterThan('$.end.failed', 0), streamsFailed)
    .otherwise(published);
  // What the streams committed is published, whether or not another stream failed.
  const publish = states.publishTask(S.publish, 'RunPublishNotDone', S.publishNotDone);
  publish.notDone.next(anyFailed);

  const runState = new sfn.Choice(scope, 'CanTheRunStart', { stateName: S.runState })
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
