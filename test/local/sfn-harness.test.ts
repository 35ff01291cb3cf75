import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoDbServiceHandlers } from '../../local/sfn-dynamodb.ts';
import {
  CfnResolveError,
  type CfnTemplate,
  type ExecutionEvent,
  findLambdaFunctions,
  findStateMachines,
  findUnsupportedFeatures,
  IntegrationError,
  type LambdaHandler,
  resolveDefinition,
  runStateMachine,
  UnsupportedAslFeatureError,
} from '../../local/sfn-harness.ts';
import { type DynaliteHandle, startDynalite } from '../helpers/dynalite.ts';

interface Window {
  readonly id: string;
  readonly parts: number;
}

interface ExtractEvent {
  readonly window: Window;
  readonly index: number;
  readonly operator: string;
  readonly failWindow?: string;
  readonly part?: number;
  readonly rows?: number;
  readonly continuation?: unknown;
}

class WindowFailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Extract.WindowFailed';
  }
}

/**
 * A stack shaped like the connector's snapshot pipeline: plan windows, a Map over them (bounded
 * concurrency) whose iteration loops on a continuation until the window is done, a retried
 * progress record in DynamoDB, and a Fail whose cause is built with States.Format.
 */
function buildStack() {
  const app = new App();
  const stack = new Stack(app, 'HarnessTest', { env: { account: '111122223333', region: 'eu-west-1' } });
  const fn = (id: string) =>
    new lambda.Function(stack, id, {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => ({});'),
      timeout: Duration.seconds(30),
      environment: { OPERATOR: 'acme' },
    });
  const plan = fn('PlanWindows');
  const extract = fn('ExtractWindow');
  const record = fn('RecordProgress');
  const table = new dynamodb.Table(stack, 'SyncState', {
    partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
    sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
  });
  plan.addEnvironment('TABLE_NAME', table.tableName);

  // Direct function ARN as Resource: the handler's result is the task result.
  const planTask = new tasks.LambdaInvoke(stack, 'Plan', {
    lambdaFunction: plan,
    payloadResponseOnly: true,
    resultPath: '$.plan',
  });

  const extractTask = new tasks.LambdaInvoke(stack, 'Extract', { lambdaFunction: extract, outputPath: '$.Payload' });
  extractTask.addRetry({ errors: ['Extract.WindowFailed'], interval: Duration.seconds(20), maxAttempts: 2 });
  const windowFailed = new sfn.Fail(stack, 'WindowFailed', {
    errorPath: '$.error.Error',
    causePath: sfn.JsonPath.format(
      'window {} failed: {}',
      sfn.JsonPath.stringAt('$.window.id'),
      sfn.JsonPath.stringAt('$.error.Cause'),
    ),
  });
  extractTask.addCatch(windowFailed, { errors: ['States.ALL'], resultPath: '$.error' });
  const windowDone = new sfn.Pass(stack, 'WindowDone', {
    parameters: { 'window.$': '$.window.id', 'rows.$': '$.rows', 'parts.$': '$.part' },
  });
  const more = new sfn.Choice(stack, 'MoreParts')
    .when(sfn.Condition.isNotPresent('$.continuation'), windowDone)
    .otherwise(extractTask);
  const map = new sfn.Map(stack, 'Windows', {
    itemsPath: '$.plan.windows',
    maxConcurrency: 2,
    itemSelector: {
      'window.$': '$$.Map.Item.Value',
      'index.$': '$$.Map.Item.Index',
      'operator.$': '$.operator',
      'failWindow.$': '$.failWindow',
    },
    resultPath: '$.windows',
  });
  map.itemProcessor(extractTask.next(more));

  // lambda:invoke integration with a ResultSelector over the { Payload, StatusCode } envelope.
  const recordTask = new tasks.LambdaInvoke(stack, 'Record', {
    lambdaFunction: record,
    resultSelector: { 'recorded.$': '$.Payload.recorded', 'status.$': '$.StatusCode' },
    resultPath: '$.record',
  });
  recordTask.addRetry({ errors: ['SyncState.Conflict'], interval: Duration.seconds(30), maxAttempts: 1 });

  const put = new tasks.DynamoPutItem(stack, 'PutProgress', {
    table,
    item: {
      pk: tasks.DynamoAttributeValue.fromString(sfn.JsonPath.stringAt('$.operator')),
      sk: tasks.DynamoAttributeValue.fromString('snapshot'),
      windows: tasks.DynamoAttributeValue.numberFromString(
        sfn.JsonPath.format('{}', sfn.JsonPath.stringAt('$.record.recorded')),
      ),
    },
    resultPath: sfn.JsonPath.DISCARD,
  });
  const get = new tasks.DynamoGetItem(stack, 'GetProgress', {
    table,
    key: {
      pk: tasks.DynamoAttributeValue.fromString(sfn.JsonPath.stringAt('$.operator')),
      sk: tasks.DynamoAttributeValue.fromString('snapshot'),
    },
    resultSelector: { 'windows.$': '$.Item.windows.N' },
    resultPath: '$.stored',
  });

  new sfn.StateMachine(stack, 'Snapshot', {
    stateMachineName: 'acme-sandbox-snapshot',
    definitionBody: sfn.DefinitionBody.fromChainable(
      planTask.next(map).next(recordTask).next(put).next(get).next(new sfn.Succeed(stack, 'Done')),
    ),
  });

  const id = (f: lambda.Function) => stack.getLogicalId(f.node.defaultChild as lambda.CfnFunction);
  return {
    template: Template.fromStack(stack).toJSON() as CfnTemplate,
    ids: {
      plan: id(plan),
      extract: id(extract),
      record: id(record),
      table: stack.getLogicalId(table.node.defaultChild as dynamodb.CfnTable),
    },
  };
}

