/**
 * The snapshot and incremental pipelines of a database operator: two Step Functions state machines
 * (standard workflows, X-Ray traced, every event logged without execution data to a KMS-encrypted
 * log group), the small Lambda tasks around the extractors (plan-snapshot, finalize-snapshot,
 * run-lock), and the EventBridge Scheduler schedule that starts incremental runs.
 *
 * One file per concern: `functions.ts` (the Lambda tasks), `states.ts` (the states both definitions
 * are built from), `snapshot-definition.ts` and `incremental-definition.ts` (what each state
 * machine does, step by step), `state-machine.ts` (role, policy, logs and traces of a state
 * machine), `incremental-schedule.ts`; this construct composes them. Every construct is a direct
 * child of Pipeline, created in the same order as ever, so the logical ids do not depend on the file.
 */
import { ArnFormat, type RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { OperatorConfig } from '#shared/config/schema';
import type { ConnectorFunction } from '../connector-function.ts';
import type { Extractors } from '../extractors.ts';
import type { LambdaBundle } from '../lambda-bundle.ts';
import type { LandingZone } from '../landing-zone.ts';
import { EncryptedLogGroup } from '../log-group.ts';
import type { Network } from '../network.ts';
import type { SourceCredentials } from '../source-credentials.ts';
import type { SyncState } from '../sync-state.ts';
import { pipelineFunctions } from './functions.ts';
import { incrementalDefinition } from './incremental-definition.ts';
import { incrementalSchedule } from './incremental-schedule.ts';
import { snapshotDefinition } from './snapshot-definition.ts';
import { pipelineStateMachine } from './state-machine.ts';
import { PipelineStates } from './states.ts';

export { INCREMENTAL_STATES } from './incremental-definition.ts';
export { SNAPSHOT_STATES } from './snapshot-definition.ts';

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
  constructor(scope: Construct, id: string, props: PipelineProps) {
    super(scope, id);
    const { config, landingZone, extractors } = props;
    if (config.source.type === 'files') {
      throw new Error(
        `Pipeline of ${config.operatorId}: file-drop operators have no snapshot or incremental pipeline; create it only for postgres or mysql sources`,
      );
    }
    const name = `${config.operatorId}-${config.stage}`;
    const removal = props.removalPolicy ? { removalPolicy: props.removalPolicy } : {};

    const functions = pipelineFunctions(this, props);
    this.planSnapshot = functions.planSnapshot;
    this.finalizeSnapshot = functions.finalizeSnapshot;
    this.runLock = functions.runLock;

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

    const states = new PipelineStates(
      this,
      `operator ${config.operatorId} (${config.stage})`,
      props.publish.stateMachine,
    );
    this.snapshotStateMachine = pipelineStateMachine(this, 'Snapshot', {
      stateMachineName: snapshotName,
      definition: snapshotDefinition(states, config, { ...functions, extractWindow: extractors.extractWindow }),
      logGroup: this.snapshotLogGroup,
      invokes: [this.planSnapshot, extractors.extractWindow, this.finalizeSnapshot],
      publishStateMachine: props.publish.stateMachine,
      // The next execution of a snapshot larger than one execution takes (`Start next execution`).
      extraStatements: [
        new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [arnOf(snapshotName)] }),
        ...props.publish.statements,
      ],
      description: `Snapshot of ${config.displayName} (${config.stage}): input {} (new), {"snapshotId": …} (resume) or {"from": …, "to": …, "streams": […]} (replay)`,
    });
    this.incrementalStateMachine = pipelineStateMachine(this, 'Incremental', {
      stateMachineName: incrementalName,
      definition: incrementalDefinition(states, config, { ...functions, incrementalSync: extractors.incrementalSync }),
      logGroup: this.incrementalLogGroup,
      invokes: [this.runLock, extractors.incrementalSync],
      publishStateMachine: props.publish.stateMachine,
      extraStatements: [...props.publish.statements],
      description: `Incremental sync of ${config.displayName} (${config.stage}), started by its schedule`,
    });

    const schedule = incrementalSchedule(this, {
      config,
      incrementalName,
      incrementalStateMachine: this.incrementalStateMachine,
      key: landingZone.key,
      ...(props.removalPolicy ? { removalPolicy: props.removalPolicy } : {}),
    });
    this.schedule = schedule.schedule;
    this.scheduleRole = schedule.role;
    this.scheduleDeadLetterQueue = schedule.deadLetterQueue;
  }
}
