/**
 * Runs the state machines of a synthesized connector stack on a laptop with aws-local-stepfunctions:
 * the definition is resolved from the CloudFormation template, every Lambda task is routed to an
 * in-process handler and every other service integration to a handler the caller registers, with
 * the input, output and error semantics of AWS Step Functions.
 *
 * ```ts
 * const template = Template.fromStack(stack).toJSON();
 * const definition = resolveDefinition(template, (sm) => sm.name.endsWith('snapshot'), {
 *   overrides: { [tableLogicalId]: tableNameInDynalite },
 * });
 * const run = await runStateMachine({
 *   definition,
 *   input: { operatorId: 'acme' },
 *   lambdaHandlers: { [planFnLogicalId]: planHandler, [extractFnLogicalId]: extractHandler },
 *   serviceHandlers: dynamoDbServiceHandlers(dynamoClient),
 *   shortenWaits: true,
 * });
 * if (run.status !== 'SUCCEEDED') throw new Error(`${run.error}: ${run.cause}`);
 * ```
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  type RunOptions,
  StateMachine,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';
import { type AslMachine, type AslState, prepareDefinition } from './asl-prepare.ts';

export {
  type AslMachine,
  type AslState,
  findUnsupportedFeatures,
  type PreparedDefinition,
  prepareDefinition,
  UnsupportedAslFeatureError,
} from './asl-prepare.ts';
export {
  CfnResolveError,
  CfnResolver,
  type CfnResource,
  type CfnTemplate,
  findLambdaFunctions,
  findStateMachines,
  type LambdaFunctionInfo,
  type ResolveOptions,
  type ResourceOverride,
  resolveDefinition,
  type StateMachineInfo,
  type StateMachineSelector,
} from './cfn-resolve.ts';

/** An in-process Lambda handler: receives the event and a Lambda context, as in AWS. */
export type LambdaHandler = (event: unknown, context: Context) => Promise<unknown> | unknown;

/** A Lambda handler with the settings its function has in the stack. */
export interface LambdaHandlerConfig {
  readonly handler: LambdaHandler;
  /**
   * The function's timeout: what `context.getRemainingTimeInMillis()` counts down from. It is not
   * enforced; a small value lets a test drive a handler's time-budget logic.
   * @default 900
   */
  readonly timeoutSeconds?: number;
  /**
   * `context.memoryLimitInMB`.
   * @default 128
   */
  readonly memoryMb?: number;
}

/** What a service-integration handler is told besides the resolved `Parameters`. */
export interface ServiceCallInfo {
  /** The Task's `Resource`, e.g. `arn:aws:states:::dynamodb:putItem`. */
  readonly resource: string;
  /** The Task state's name. */
  readonly stateName: string;
}

/**
 * Handles a service integration: receives the Task's resolved `Parameters` and returns the
 * integration's response. A thrown error surfaces as `Error` = its `name`, `Cause` = its `message`.
 */
export type ServiceHandler = (parameters: unknown, info: ServiceCallInfo) => Promise<unknown> | unknown;

/**
 * An error of the integration itself rather than of the function's code, e.g. a throttled Lambda
 * service (`Lambda.TooManyRequestsException`) or a failed DynamoDB condition. Thrown by a Lambda
 * handler, it surfaces as `Error` = `name` and `Cause` = `message` (a function's own error gets the
 * Lambda runtime's JSON cause instead).
 */
export class IntegrationError extends Error {
  constructor(name: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = name;
  }
}

/** An event of the execution log of aws-local-stepfunctions (`StateEntered`, `StateRetried`, …). */
export type ExecutionEvent = ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

