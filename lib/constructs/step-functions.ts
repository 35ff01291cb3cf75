/**
 * What every Step Functions state machine of the stack shares: the retry policy of its Lambda tasks
 * (the transient Lambda service errors, and the connector's retryable and timeout errors from
 * `contracts/errors`), and the statements it needs to deliver its logs and traces.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { RETRYABLE_ERRORS, TIMEOUT_ERRORS } from '#shared/contracts/errors';

/** Errors of the Lambda service itself that AWS recommends retrying on every Lambda task. */
export const LAMBDA_TRANSIENT_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.TooManyRequestsException',
] as const;

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

/**
 * The task state that runs the publish state machine to its end (`startExecution.sync:2`) and keeps
 * its status in `$.publish`, retrying the Step Functions errors that a later attempt can clear. It
 * is a CustomState's JSON because the `StepFunctionsStartExecution` task cannot select the status
 * alone. The incremental run and the key audit both publish through it.
 */
export function startPublishStateJson(
  scope: Construct,
  publishStateMachine: sfn.IStateMachine,
): Record<string, unknown> {
  return {
    Type: 'Task',
    Resource: `arn:${Stack.of(scope).partition}:states:::states:startExecution.sync:2`,
    Parameters: {
      StateMachineArn: publishStateMachine.stateMachineArn,
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
  };
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