const windows: Window[] = [
  { id: 'w-1', parts: 1 },
  { id: 'w-2', parts: 3 },
  { id: 'w-3', parts: 2 },
];

let built: ReturnType<typeof buildStack>;
let dynamo: DynaliteHandle;
let tableName: string;

beforeAll(async () => {
  built = buildStack();
  dynamo = await startDynalite();
  tableName = await dynamo.createSyncStateTable();
});

afterAll(async () => {
  await dynamo?.stop();
});

/** Handlers of the test stack; `calls` counts invocations per function. */
function handlers(options: { recordFailsOnce?: string; throttleRecordOnce?: boolean } = {}) {
  const calls = { plan: 0, extract: 0, record: 0 };
  let active = 0;
  let maxActive = 0;
  const planHandler: LambdaHandler = async (event, context) => {
    calls.plan++;
    expect(context.functionName).toBe(built.ids.plan);
    return { windows, operator: (event as { operator: string }).operator };
  };
  const extractHandler: LambdaHandler = async (raw) => {
    calls.extract++;
    const event = raw as ExtractEvent;
    active++;
    maxActive = Math.max(maxActive, active);
    await new Promise((resolve) => setTimeout(resolve, 5));
    active--;
    if (event.window.id === event.failWindow) throw new WindowFailedError(`source timed out on ${event.window.id}`);
    const part = (event.part ?? 0) + 1;
    const rows = (event.rows ?? 0) + 10 * part;
    const { continuation: _, ...rest } = event;
    return part < event.window.parts
      ? { ...rest, part, rows, continuation: { lastKey: `${event.window.id}-${part}` } }
      : { ...rest, part, rows };
  };
  const recordHandler: LambdaHandler = async (raw) => {
    calls.record++;
    if (options.recordFailsOnce && calls.record === 1) {
      const error = new Error('watermark moved');
      error.name = options.recordFailsOnce;
      throw error;
    }
    if (options.throttleRecordOnce && calls.record === 1) {
      throw new IntegrationError('Lambda.ServiceException', 'Rate exceeded (Service: Lambda; Status Code: 500)');
    }
    return { recorded: (raw as { windows: unknown[] }).windows.length };
  };
  return {
    calls,
    maxActive: () => maxActive,
    lambdaHandlers: {
      [built.ids.plan]: planHandler,
      // Keyed by function ARN rather than logical id: both work.
      [`arn:aws:lambda:eu-west-1:111122223333:function:${built.ids.extract}`]: extractHandler,
      [built.ids.record]: { handler: recordHandler, timeoutSeconds: 30 },
    },
  };
}

function definition() {
  return resolveDefinition(built.template, (sm) => sm.name === 'acme-sandbox-snapshot', {
    region: 'eu-west-1',
    account: '111122223333',
    overrides: { [built.ids.table]: tableName },
  });
}

const entered = (events: readonly ExecutionEvent[], name: string) =>
  events.filter((e) => e.type === 'StateEntered' && e.state.name === name).length;