/** Options of {@link runStateMachine}. */
export interface RunStateMachineOptions {
  /** The ASL definition, e.g. from `resolveDefinition`. */
  readonly definition: object;
  /**
   * The execution input.
   * @default {}
   */
  readonly input?: unknown;
  /**
   * Lambda handlers by Lambda logical id (the local function name), function name or function ARN.
   * @default none: a Lambda task fails with `Harness.MissingHandler`
   */
  readonly lambdaHandlers?: Readonly<Record<string, LambdaHandler | LambdaHandlerConfig>>;
  /**
   * Handlers of other service integrations by resource ARN (`arn:aws:states:::dynamodb:putItem`)
   * or by what follows `states:::` (`dynamodb:putItem`, `aws-sdk:s3:putObject`).
   * @default none: such a task fails with `Harness.MissingHandler`
   */
  readonly serviceHandlers?: Readonly<Record<string, ServiceHandler>>;
  /**
   * Pause this long between retries and in Wait states instead of what the definition says; the
   * number of attempts stays as defined. `true` means 0 ms for both.
   * @default false
   */
  readonly shortenWaits?: boolean | { readonly retryMs?: number; readonly waitMs?: number };
  /** Called with every event of the execution log, in order. */
  readonly onStateEvent?: (event: ExecutionEvent) => void;
  /** Aborts the execution; the result then has status `ABORTED`. */
  readonly signal?: AbortSignal;
  /**
   * `TimeoutSeconds` of Task states that set none (AWS has no default; the engine would use 60 s).
   * @default no practical limit
   */
  readonly taskTimeoutSeconds?: number;
  /**
   * Name of the state machine in the context object (`$$.StateMachine.Name`).
   * @default 'local'
   */
  readonly stateMachineName?: string;
  /**
   * Name of the execution in the context object (`$$.Execution.Name`).
   * @default a random UUID
   */
  readonly executionName?: string;
  /**
   * Region of the state machine and execution ARNs.
   * @default 'us-east-1'
   */
  readonly region?: string;
  /**
   * Account of the state machine and execution ARNs.
   * @default '123456789012'
   */
  readonly account?: string;
  /**
   * Fail the execution with `States.DataLimitExceeded` when a task result or a state output is
   * larger than 256 KiB, as AWS does.
   * @default true
   */
  readonly enforceDataLimit?: boolean;
}

/** The outcome of an execution. */
export interface StateMachineRunResult {
  readonly status: 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';
  /** The execution output, when it succeeded. */
  readonly output?: unknown;
  /** The error name of a failed execution (AWS `error`). */
  readonly error?: string;
  /** The cause of a failed execution (AWS `cause`). */
  readonly cause?: string;
  /** `arn:aws:states:<region>:<account>:execution:<stateMachineName>:<executionName>` */
  readonly executionArn: string;
  /** The execution log, including the states of Map iterations and Parallel branches. */
  readonly events: readonly ExecutionEvent[];
}

/** Step Functions' limit on the size of an execution input, a task result and a state output. */
export const STATE_DATA_LIMIT_BYTES = 256 * 1024;

/** An error surfaced to Retry and Catch with a given `Error` and `Cause`. */
class TaskFailure extends Error {
  constructor(name: string, cause: string) {
    super(cause);
    this.name = name;
  }
}

/** An error the definition cannot catch or retry: it fails the execution, as States.Runtime does. */
class TerminalFailure extends TaskFailure {
  readonly isRetryable = false;
  readonly isCatchable = false;
}

type LocalHandlers = NonNullable<NonNullable<RunOptions['overrides']>['taskResourceLocalHandlers']>;
type LocalHandler = LocalHandlers[string];
type JsonValue = Awaited<ReturnType<LocalHandler>>;

function jsonCopy(value: unknown): JsonValue {
  const text = JSON.stringify(value);
  return (text === undefined ? null : JSON.parse(text)) as JsonValue;
}

function byteSize(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? 'null');
}

/** The error a Lambda function's own failure surfaces as: the runtime's errorType and JSON cause. */
function functionError(thrown: unknown): TaskFailure {
  if (thrown instanceof IntegrationError) return new TaskFailure(thrown.name, thrown.message);
  const isError = thrown instanceof Error;
  const errorType = isError ? thrown.name : typeof thrown;
  const errorMessage = isError ? thrown.message : String(thrown);
  const trace = isError && thrown.stack ? thrown.stack.split('\n') : [];
  return new TaskFailure(errorType, JSON.stringify({ errorMessage, errorType, trace }));
}

