/**
 * The states both pipeline definitions are built from: a Lambda task with the connector's retry
 * policy, a Fail cause that names the operator, and the task that starts the publish state machine
 * and waits for it. Every state is created in the Pipeline construct (its construct id is a child
 * of it), whichever definition asks for it.
 */
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import type { ConnectorFunction } from '../connector-function.ts';
import { addLambdaRetries, startPublishStateJson } from '../step-functions.ts';

/** Makes the states of the pipeline definitions in `scope`. */
export class PipelineStates {
  /**
   * @param scope the Pipeline construct the states are created in
   * @param operator `operator <id> (<stage>)`, the start of every Fail cause
   * @param publishStateMachine the publish state machine both pipelines start when they end
   */
  constructor(
    public readonly scope: Construct,
    private readonly operator: string,
    private readonly publishStateMachine: sfn.IStateMachine,
  ) {}

  /** A Lambda task with the connector's retry policy, whose result is the function's response. */
  public invoke(id: string, stateName: string, fn: ConnectorFunction, props: Partial<tasks.LambdaInvokeProps> = {}) {
    const task = new tasks.LambdaInvoke(this.scope, id, {
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
  public format(text: string, ...paths: string[]): string {
    return sfn.JsonPath.format(`${this.operator}: ${text}`, ...paths.map((p) => sfn.JsonPath.stringAt(p)));
  }

  /**
   * Starts the publish state machine and waits for it (`startExecution.sync:2`). A publish that
   * fails is recorded under `$.publish.error` (with `failedState`'s Pass) instead of failing the run
   * at once: the run's own outcome is decided first, then the publish failure.
   */
  public publishTask(
    stateName: string,
    notDoneId: string,
    notDoneName: string,
  ): { readonly task: sfn.CustomState; readonly notDone: sfn.Pass } {
    const notDone = new sfn.Pass(this.scope, notDoneId, {
      stateName: notDoneName,
      parameters: {
        error: sfn.JsonPath.stringAt('$.publishError.Error'),
        cause: sfn.JsonPath.stringAt('$.publishError.Cause'),
      },
      resultPath: '$.publish',
    });
    const task = new sfn.CustomState(this.scope, stateName, {
      stateJson: startPublishStateJson(this.scope, this.publishStateMachine),
    });
    task.addCatch(notDone, { errors: ['States.ALL'], resultPath: '$.publishError' });
    return { task, notDone };
  }
}