describe('resolveDefinition', () => {
  it('turns the synthesized DefinitionString into ASL with local ARNs and overridden names', () => {
    expect(findStateMachines(built.template)).toEqual([
      expect.objectContaining({ name: 'acme-sandbox-snapshot', logicalId: expect.stringMatching(/^Snapshot/) }),
    ]);
    const asl = definition() as { States: Record<string, Record<string, unknown>> };
    expect(asl.States['Plan']?.['Resource']).toBe(`arn:aws:lambda:eu-west-1:111122223333:function:${built.ids.plan}`);
    expect(asl.States['Record']?.['Resource']).toBe('arn:aws:states:::lambda:invoke');
    expect(asl.States['Record']?.['Parameters']).toMatchObject({
      FunctionName: `arn:aws:lambda:eu-west-1:111122223333:function:${built.ids.record}`,
    });
    expect(asl.States['PutProgress']?.['Parameters']).toMatchObject({ TableName: tableName });
  });

  it('resolves Fn::Sub in both forms, Fn::Select/Split, substitutions and pseudo parameters', () => {
    const template: CfnTemplate = {
      Parameters: { Stage: { Type: 'String', Default: 'sandbox' } },
      Resources: {
        Fn: { Type: 'AWS::Lambda::Function', Properties: { FunctionName: 'ignored-name' } },
        Live: { Type: 'AWS::Lambda::Alias', Properties: { FunctionName: { Ref: 'Fn' }, Name: 'live' } },
        Bucket: {
          Type: 'AWS::S3::Bucket',
          // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
          Properties: { BucketName: { 'Fn::Sub': 'landing-${Stage}-${AWS::AccountId}' } },
        },
        Machine: {
          Type: 'AWS::StepFunctions::StateMachine',
          Properties: {
            Tags: [{ Key: 'Name', Value: 'tagged' }],
            DefinitionString: {
              'Fn::Sub': [
                // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
                '{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"${FnArn}","Parameters":{"b":"${Bucket}","r":"${AWS::Region}","p":"${Part}","lit":"${!Keep}","s":"${!sub}","alias":"${Live}"},"End":true}}}',
                {
                  FnArn: { 'Fn::GetAtt': ['Fn', 'Arn'] },
                  Part: { 'Fn::Select': [1, { 'Fn::Split': ['/', 'a/b/c'] }] },
                },
              ],
            },
            DefinitionSubstitutions: { sub: { 'Fn::Join': ['-', [{ Ref: 'AWS::Partition' }, { Ref: 'Stage' }]] } },
          },
        },
      },
    };
    expect(findStateMachines(template)).toEqual([{ logicalId: 'Machine', name: 'tagged', tags: { Name: 'tagged' } }]);
    const asl = resolveDefinition(template, 'Machine', { account: '999988887777', region: 'ap-south-1' }) as {
      States: { A: { Resource: string; Parameters: Record<string, string> } };
    };
    expect(asl.States.A.Resource).toBe('arn:aws:lambda:ap-south-1:999988887777:function:Fn');
    expect(asl.States.A.Parameters).toEqual({
      b: 'landing-sandbox-999988887777',
      r: 'ap-south-1',
      p: 'b',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub syntax
      lit: '${Keep}',
      s: 'aws-sandbox',
      alias: 'arn:aws:lambda:ap-south-1:999988887777:function:Fn:live',
    });
  });

  it('names the unsupported intrinsic and where it is', () => {
    const template: CfnTemplate = {
      Resources: {
        M: {
          Type: 'AWS::StepFunctions::StateMachine',
          Properties: { DefinitionString: { 'Fn::Join': ['', ['{"x":"', { 'Fn::ImportValue': 'shared-arn' }, '"}']] } },
        },
      },
    };
    expect(() => resolveDefinition(template, 'M')).toThrow(CfnResolveError);
    expect(() => resolveDefinition(template, 'M')).toThrow(
      /Fn::ImportValue is not supported.*Resources\.M\.Properties\.DefinitionString/,
    );
    expect(() => resolveDefinition(template, 'Nope')).toThrow(
      /no state machines match logical id Nope; the template has: M \(M\)/,
    );
  });

  it('lists Lambda functions with resolved environments', () => {
    const plan = findLambdaFunctions(built.template, { overrides: { [built.ids.table]: 'local-table' } }).find(
      (f) => f.logicalId === built.ids.plan,
    );
    expect(plan).toMatchObject({ timeoutSeconds: 30, environment: { OPERATOR: 'acme', TABLE_NAME: 'local-table' } });
  });
});