function serviceError(thrown: unknown): TaskFailure {
  if (thrown instanceof Error) return new TaskFailure(thrown.name, thrown.message);
  return new TaskFailure('States.TaskFailed', String(thrown));
}

function httpMetadata(requestId: string, statusCode: number): Record<string, unknown> {
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'X-Amz-Executed-Version': '$LATEST',
    'x-amzn-RequestId': requestId,
  };
  return {
    SdkHttpMetadata: {
      AllHttpHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
      HttpHeaders: headers,
      HttpStatusCode: statusCode,
    },
    SdkResponseMetadata: { RequestId: requestId },
  };
}

const LAMBDA_INVOKE = /^arn:[\w-]+:states:::lambda:invoke$/;
const LAMBDA_ARN = /^arn:([\w-]+):lambda:([^:]*):([^:]*):function:([^:]+)(?::[^:]+)?$/;

interface RunEnv {
  readonly options: RunStateMachineOptions;
  readonly region: string;
  readonly account: string;
  readonly pending: Set<Promise<unknown>>;
}

function findLambda(env: RunEnv, stateName: string, functionName: string): { entry: LambdaHandlerConfig; arn: string } {
  const arnMatch = LAMBDA_ARN.exec(functionName);
  let name = functionName;
  let arn = `arn:aws:lambda:${env.region}:${env.account}:function:${functionName}`;
  if (arnMatch) {
    name = arnMatch[4]!;
    arn = functionName;
  } else if (functionName.includes('function:')) {
    name = functionName.slice(functionName.indexOf('function:') + 'function:'.length).split(':')[0]!;
  } else if (functionName.includes(':')) {
    name = functionName.split(':')[0]!;
  }
  const handlers = env.options.lambdaHandlers ?? {};
  const unqualifiedArn = arnMatch ? arn.split(':').slice(0, 7).join(':') : arn;
  const found = handlers[functionName] ?? handlers[unqualifiedArn] ?? handlers[name];
  if (!found) {
    throw new TerminalFailure(
      'Harness.MissingHandler',
      `Task state "${stateName}" invokes Lambda function ${functionName}, but lambdaHandlers has no entry for ` +
        `"${name}" (logical id), its ARN or its name; known: ${Object.keys(handlers).join(', ') || 'none'}`,
    );
  }
  return { entry: typeof found === 'function' ? { handler: found } : found, arn };
}

