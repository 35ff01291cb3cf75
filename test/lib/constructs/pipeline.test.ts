import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CfnElement, Stack } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OperatorConfig } from '#shared/config/schema';
import { RETRYABLE_ERRORS } from '#shared/contracts/errors';
import { INCREMENTAL_STATES, Pipeline, SNAPSHOT_STATES } from '../../../lib/constructs/pipeline/index.ts';
import { LAMBDA_TRANSIENT_ERRORS } from '../../../lib/constructs/step-functions.ts';
import { applyCompliancePacks } from '../../../lib/nag.ts';
import { OperatorConnectorStack, operatorStackName } from '../../../lib/stacks/operator-connector-stack.ts';
import { type AslMachine, type CfnTemplate, resolveDefinition } from '../../../local/sfn-harness.ts';
import { exampleConfig, type SynthesizedStack, synthesize, testApp } from '../helpers.ts';

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON
type Json = any;

function logicalId(construct: IConstruct): string {
  return Stack.of(construct).getLogicalId((construct.node.defaultChild ?? construct) as CfnElement);
}

function pipelineOf(s: SynthesizedStack): Pipeline {
  if (!s.stack.pipeline) throw new Error('the stack has no pipeline');
  return s.stack.pipeline;
}

function definitionOf(s: SynthesizedStack, which: 'snapshot' | 'incremental'): AslMachine {
  const machine = which === 'snapshot' ? pipelineOf(s).snapshotStateMachine : pipelineOf(s).incrementalStateMachine;
  return resolveDefinition(s.template.toJSON() as CfnTemplate, logicalId(machine)) as AslMachine;
}

/** Every state at any depth (Map iterations included), by name. */
function allStates(machine: AslMachine): [string, Json][] {
  return Object.entries(machine.States).flatMap(([name, state]) => [
    [name, state] as [string, Json],
    ...(state['ItemProcessor'] ? allStates(state['ItemProcessor'] as AslMachine) : []),
  ]);
}

const lambdaTasks = (machine: AslMachine) =>
  allStates(machine).filter(([, s]) => s.Type === 'Task' && String(s.Resource).includes(':lambda:'));

function managedPolicyOf(template: Template, roleLogicalId: string): Json {
  const policies = Object.values(template.findResources('AWS::IAM::ManagedPolicy')).filter((p: Json) =>
    (p.Properties.Roles ?? []).some((r: Json) => r.Ref === roleLogicalId),
  );
  expect(policies).toHaveLength(1);
  return policies[0];
}