describe('runStateMachine', () => {
  it('runs the Map with bounded concurrency and the continuation loop, then records progress in DynamoDB', async () => {
    const h = handlers();
    const started = Date.now();
    const run = await runStateMachine({
      definition: definition(),
      input: { operator: 'acme', failWindow: 'none' },
      lambdaHandlers: h.lambdaHandlers,
      serviceHandlers: dynamoDbServiceHandlers(dynamo.client),
      shortenWaits: true,
    });
    expect(run.error).toBeUndefined();
    expect(run.status).toBe('SUCCEEDED');
    const output = run.output as Record<string, unknown>;
    expect(output['windows']).toEqual([
      { window: 'w-1', rows: 10, parts: 1 },
      { window: 'w-2', rows: 60, parts: 3 },
      { window: 'w-3', rows: 30, parts: 2 },
    ]);
    expect(output['record']).toEqual({ recorded: 3, status: 200 });
    expect(output['stored']).toEqual({ windows: '3' });
    expect(h.calls).toEqual({ plan: 1, extract: 6, record: 1 });
    expect(h.maxActive()).toBeLessThanOrEqual(2);
    expect(entered(run.events, 'MoreParts')).toBe(6);
    const item = await dynamo.client.send(
      new GetItemCommand({ TableName: tableName, Key: { pk: { S: 'acme' }, sk: { S: 'snapshot' } } }),
    );
    expect(item.Item?.['windows']).toEqual({ N: '3' });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('retries a custom error name as many times as the definition says, without waiting 30 s', async () => {
    const h = handlers({ recordFailsOnce: 'SyncState.Conflict' });
    const started = Date.now();
    const run = await runStateMachine({
      definition: definition(),
      input: { operator: 'acme', failWindow: 'none' },
      lambdaHandlers: h.lambdaHandlers,
      serviceHandlers: dynamoDbServiceHandlers(dynamo.client),
      shortenWaits: true,
    });
    expect(run.status).toBe('SUCCEEDED');
    expect(h.calls.record).toBe(2);
    expect(run.events.filter((e) => e.type === 'StateRetried' && e.state.name === 'Record')).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('retries Lambda.ServiceException through the retrier CDK adds to LambdaInvoke', async () => {
    const h = handlers({ throttleRecordOnce: true });
    const run = await runStateMachine({
      definition: definition(),
      input: { operator: 'acme', failWindow: 'none' },
      lambdaHandlers: h.lambdaHandlers,
      serviceHandlers: dynamoDbServiceHandlers(dynamo.client),
      shortenWaits: true,
    });
    expect(run.status).toBe('SUCCEEDED');
    expect(h.calls.record).toBe(2);
    const failed = run.events.find((e) => e.type === 'StateFailed' && e.state.name === 'Record');
    expect(failed).toMatchObject({
      Error: 'Lambda.ServiceException',
      Cause: 'Rate exceeded (Service: Lambda; Status Code: 500)',
    });
  });

  it('fails a window that keeps failing with the Fail state Error and a States.Format Cause', async () => {
    const h = handlers();
    const run = await runStateMachine({
      definition: definition(),
      input: { operator: 'acme', failWindow: 'w-3' },
      lambdaHandlers: h.lambdaHandlers,
      serviceHandlers: dynamoDbServiceHandlers(dynamo.client),
      shortenWaits: true,
    });
    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('Extract.WindowFailed');
    const prefix = 'window w-3 failed: ';
    expect(run.cause?.startsWith(prefix)).toBe(true);
    const lambdaCause = JSON.parse(run.cause!.slice(prefix.length)) as Record<string, unknown>;
    expect(lambdaCause).toMatchObject({ errorType: 'Extract.WindowFailed', errorMessage: 'source timed out on w-3' });
    expect(lambdaCause['trace']).toEqual(expect.arrayContaining([expect.stringContaining('source timed out on w-3')]));
    // The first attempt plus MaxAttempts 2 retries on w-3.
    const w3Attempts = run.events.filter(
      (e) => e.type === 'StateFailed' && e.state.name === 'Extract' && JSON.stringify(e.state.input).includes('"w-3"'),
    );
    expect(w3Attempts).toHaveLength(3);
    expect(h.calls.record).toBe(0);
  });

  it('fails with States.DataLimitExceeded when a task returns more than 256 KiB', async () => {
    const h = handlers();
    const run = await runStateMachine({
      definition: definition(),
      input: { operator: 'acme' },
      lambdaHandlers: {
        ...h.lambdaHandlers,
        [built.ids.plan]: async () => ({ windows: [], blob: 'x'.repeat(300_000) }),
      },
    });
    expect(run).toMatchObject({ status: 'FAILED', error: 'States.DataLimitExceeded' });
    expect(run.cause).toContain("'Plan'");
  });

  it('fails with Harness.MissingHandler, uncaught, when a task has no handler', async () => {
    const run = await runStateMachine({ definition: definition(), input: { operator: 'acme' } });
    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('Harness.MissingHandler');
    expect(run.cause).toContain(built.ids.plan);
  });

  it('aborts on the caller signal', async () => {
    const controller = new AbortController();
    const run = await runStateMachine({
      definition: definition(),
      input: { operator: 'acme' },
      lambdaHandlers: {
        [built.ids.plan]: () => {
          setTimeout(() => controller.abort(), 0);
          return new Promise(() => undefined);
        },
      },
      signal: controller.signal,
    });
    expect(run.status).toBe('ABORTED');
    expect(run.events.at(-1)?.type).toBe('ExecutionAborted');
  });
});

describe('engine differences the harness corrects', () => {
  it('replaces the input on ResultPath "$", negates type tests, fills the context and surfaces SDK errors by name', async () => {
    const table = await dynamo.createSyncStateTable();
    const fnArn = 'arn:aws:lambda:us-east-1:123456789012:function:Echo';
    const asl = {
      StartAt: 'Echo',
      States: {
        Echo: {
          Type: 'Task',
          Resource: fnArn,
          Parameters: { 'execution.$': '$$.Execution.Id', 'machine.$': '$$.StateMachine.Name' },
          ResultPath: '$',
          Next: 'NotString',
        },
        NotString: {
          Type: 'Choice',
          Choices: [{ Variable: '$.remainingMs', IsString: false, Next: 'ClaimLock' }],
          Default: 'Unexpected',
        },
        Unexpected: { Type: 'Fail', Error: 'Unexpected' },
        ClaimLock: {
          Type: 'Task',
          Resource: 'arn:aws:states:::aws-sdk:dynamodb:putItem',
          Parameters: {
            TableName: table,
            Item: { pk: { S: 'lock' }, sk: { S: 'run' } },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
          ResultPath: null,
          Catch: [{ ErrorEquals: ['DynamoDb.ConditionalCheckFailedException'], ResultPath: '$.lock', Next: 'Locked' }],
          Next: 'ClaimLock',
        },
        Locked: { Type: 'Fail', Error: 'Locked' },
      },
    };
    const run = await runStateMachine({
      definition: asl,
      stateMachineName: 'acme-incremental',
      executionName: 'run-1',
      lambdaHandlers: {
        [fnArn]: {
          timeoutSeconds: 2,
          handler: (event, context) => ({ ...(event as object), remainingMs: context.getRemainingTimeInMillis() }),
        },
      },
      serviceHandlers: dynamoDbServiceHandlers(dynamo.client),
    });
    expect(run).toMatchObject({ status: 'FAILED', error: 'Locked' });
    // A Fail state without Cause reports none, as in AWS.
    expect(run.cause).toBeUndefined();
    const echoed = run.events.find((e) => e.type === 'StateExited' && e.state.name === 'Echo');
    const output = (echoed as { state: { output: Record<string, unknown> } }).state.output;
    expect(output).toMatchObject({
      execution: 'arn:aws:states:us-east-1:123456789012:execution:acme-incremental:run-1',
      machine: 'acme-incremental',
    });
    expect(output['remainingMs']).toBeGreaterThan(1_000);
    expect(output['remainingMs']).toBeLessThanOrEqual(2_000);
    expect(Object.keys(output)).not.toContain('$');
    const caught = run.events.find((e) => e.type === 'StateEntered' && e.state.name === 'Locked');
    expect(caught?.type === 'StateEntered' ? caught.state.input : undefined).toMatchObject({
      lock: { Error: 'DynamoDb.ConditionalCheckFailedException', Cause: expect.stringContaining('Error Code') },
    });
    expect(entered(run.events, 'ClaimLock')).toBe(2);
  });
});

describe('unsupported ASL features', () => {
  it('refuses a distributed Map reader and JSONata instead of running them differently', async () => {
    const asl = {
      StartAt: 'Files',
      States: {
        Files: {
          Type: 'Map',
          ItemReader: { Resource: 'arn:aws:states:::s3:listObjectsV2', Parameters: { Bucket: 'b' } },
          ItemProcessor: {
            ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
            StartAt: 'P',
            States: { P: { Type: 'Pass', QueryLanguage: 'JSONata', Output: '{% $states.input %}', End: true } },
          },
          End: true,
        },
      },
    };
    expect(findUnsupportedFeatures(asl)).toEqual([
      'state "Files": Map ItemReader (distributed Map)',
      'state "P": QueryLanguage JSONata',
      'state "P": Output',
    ]);
    await expect(runStateMachine({ definition: asl })).rejects.toThrow(UnsupportedAslFeatureError);
  });
});