async function callFunction(env: RunEnv, stateName: string, functionName: string, event: unknown): Promise<unknown> {
  const { entry, arn } = findLambda(env, stateName, functionName);
  const name = arn.split(':')[6]!;
  const deadline = Date.now() + (entry.timeoutSeconds ?? 900) * 1000;
  const context: Context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: arn,
    memoryLimitInMB: String(entry.memoryMb ?? 128),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: `local/[$LATEST]${randomUUID().replaceAll('-', '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
  try {
    // The event crosses a JSON boundary, as in AWS: the handler cannot alter the state data.
    return jsonCopy(await entry.handler(jsonCopy(event ?? {}), context));
  } catch (thrown) {
    throw functionError(thrown);
  }
}

async function invokeLambdaIntegration(env: RunEnv, stateName: string, parameters: unknown): Promise<unknown> {
  const params = (parameters ?? {}) as Record<string, unknown>;
  const functionName = params['FunctionName'];
  if (typeof functionName !== 'string') {
    throw new TerminalFailure(
      'States.Runtime',
      `Task state "${stateName}": lambda:invoke needs Parameters.FunctionName`,
    );
  }
  const requestId = randomUUID();
  const invocationType = params['InvocationType'] ?? 'RequestResponse';
  if (invocationType === 'Event') {
    findLambda(env, stateName, functionName);
    const call = callFunction(env, stateName, functionName, params['Payload']).catch(() => undefined);
    env.pending.add(call);
    void call.finally(() => env.pending.delete(call));
    return { Payload: '', ...httpMetadata(requestId, 202), StatusCode: 202 };
  }
  if (invocationType === 'DryRun') {
    findLambda(env, stateName, functionName);
    return { Payload: '', ...httpMetadata(requestId, 204), StatusCode: 204 };
  }
  const payload = await callFunction(env, stateName, functionName, params['Payload']);
  return { ExecutedVersion: '$LATEST', Payload: payload, ...httpMetadata(requestId, 200), StatusCode: 200 };
}

async function callService(env: RunEnv, stateName: string, resource: string, parameters: unknown): Promise<unknown> {
  const handlers = env.options.serviceHandlers ?? {};
  const normalized = resource.replace(/^arn:[\w-]+:/, 'arn:aws:');
  const short = normalized.startsWith('arn:aws:states:::') ? normalized.slice('arn:aws:states:::'.length) : undefined;
  const handler = handlers[resource] ?? handlers[normalized] ?? (short === undefined ? undefined : handlers[short]);
  if (!handler) {
    throw new TerminalFailure(
      'Harness.MissingHandler',
      `Task state "${stateName}" uses ${resource}, but serviceHandlers has no entry for it; ` +
        `known: ${Object.keys(handlers).join(', ') || 'none'}`,
    );
  }
  try {
    return jsonCopy(await handler(jsonCopy(parameters), { resource, stateName }));
  } catch (thrown) {
    throw serviceError(thrown);
  }
}

async function runTask(env: RunEnv, stateName: string, state: AslState, input: unknown): Promise<JsonValue> {
  const resource = String(state['Resource']);
  let result: unknown;
  if (LAMBDA_INVOKE.test(resource)) result = await invokeLambdaIntegration(env, stateName, input);
  else if (LAMBDA_ARN.test(resource)) result = await callFunction(env, stateName, resource, input);
  else result = await callService(env, stateName, resource, input);
  if (env.options.enforceDataLimit !== false && byteSize(result) > STATE_DATA_LIMIT_BYTES) {
    throw new TerminalFailure(
      'States.DataLimitExceeded',
      `The state/task '${stateName}' returned a result with a size exceeding the maximum number of bytes service limit.`,
    );
  }
  return result as JsonValue;
}

/** The error and cause AWS reports for an execution that failed with `error`. */
function failureOf(error: unknown): { error?: string; cause?: string } {
  if (!(error instanceof Error)) return { error: 'States.Runtime', cause: String(error) };
  // A Fail state without Error or Cause: the engine fills in placeholders that AWS does not report.
  if (error.constructor.name === 'FailStateError') {
    return {
      ...(error.name === 'FailStateError' ? {} : { error: error.name }),
      ...(error.message === 'Execution failed because of a Fail state' ? {} : { cause: error.message }),
    };
  }
  return { error: error.name, cause: error.message };
}

/**
 * Executes a state machine definition locally and reports how it ended. Lambda tasks (both the
 * `arn:aws:states:::lambda:invoke` integration, whose result is `{ Payload, StatusCode, … }`, and a
 * function ARN as `Resource`) run the in-process handlers; other integrations run `serviceHandlers`.
 *
 * A handler's error surfaces to Retry and Catch as in AWS: a function error has `Error` = the
 * error's `name` and `Cause` = `{"errorMessage","errorType","trace"}` as JSON; an
 * {@link IntegrationError} or a service handler's error has `Error` = `name`, `Cause` = `message`.
 *
 * @throws UnsupportedAslFeatureError when the definition uses something the engine cannot run as AWS does.
 * @throws Error when the definition is invalid ASL or the input exceeds 256 KiB.
 */
export async function runStateMachine(options: RunStateMachineOptions): Promise<StateMachineRunResult> {
  const prepared = prepareDefinition(options.definition as AslMachine, {
    ...(options.taskTimeoutSeconds === undefined ? {} : { taskTimeoutSeconds: options.taskTimeoutSeconds }),
  });
  const machine = new StateMachine(prepared.definition as unknown as StateMachineDefinition);
  const input = options.input ?? {};
  const enforceDataLimit = options.enforceDataLimit !== false;
  if (enforceDataLimit && byteSize(input) > STATE_DATA_LIMIT_BYTES) {
    throw new Error(`the execution input is larger than ${STATE_DATA_LIMIT_BYTES} bytes; AWS rejects it`);
  }

  const region = options.region ?? 'us-east-1';
  const account = options.account ?? '123456789012';
  const stateMachineName = options.stateMachineName ?? 'local';
  const executionName = options.executionName ?? randomUUID();
  const executionArn = `arn:aws:states:${region}:${account}:execution:${stateMachineName}:${executionName}`;
  const env: RunEnv = { options, region, account, pending: new Set() };

  const taskResourceLocalHandlers: LocalHandlers = {};
  for (const [name, state] of prepared.taskStates) {
    taskResourceLocalHandlers[name] = (taskInput) => runTask(env, name, state, taskInput);
  }
  const overrides: NonNullable<RunOptions['overrides']> = { taskResourceLocalHandlers };
  if (options.shortenWaits) {
    const { retryMs = 0, waitMs = 0 } = options.shortenWaits === true ? {} : options.shortenWaits;
    overrides.retryIntervalOverrides = Object.fromEntries(prepared.retryStates.map((name) => [name, retryMs]));
    overrides.waitTimeOverrides = Object.fromEntries(prepared.waitStates.map((name) => [name, waitMs]));
  }

  const execution = machine.run(jsonCopy(input), {
    overrides,
    context: {
      Execution: {
        Id: executionArn,
        Name: executionName,
        RoleArn: `arn:aws:iam::${account}:role/${stateMachineName}-role`,
        RedriveCount: 0,
      },
      StateMachine: {
        Id: `arn:aws:states:${region}:${account}:stateMachine:${stateMachineName}`,
        Name: stateMachineName,
      },
    },
  });

  const events: ExecutionEvent[] = [];
  let dataLimitFailure: { error: string; cause: string } | undefined;
  const drained = (async () => {
    for await (const event of execution.eventLogs) {
      events.push(event);
      options.onStateEvent?.(event);
      if (
        enforceDataLimit &&
        !dataLimitFailure &&
        event.type === 'StateExited' &&
        byteSize(event.state.output) > STATE_DATA_LIMIT_BYTES
      ) {
        dataLimitFailure = {
          error: 'States.DataLimitExceeded',
          cause: `The state/task '${event.state.name}' returned a result with a size exceeding the maximum number of bytes service limit.`,
        };
        execution.abort();
      }
    }
  })();

  const abort = () => execution.abort();
  if (options.signal?.aborted) abort();
  options.signal?.addEventListener('abort', abort, { once: true });
  let outcome: Omit<StateMachineRunResult, 'events' | 'executionArn'>;
  try {
    outcome = { status: 'SUCCEEDED', output: await execution.result };
  } catch (error) {
    if (error instanceof ExecutionAbortedError) {
      outcome = dataLimitFailure ? { status: 'FAILED', ...dataLimitFailure } : { status: 'ABORTED' };
    } else if (error instanceof ExecutionTimeoutError) {
      outcome = { status: 'TIMED_OUT', error: 'States.Timeout' };
    } else if (error instanceof ExecutionError) {
      outcome = { status: 'FAILED', ...failureOf(error.cause) };
    } else {
      outcome = { status: 'FAILED', ...failureOf(error) };
    }
  } finally {
    options.signal?.removeEventListener('abort', abort);
  }
  await drained;
  // The limit can be crossed by the last state, after the engine already reported success.
  if (dataLimitFailure && outcome.status !== 'FAILED') outcome = { status: 'FAILED', ...dataLimitFailure };
  await Promise.allSettled([...env.pending]);
  return { ...outcome, executionArn, events };
}