describe('Pipeline', () => {
  let acme: SynthesizedStack; // postgres, created network
  let royal: SynthesizedStack; // mysql, existing network
  let tuned: SynthesizedStack;
  let tunedConfig: OperatorConfig;
  beforeAll(() => {
    acme = synthesize(exampleConfig('acme-casino'));
    royal = synthesize(exampleConfig('royal-spins'));
    tunedConfig = exampleConfig('acme-casino', [
      [['snapshot', 'maxParallelWindows'], 3],
      [['snapshot', 'targetRowsPerWindow'], 2_000_000],
      [['incremental', 'schedule'], 'cron(0/10 * * * ? *)'],
    ]);
    tuned = synthesize(tunedConfig);
  });

  it('creates the two standard state machines, traced, logging ALL events without execution data to encrypted log groups', () => {
    for (const s of [acme, royal]) {
      const p = pipelineOf(s);
      const name = operatorStackName(s.stack.config);
      for (const [machine, logs, suffix] of [
        [p.snapshotStateMachine, p.snapshotLogGroup, 'snapshot'],
        [p.incrementalStateMachine, p.incrementalLogGroup, 'incremental'],
      ] as const) {
        const props = s.template.toJSON().Resources[logicalId(machine)].Properties;
        expect(props.StateMachineName).toBe(`${name}-${suffix}`);
        expect(props.StateMachineType).toBe('STANDARD');
        expect(props.TracingConfiguration).toEqual({ Enabled: true });
        expect(props.LoggingConfiguration).toEqual({
          Level: 'ALL',
          IncludeExecutionData: false,
          Destinations: [
            { CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [logicalId(logs.logGroup), 'Arn'] } } },
          ],
        });
        const group = s.template.toJSON().Resources[logicalId(logs.logGroup)].Properties;
        expect(group.LogGroupName).toBe(`${s.stack.landingZone.logGroupNamePrefix}${suffix}-state-machine`);
        expect(group.KmsKeyId).toEqual({ 'Fn::GetAtt': [logicalId(s.stack.landingZone.key), 'Arn'] });
        expect(group.RetentionInDays).toBe(s.stack.config.retention.logDays);
      }
    }
  });

  it('takes MaxConcurrency of the window and stream Maps from snapshot.maxParallelWindows', () => {
    expect(definitionOf(acme, 'snapshot').States[SNAPSHOT_STATES.windows]?.['MaxConcurrency']).toBe(2);
    expect(definitionOf(tuned, 'snapshot').States[SNAPSHOT_STATES.windows]?.['MaxConcurrency']).toBe(3);
    expect(definitionOf(tuned, 'incremental').States[INCREMENTAL_STATES.streams]?.['MaxConcurrency']).toBe(3);
  });

  it('has the expected state shapes: window loop on continuation, per-stream loop, lock release on every path', () => {
    const snapshot = definitionOf(acme, 'snapshot');
    expect(snapshot.StartAt).toBe(SNAPSHOT_STATES.plan);
    const windows = snapshot.States[SNAPSHOT_STATES.windows] as Json;
    expect(windows.ItemsPath).toBe('$.windows');
    expect(windows.ResultPath).toBe('$.results');
    expect(windows.ItemProcessor.StartAt).toBe(SNAPSHOT_STATES.extract);
    expect(windows.ItemProcessor.States[SNAPSHOT_STATES.continueWindow].Next).toBe(SNAPSHOT_STATES.extract);
    expect(windows.ItemProcessor.States[SNAPSHOT_STATES.extract].Catch[0]).toMatchObject({
      ErrorEquals: ['States.ALL'],
      Next: SNAPSHOT_STATES.windowFailed,
    });
    expect(windows.Catch[0].Next).toBe(SNAPSHOT_STATES.recordFailure);

    const incremental = definitionOf(acme, 'incremental');
    expect(incremental.StartAt).toBe(INCREMENTAL_STATES.begin);
    const streams = incremental.States[INCREMENTAL_STATES.streams] as Json;
    expect(streams.Next).toBe(INCREMENTAL_STATES.release);
    expect(streams.Catch[0].Next).toBe(INCREMENTAL_STATES.releaseAfterFailure);
    expect((incremental.States[INCREMENTAL_STATES.begin] as Json).Catch[0].Next).toBe(INCREMENTAL_STATES.beginFailed);
    expect(streams.ItemProcessor.States[INCREMENTAL_STATES.sync].Catch[0].Next).toBe(INCREMENTAL_STATES.streamFailed);
    expect(streams.ItemSelector).toEqual({
      'runId.$': '$.runId',
      'lockOwner.$': '$.owner',
      'stream.$': '$$.Map.Item.Value',
    });
  });

  it('retries the five transient Lambda errors and the retryable connector errors on every Lambda task, with full jitter', () => {
    for (const which of ['snapshot', 'incremental'] as const) {
      const tasks = lambdaTasks(definitionOf(acme, which));
      expect(tasks.length).toBeGreaterThanOrEqual(which === 'snapshot' ? 4 : 5);
      for (const [name, task] of tasks) {
        const lambdaRetry = task.Retry.find((r: Json) => r.ErrorEquals.includes('Lambda.TooManyRequestsException'));
        expect(lambdaRetry, name).toMatchObject({
          ErrorEquals: [...LAMBDA_TRANSIENT_ERRORS],
          JitterStrategy: 'FULL',
          BackoffRate: 2,
          MaxDelaySeconds: expect.any(Number),
        });
        const connectorRetry = task.Retry.find((r: Json) => r.ErrorEquals.includes('SourceConnectionError'));
        expect(connectorRetry, name).toMatchObject({ ErrorEquals: [...RETRYABLE_ERRORS], JitterStrategy: 'FULL' });
        expect(RETRYABLE_ERRORS).toContain('SinkError');
        // No retrier without jitter (CDK's default one is replaced).
        for (const r of task.Retry) expect(r.JitterStrategy, name).toBe('FULL');
        // Schema drift needs a config change: no retrier names it, so the first failure is caught.
        for (const r of task.Retry) {
          expect(r.ErrorEquals, name).not.toContain('SchemaDriftError');
          expect(r.ErrorEquals, name).not.toContain('States.ALL');
        }
      }
    }
  });

  it('ends every failure path in a Fail state whose cause names the operator', () => {
    for (const which of ['snapshot', 'incremental'] as const) {
      const fails = allStates(definitionOf(acme, which)).filter(([, s]) => s.Type === 'Fail');
      expect(fails.length).toBeGreaterThanOrEqual(3);
      for (const [name, fail] of fails) {
        expect(fail.Error ?? fail.ErrorPath, name).toBeDefined();
        expect(fail.CausePath, name).toMatch(/^States\.Format\('operator acme-casino \(sandbox\): /);
      }
    }
    const windowFailed = definitionOf(acme, 'snapshot').States[SNAPSHOT_STATES.failed] as Json;
    expect(windowFailed.CausePath).toBe(
      "States.Format('operator acme-casino (sandbox): snapshot {} failed: {}', $.snapshotId, $.finalize.summary)",
    );
  });

  it('starts incremental runs on the configured schedule, flexible window off, with retries and a dead-letter queue', () => {
    const p = pipelineOf(tuned);
    tuned.template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Name: 'acme-casino-sandbox-incremental',
      ScheduleExpression: 'cron(0/10 * * * ? *)',
      ScheduleExpressionTimezone: 'UTC',
      FlexibleTimeWindow: { Mode: 'OFF' },
      State: 'ENABLED',
      Target: {
        Arn: { Ref: logicalId(p.incrementalStateMachine) },
        RoleArn: { 'Fn::GetAtt': [logicalId(p.scheduleRole), 'Arn'] },
        RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 300 },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalId(p.scheduleDeadLetterQueue), 'Arn'] } },
      },
    });
    acme.template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'rate(15 minutes)' });
    tuned.template.hasResourceProperties('AWS::SQS::Queue', {
      KmsMasterKeyId: { 'Fn::GetAtt': [logicalId(tuned.stack.landingZone.key), 'Arn'] },
    });
  });

  it('lets the scheduler role start only the incremental state machine', () => {
    const p = pipelineOf(acme);
    const role = acme.template.toJSON().Resources[logicalId(p.scheduleRole)].Properties;
    expect(role.AssumeRolePolicyDocument.Statement).toEqual([
      expect.objectContaining({
        Principal: { Service: 'scheduler.amazonaws.com' },
        Condition: { StringEquals: { 'aws:SourceAccount': '111111111111' } },
      }),
    ]);
    expect(role.Policies).toBeUndefined();
    const statements = managedPolicyOf(acme.template, logicalId(p.scheduleRole)).Properties.PolicyDocument.Statement;
    const starts = statements.filter((s: Json) => [s.Action].flat().some((a: string) => a.startsWith('states:')));
    expect(starts).toEqual([
      { Action: 'states:StartExecution', Effect: 'Allow', Resource: { Ref: logicalId(p.incrementalStateMachine) } },
    ]);
    for (const s of statements) expect(s.Resource).not.toBe('*');
  });

  it('gives each state machine a role with one managed policy: invoke its own functions, logs delivery, X-Ray', () => {
    const p = pipelineOf(acme);
    const fnArn = (fn: { function: IConstruct }) => ({ 'Fn::GetAtt': [logicalId(fn.function), 'Arn'] });
    const extractors = acme.stack.extractors;
    if (!extractors) throw new Error('no extractors');
    for (const [machine, functions, startsItself] of [
      [p.snapshotStateMachine, [p.planSnapshot, extractors.extractWindow, p.finalizeSnapshot], true],
      [p.incrementalStateMachine, [p.runLock, extractors.incrementalSync], false],
    ] as const) {
      const roleId = acme.template.toJSON().Resources[logicalId(machine)].Properties.RoleArn['Fn::GetAtt'][0];
      expect(acme.template.toJSON().Resources[roleId].Properties.Policies).toBeUndefined();
      const statements = managedPolicyOf(acme.template, roleId).Properties.PolicyDocument.Statement as Json[];
      const invoke = statements.find((s) => s.Action === 'lambda:InvokeFunction');
      expect([invoke.Resource].flat()).toEqual(expect.arrayContaining(functions.map(fnArn)));
      expect([invoke.Resource].flat()).toHaveLength(functions.length);
      expect(statements).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Action: expect.arrayContaining(['logs:CreateLogDelivery', 'logs:PutResourcePolicy']),
          }),
          expect.objectContaining({ Action: expect.arrayContaining(['xray:PutTraceSegments']), Resource: '*' }),
        ]),
      );
      const starts = statements
        .filter((s) => s.Action === 'states:StartExecution')
        .flatMap((s) => (Array.isArray(s.Resource) ? (s.Resource as unknown[]) : [s.Resource]))
        .map((r) => JSON.stringify(r));
      // Both start (and wait for) the publish state machine; the snapshot also its own next execution.
      const publishMachine = logicalId(acme.stack.serving.publishStateMachine);
      expect(starts.filter((r) => r.includes(publishMachine))).toHaveLength(1);
      expect(starts.filter((r) => r.includes(':stateMachine:acme-casino-sandbox-snapshot'))).toHaveLength(
        startsItself ? 1 : 0,
      );
      expect(starts).toHaveLength(startsItself ? 2 : 1);
    }
  });

  it('creates no inline IAM policy: no AWS::IAM::Policy, and no pipeline role with inline Policies', () => {
    for (const s of [acme, royal, tuned]) {
      expect(Object.keys(s.template.findResources('AWS::IAM::Policy'))).toEqual([]);
      const roles = Object.entries(s.template.findResources('AWS::IAM::Role')).filter(([id]) =>
        id.startsWith('Pipeline'),
      );
      expect(roles.length).toBe(6); // 3 functions, 2 state machines, the schedule
      for (const [id, role] of roles as [string, Json][]) expect(role.Properties.Policies, id).toBeUndefined();
    }
  });

  it('runs the helper functions beside the extractors with the connector environment; the secret only for the plan step', () => {
    for (const handler of ['plan-snapshot', 'finalize-snapshot', 'run-lock']) {
      royal.template.hasResourceProperties('AWS::Lambda::Function', {
        Handler: `${handler}.handler`,
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        VpcConfig: { SubnetIds: Match.arrayWith([Match.stringLikeRegexp('^subnet-')]) },
        Environment: {
          Variables: Match.objectLike({
            CONNECTOR_OPERATOR_ID: 'royal-spins',
            CONNECTOR_STAGE: 'production',
            CONNECTOR_STATE_TABLE: { Ref: logicalId(royal.stack.syncState.table) },
            CONNECTOR_BUCKET: { Ref: logicalId(royal.stack.landingZone.bucket) },
            CONNECTOR_KMS_KEY_ARN: Match.anyValue(),
          }),
        },
      });
    }
    // plan-snapshot reads the source (NULL-cursor counts; row estimates when adaptive); finalize and run-lock never do.
    const envOf = (s: SynthesizedStack, fn: 'planSnapshot' | 'finalizeSnapshot' | 'runLock') =>
      s.template.toJSON().Resources[logicalId(pipelineOf(s)[fn].function)].Properties.Environment.Variables;
    for (const s of [acme, tuned]) {
      expect(envOf(s, 'planSnapshot').CONNECTOR_SECRET_ID).toEqual({
        Ref: logicalId(s.stack.sourceCredentials?.secret as IConstruct),
      });
      expect(envOf(s, 'finalizeSnapshot').CONNECTOR_SECRET_ID).toBeUndefined();
      expect(envOf(s, 'runLock').CONNECTOR_SECRET_ID).toBeUndefined();
    }
    const readsSecret = (s: SynthesizedStack, fn: 'planSnapshot' | 'finalizeSnapshot' | 'runLock') =>
      JSON.stringify(pipelineOf(s)[fn].policy.document.toJSON()).includes('secretsmanager:GetSecretValue');
    expect(readsSecret(acme, 'planSnapshot')).toBe(true);
    expect(readsSecret(tuned, 'planSnapshot')).toBe(true);
    expect(readsSecret(acme, 'finalizeSnapshot')).toBe(false);
    expect(readsSecret(acme, 'runLock')).toBe(false);
  });

  it('is not created for a file-drop operator, and refuses one', () => {
    const files = synthesize(exampleConfig('lucky-files'));
    expect(files.stack.pipeline).toBeUndefined();
    // The publish state machine only.
    expect(Object.keys(files.template.findResources('AWS::StepFunctions::StateMachine'))).toEqual([
      logicalId(files.stack.serving.publishStateMachine),
    ]);
    // Only the daily landing sweep and the publish of dropped files are scheduled.
    expect(
      Object.values(files.template.findResources('AWS::Scheduler::Schedule'))
        .map((r) => (r as { Properties: { Name: string } }).Properties.Name)
        .sort(),
    ).toEqual(['lucky-files-sandbox-publish', 'lucky-files-sandbox-sweep-landing']);
    const s = acme.stack;
    expect(
      () =>
        new Pipeline(s, 'FilePipeline', {
          config: exampleConfig('lucky-files'),
          bundle: s.bundle,
          landingZone: s.landingZone,
          syncState: s.syncState,
          sourceCredentials: s.sourceCredentials as never,
          network: s.network as never,
          extractors: s.extractors as never,
          publish: { stateMachine: s.serving.publishStateMachine, statements: [] },
        }),
    ).toThrow(/file-drop operators have no snapshot or incremental pipeline/);
  });
});

describe('Pipeline compliance', () => {
  const outdir = mkdtempSync(join(tmpdir(), 'connector-pipeline-nag-'));
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('has no unacknowledged finding, with adaptive planning (secret read) on', () => {
    const app = testApp({ outdir, context: { '@aws-cdk/core:appMode': 'inmemory' } });
    const packs = applyCompliancePacks(app);
    const config = exampleConfig('acme-casino', [[['snapshot', 'targetRowsPerWindow'], 2_000_000]]);
    new OperatorConnectorStack(app, operatorStackName(config), { config });
    const findings = packs.flatMap((pack) =>
      pack
        .validateScope(app)
        .violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`)),
    );
    expect(findings).toEqual([]);
  });
});
