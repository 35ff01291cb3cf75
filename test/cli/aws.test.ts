/**
 * The commands that call AWS: credentials set (Secrets Manager, mocked: no local engine), snapshot
 * and replay (Step Functions, mocked), status (DynamoDB: dynalite).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand, type StackStatus } from '@aws-sdk/client-cloudformation';
import { GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { stringify } from 'yaml';
import { LATENESS_BUCKETS_SECONDS, latenessBucket } from '#shared/extract/lateness';
import { SyncStateStore } from '#shared/state/store';
import { syntheticOperatorConfig } from '../../synthetic/operator.ts';
import { credentialsFor, engineAvailable, PG_URL } from '../helpers/databases.ts';
import { type DynaliteHandle, startDynalite } from '../helpers/dynalite.ts';
import { runCli } from './run.ts';

const dir = mkdtempSync(join(tmpdir(), 'cli-aws-'));
const configFile = join(dir, 'operator.yaml');
const config = syntheticOperatorConfig({ engine: 'postgres', url: PG_URL, schema: 'casino', operatorId: 'cli-aws' });
writeFileSync(configFile, stringify({ ...config, account: '123456789012', region: 'eu-west-1' }));
/** The same operator with a port nothing listens on. */
const unreachableConfigFile = join(dir, 'unreachable.yaml');
writeFileSync(
  unreachableConfigFile,
  stringify({
    ...config,
    account: '123456789012',
    region: 'eu-west-1',
    source: { ...(config.source as Record<string, unknown>), port: 1 },
  }),
);

const sm = mockClient(SecretsManagerClient);
const sfn = mockClient(SFNClient);
const cfn = mockClient(CloudFormationClient);
const sts = mockClient(STSClient);
afterEach(() => {
  sm.reset();
  sfn.reset();
  cfn.reset();
  sts.reset();
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});
afterAll(() => {
  sm.restore();
  sfn.restore();
  cfn.restore();
  sts.restore();
});

const PASSWORD = 'Zq9-distinctive-P4ssw0rd-xyz';

/** Everything written to the process streams and the console during `fn`. */
async function captureProcessOutput<T>(fn: () => Promise<T>): Promise<{ result: T; text: string }> {
  let text = '';
  const grab = (chunk: unknown) => {
    text += String(chunk);
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(grab);
  vi.spyOn(process.stderr, 'write').mockImplementation(grab);
  for (const m of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, m).mockImplementation((...args: unknown[]) => {
      text += args.map(String).join(' ');
    });
  }
  try {
    return { result: await fn(), text };
  } finally {
    vi.restoreAllMocks();
  }
}

describe('check without AWS credentials', () => {
  it('says that AWS credentials are missing, not database credentials', async () => {
    sm.on(GetSecretValueCommand).rejects(
      Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }),
    );
    const r = await runCli(['check', 'cli-aws', '--config', configFile]);
    expect(r.code).toBe(4);
    expect(r.err).toContain('check: no AWS credentials found: they are needed to read the database credentials');
    expect(r.err).toContain('connector/cli-aws-sandbox/source (Secrets Manager, account 123456789012, eu-west-1)');
    expect(r.err).toContain('aws sso login');
    sm.reset();
    sm.on(GetSecretValueCommand).rejects(
      Object.assign(new Error("Secrets Manager can't find the specified secret."), {
        name: 'ResourceNotFoundException',
      }),
    );
    const missing = await runCli(['check', 'cli-aws', '--config', configFile]);
    expect(missing.code).toBe(4);
    expect(missing.err).toContain('the secret does not exist: deploy the stack (npx cdk deploy cli-aws-sandbox)');
  });
});

describe('credentials set', async () => {
  const pgAvailable = await engineAvailable('postgres');
  const { username } = credentialsFor('postgres');
  const creds = { username, password: PASSWORD };

  it.skipIf(!pgAvailable)('tests the connection, stores the secret, and never shows the password', async () => {
    sm.on(PutSecretValueCommand).resolves({ VersionId: 'v-1', Name: 'connector/cli-aws-sandbox/source' });
    const { result: r, text } = await captureProcessOutput(() =>
      runCli(['credentials', 'set', 'cli-aws', '--config', configFile], { stdin: JSON.stringify(creds) }),
    );
    expect(r.code).toBe(0);
    expect(r.out).toContain('in connector/cli-aws-sandbox/source (version v-1)');
    const calls = sm.commandCalls(PutSecretValueCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input.SecretId).toBe('connector/cli-aws-sandbox/source');
    // Only the user name and password: where to connect is the config's business.
    expect(JSON.parse(calls[0]!.args[0].input.SecretString!)).toEqual({ username, password: PASSWORD });
    for (const where of [r.out, r.err, text]) expect(where).not.toContain(PASSWORD);
  });

  it.skipIf(!pgAvailable)('stores only the user name and password of an RDS-style secret, with a warning', async () => {
    sm.on(PutSecretValueCommand).resolves({ VersionId: 'v-2' });
    const r = await runCli(['credentials', 'set', 'cli-aws', '--config', configFile], {
      stdin: JSON.stringify({ ...creds, engine: 'postgres', host: 'elsewhere.example.com', port: 5433 }),
    });
    expect(r.code).toBe(0);
    expect(r.err).toContain('warning: ignoring engine, host, port on stdin');
    const calls = sm.commandCalls(PutSecretValueCommand);
    expect(JSON.parse(calls[0]!.args[0].input.SecretString!)).toEqual({ username, password: PASSWORD });
  });

  it('refuses a tls mode weaker than the config asks for', async () => {
    const strict = join(dir, 'strict.yaml');
    writeFileSync(
      strict,
      stringify({
        ...config,
        account: '123456789012',
        region: 'eu-west-1',
        source: { ...(config.source as Record<string, unknown>), tls: 'require' },
      }),
    );
    const r = await runCli(['credentials', 'set', 'cli-aws', '--config', strict, '--no-check'], {
      stdin: JSON.stringify({ ...creds, tls: 'disable' }),
    });
    expect(r.code).toBe(1);
    expect(r.err).toContain('asks for tls: disable, weaker than source.tls: require in the operator config');
    expect(sm.commandCalls(PutSecretValueCommand)).toHaveLength(0);
  });

  it('refuses invalid credentials, a failed connection or a refused update without echoing them', async () => {
    sm.on(PutSecretValueCommand).rejects(
      Object.assign(new Error(`Secrets Manager can't find the specified secret ${PASSWORD}`), {
        name: 'ResourceNotFoundException',
      }),
    );
    const runs = await captureProcessOutput(async () => [
      await runCli(['credentials', 'set', 'cli-aws', '--config', configFile], {
        stdin: JSON.stringify({ ...creds, username: '' }),
      }),
      await runCli(['credentials', 'set', 'cli-aws', '--config', configFile], { stdin: `{"password":"${PASSWORD}"` }),
      await runCli(['credentials', 'set', 'cli-aws', '--config', unreachableConfigFile], {
        stdin: JSON.stringify(creds),
      }),
      await runCli(['credentials', 'set', 'cli-aws', '--config', configFile, '--no-check'], {
        stdin: JSON.stringify(creds),
      }),
      await runCli(['credentials', 'set', 'cli-aws', PASSWORD, '--config', configFile]),
    ]);
    const [shape, json, unreachable, refused, inArgs] = runs.result;
    expect(shape!.code).toBe(1);
    expect(shape!.err).toContain('username is invalid (expected a user name)');
    expect(json!.code).toBe(1);
    expect(json!.err).toContain('stdin is not valid JSON');
    expect(unreachable!.code).toBe(3);
    expect(unreachable!.err).toContain('Nothing was stored');
    expect(refused!.code).toBe(4);
    expect(refused!.err).toContain('deploy the stack first');
    expect(inArgs!.code).toBe(2);
    expect(inArgs!.err).toContain('read from stdin only');
    expect(sm.commandCalls(PutSecretValueCommand)).toHaveLength(1);
    for (const r of runs.result) {
      expect(r.out + r.err).not.toContain(PASSWORD);
    }
    expect(runs.text).not.toContain(PASSWORD);
  });
});

describe('snapshot and replay', () => {
  const arn = 'arn:aws:states:eu-west-1:123456789012:stateMachine:cli-aws-sandbox-snapshot';

  it('starts the snapshot state machine with {}, {snapshotId} or a replay range', async () => {
    sfn.on(StartExecutionCommand).resolves({
      executionArn: `${arn.replace(':stateMachine:', ':execution:')}:run-1`,
      startDate: new Date('2025-02-01T10:00:00Z'),
    });
    const snap = await runCli(['snapshot', 'cli-aws', '--config', configFile]);
    expect(snap.code).toBe(0);
    expect(snap.out).toContain(
      'Started arn:aws:states:eu-west-1:123456789012:execution:cli-aws-sandbox-snapshot:run-1',
    );
    const resume = await runCli([
      'snapshot',
      'cli-aws',
      '--config',
      configFile,
      '--resume',
      'snap-20250131T0600Z-1a2b3c4d',
    ]);
    expect(resume.code).toBe(0);
    const replay = await runCli([
      'replay',
      'cli-aws',
      '--config',
      configFile,
      '--stream',
      'payments',
      '--from',
      '2025-01-10',
      '--to',
      '2025-01-12T06:00:00Z',
      '--json',
    ]);
    expect(replay.code).toBe(0);
    expect(JSON.parse(replay.out).input).toEqual({
      from: '2025-01-10T00:00:00.000Z',
      to: '2025-01-12T06:00:00.000Z',
      streams: ['payments'],
    });
    const inputs = sfn.commandCalls(StartExecutionCommand).map((c) => c.args[0].input);
    expect(inputs.map((i) => i.stateMachineArn)).toEqual([arn, arn, arn]);
    expect(inputs.map((i) => JSON.parse(i.input!))).toEqual([
      {},
      { snapshotId: 'snap-20250131T0600Z-1a2b3c4d' },
      { from: '2025-01-10T00:00:00.000Z', to: '2025-01-12T06:00:00.000Z', streams: ['payments'] },
    ]);
  });

  it('refuses a bad replay and explains a missing state machine', async () => {
    const unknown = await runCli([
      'replay',
      'cli-aws',
      '--config',
      configFile,
      '--stream',
      'nope',
      '--from',
      '2025-01-01',
      '--to',
      '2025-01-02',
    ]);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('configured: players, sessions');
    const backwards = await runCli([
      'replay',
      'cli-aws',
      '--config',
      configFile,
      '--stream',
      'payments',
      '--from',
      '2025-01-02',
      '--to',
      '2025-01-01',
    ]);
    expect(backwards.code).toBe(2);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
    sfn
      .on(StartExecutionCommand)
      .rejects(Object.assign(new Error('State Machine Does Not Exist'), { name: 'StateMachineDoesNotExist' }));
    const missing = await runCli(['snapshot', 'cli-aws', '--config', configFile]);
    expect(missing.code).toBe(4);
    expect(missing.err).toContain('deploy the stack first');
  });
});

describe('status', () => {
  let dynamo: DynaliteHandle;
  let table: string;
  beforeAll(async () => {
    dynamo = await startDynalite();
    table = await dynamo.createSyncStateTable();
  });
  afterAll(async () => {
    await dynamo?.stop();
  });

  it('shows snapshot progress, watermarks, freshness and failures from the sync-state table', async () => {
    const env = { AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint };
    // The SDK takes its credentials from the process environment.
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'local');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'local');
    const empty = await runCli(['status', 'cli-aws', '--config', configFile, '--table', table], { env });
    expect(empty.err).toBe('');
    expect(empty.code).toBe(0);
    expect(empty.out).toContain('No snapshot yet');

    const store = new SyncStateStore(dynamo.doc, table);
    const h = (n: number) => new Date(Date.UTC(2025, 0, 1, n));
    await store.snapshots.start({
      snapshotId: 'snap-1',
      cutoff: h(48),
      streams: ['players', 'payments'],
      windows: [
        { stream: 'players', windowId: 'w1', from: h(0), to: h(24) },
        { stream: 'players', windowId: 'w2', from: h(24), to: h(48) },
        { stream: 'payments', windowId: 'w1', from: h(0), to: h(24) },
      ],
    });
    await store.snapshots.markWindowRunning('snap-1', 'players', 'w1');
    await store.snapshots.markWindowDone('snap-1', 'players', 'w1', { rows: 1200, bytes: 10, manifestKey: 'm' });
    await store.snapshots.markWindowRunning('snap-1', 'payments', 'w1');
    await store.snapshots.markWindowFailed('snap-1', 'payments', 'w1', {
      error: 'SourceTimeoutError: statement timeout',
    });
    await store.watermarks.advance('players', new Date(Date.now() - 10 * 60_000), 'incr-1', { rowCount: 42 });
    await store.watermarks.recordNullCursorRows('players', { rows: 3, runId: 'incr-1' });
    await store.watermarks.recordNullCursorRows('payments', { rows: 0, runId: 'snap-1' });
    // Two measured runs of payments: 3 late rows (≤ 5 min, ≤ 20 min, ≤ 45 min), the latest 41 min late.
    const bucketsOf = (...seconds: number[]) => {
      const h: number[] = new Array(LATENESS_BUCKETS_SECONDS.length + 1).fill(0);
      for (const x of seconds) h[latenessBucket(x)]! += 1;
      return h;
    };
    const histogram = bucketsOf(200, 1100);
    const later = bucketsOf(2460);
    await store.watermarks.recordLateness('payments', { runId: 'incr-1', rows: 2, maxSeconds: 1100, histogram });
    await store.watermarks.recordLateness('payments', { runId: 'incr-2', rows: 1, maxSeconds: 2460, histogram: later });
    // A retry of the same run counts nothing twice.
    expect(
      await store.watermarks.recordLateness('payments', {
        runId: 'incr-2',
        rows: 1,
        maxSeconds: 2460,
        histogram: later,
      }),
    ).toBe(false);
    await store.watermarks.recordHoldback('players', { runId: 'incr-1', heldBackSeconds: 192, visibility: 'own' });

    await store.watermarks.recordKeyAudit('players', {
      status: 'completed',
      runId: 'audit-1',
      at: h(49).toISOString(),
      sourceKeys: 1200,
      lakeKeys: 1201,
      bucketsCompared: 272,
      passes: 2,
      keysListed: 40,
      deletesDetected: 2,
      outOfScopeKeys: 0,
      missingKeys: 1,
      rowsRepaired: 1,
      pendingKeys: 0,
    });
    await store.watermarks.recordKeyAudit('payments', {
      status: 'failed',
      runId: 'audit-2',
      at: h(49).toISOString(),
      error: 'KeyAuditLimitError: too many differences',
    });

    const r = await runCli(['status', 'cli-aws', '--config', configFile, '--table', table], { env });
    expect(r.out).toContain(
      'payments: 3 row(s) over 2 measured run(s); lateness p50 ≤ 20m 00s, p90 ≤ 45m 00s, p99 ≤ 45m 00s, max 41m 00s (68% of the lookback) NEAR THE LOOKBACK: set incremental.lookbackMinutes to at least 85',
    );
    expect(r.out).toMatch(
      /players: range end held back 3m 12s behind an open transaction \(incr-1, \S+\); the connector user sees only its own sessions/,
    );
    expect(r.out).toMatch(
      /^ {2}players: \S+ \(audit-1\): 1,200 source keys vs 1,201 lake keys in 272 buckets, 2 deleted \(tombstoned\), 1 lost rows re-extracted LOST ROWS, 0 pending, 0 out of scope$/m,
    );
    expect(r.out).toMatch(
      /^ {2}payments: FAILED at \S+ \(audit-2\): KeyAuditLimitError: too many differences; see docs\/runbook.md#key-audit-failed$/m,
    );
    expect(r.code).toBe(1);
    expect(r.out).toContain('Snapshot snap-1: running, 1/3 windows done');
    expect(r.out).toMatch(/^players +1\/2 +1,200 +\S+ +10m 0\ds +120m +\S+ +42 +3 NOT LANDED$/m);
    expect(r.out).toMatch(/^payments .* 0$/m);
    expect(r.out).toMatch(/Rows with a NULL cursor are never landed \(players: 3, counted \S+ by incr-1\)/);
    expect(r.out).toContain('docs/runbook.md#null-cursor-rows');
    expect(r.out).toMatch(/^payments +0\/1 \(1 failed\)/m);
    expect(r.out).toContain('payments/w1 (attempt 1): SourceTimeoutError: statement timeout');
    expect(r.out).toContain('connector snapshot cli-aws --resume snap-1');

    const json = JSON.parse(
      (await runCli(['status', 'cli-aws', '--config', configFile, '--table', table, '--json'], { env })).out,
    );
    const players = json.streams.find((s: { stream: string }) => s.stream === 'players');
    expect(players).toMatchObject({
      snapshot: { done: 1, total: 2, rows: 1200 },
      lastRunId: 'incr-1',
      lastRowCount: 42,
      late: false,
      nullCursorRows: 3,
      nullCursorRunId: 'incr-1',
      nullCursorCountedAt: expect.any(String),
      keyAudit: { status: 'completed', runId: 'audit-1', deletesDetected: 2, rowsRepaired: 1 },
    });
    expect(json.streams.find((s: { stream: string }) => s.stream === 'payments')).toMatchObject({
      nullCursorRows: 0,
      lateness: { runs: 2, rows: 3, maxSeconds: 2460, p50: 1200, nearLookback: true, recommendedLookbackMinutes: 85 },
    });
    expect(json.failures).toHaveLength(1);

    // Without --table, the table comes from the stack's outputs.
    cfn.on(DescribeStacksCommand, { StackName: 'cli-aws-sandbox' }).resolves({
      Stacks: [
        {
          StackName: 'cli-aws-sandbox',
          StackStatus: 'UPDATE_COMPLETE',
          CreationTime: new Date(),
          Outputs: [{ OutputKey: 'SyncStateTableName', OutputValue: table }],
        },
      ],
    });
    const fromOutputs = await runCli(['status', 'cli-aws', '--config', configFile, '--json'], { env });
    expect(JSON.parse(fromOutputs.out).table).toBe(table);
    cfn.reset();
    cfn
      .on(DescribeStacksCommand)
      .rejects(Object.assign(new Error('Stack with id cli-aws-sandbox does not exist'), { name: 'ValidationError' }));
    const notDeployed = await runCli(['status', 'cli-aws', '--config', configFile], { env });
    expect(notDeployed.code).toBe(4);
    expect(notDeployed.err).toContain(
      'stack cli-aws-sandbox is not deployed in account 123456789012, region eu-west-1',
    );
    expect(notDeployed.err).toContain('npx cdk deploy cli-aws-sandbox');
  });

  it('refreshes with --watch until stopped', async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'local');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'local');
    const waits: number[] = [];
    const r = await runCli(
      ['status', 'cli-aws', '--config', configFile, '--table', table, '--watch', '--interval', '3'],
      {
        env: { AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint },
        sleep: async (ms) => {
          waits.push(ms);
          return waits.length < 3;
        },
      },
    );
    expect(waits).toEqual([3000, 3000, 3000]);
    expect(r.out.match(/Snapshot snap-1: running/g)).toHaveLength(3);
    expect(r.out).toContain('(refreshing every 3 s; Ctrl-C to stop)');
    const bad = await runCli(['status', 'cli-aws', '--config', configFile, '--table', table, '--interval', '3']);
    expect(bad.code).toBe(2);
  });
});

describe('doctor', () => {
  const stack = (name: string, status: StackStatus, outputs: Record<string, string>) => ({
    Stacks: [
      {
        StackName: name,
        StackStatus: status,
        CreationTime: new Date(),
        Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
      },
    ],
  });
  const missing = (name: string) =>
    Object.assign(new Error(`Stack with id ${name} does not exist`), { name: 'ValidationError' });

  it('checks the toolchain for real, and identity, bootstrap and stack through the AWS APIs', async () => {
    sts
      .on(GetCallerIdentityCommand)
      .resolves({ Account: '123456789012', Arn: 'arn:aws:sts::123456789012:assumed-role/ops/me' });
    cfn
      .on(DescribeStacksCommand, { StackName: 'CDKToolkit' })
      .resolves(stack('CDKToolkit', 'UPDATE_COMPLETE', { BootstrapVersion: '28' }));
    cfn.on(DescribeStacksCommand, { StackName: 'cli-aws-sandbox' }).resolves(
      stack('cli-aws-sandbox', 'CREATE_COMPLETE', {
        LandingBucketName: 'cli-aws-landing',
        SyncStateTableName: 'cli-aws-state',
      }),
    );
    const r = await runCli(['doctor', 'cli-aws', '--config', configFile]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^ok {4}node: Node\.js v2\d\./m);
    expect(r.out).toMatch(/^ok {4}dependencies: \d+ direct dependencies installed as package-lock\.json locks them$/m);
    expect(r.out).toContain(
      'ok    aws identity: arn:aws:sts::123456789012:assumed-role/ops/me in account 123456789012',
    );
    expect(r.out).toContain('ok    cdk bootstrap: CDKToolkit version 28 in eu-west-1');
    expect(r.out).toContain(
      'ok    stack: cli-aws-sandbox is CREATE_COMPLETE: bucket cli-aws-landing, sync state cli-aws-state',
    );
    expect(r.out).toMatch(/^ {2}LandingBucketName +cli-aws-landing$/m);
    expect(r.out).toContain('No problems found.');
  });

  it('says what to do for another account, missing credentials, no bootstrap and no stack', async () => {
    sts.on(GetCallerIdentityCommand).resolves({ Account: '999999999999', Arn: 'arn:aws:iam::999999999999:user/me' });
    const wrong = await runCli(['doctor', 'cli-aws', '--config', configFile, '--json']);
    expect(wrong.code).toBe(1);
    const report = JSON.parse(wrong.out) as {
      checks: { name: string; status: string; message: string; fix?: string }[];
    };
    const identity = report.checks.find((c) => c.name === 'aws identity')!;
    expect(identity.status).toBe('fail');
    expect(identity.message).toContain(
      'is in account 999999999999, but cli-aws (sandbox) deploys to account 123456789012',
    );
    expect(identity.fix).toContain('AWS_PROFILE');
    expect(cfn.commandCalls(DescribeStacksCommand)).toHaveLength(0);

    sts.reset();
    sts
      .on(GetCallerIdentityCommand)
      .rejects(Object.assign(new Error('Could not load credentials'), { name: 'CredentialsProviderError' }));
    const none = await runCli(['doctor', 'cli-aws', '--config', configFile]);
    expect(none.out).toContain('FAIL  aws identity: no AWS credentials found');
    expect(none.out).toContain('fix: log in to the operator account: `aws sso login');

    sts.reset();
    sts.on(GetCallerIdentityCommand).resolves({ Account: '123456789012', Arn: 'arn:aws:iam::123456789012:user/me' });
    cfn.on(DescribeStacksCommand, { StackName: 'CDKToolkit' }).rejects(missing('CDKToolkit'));
    cfn.on(DescribeStacksCommand, { StackName: 'cli-aws-sandbox' }).rejects(missing('cli-aws-sandbox'));
    const fresh = await runCli(['doctor', 'cli-aws', '--config', configFile]);
    expect(fresh.code).toBe(1);
    expect(fresh.out).toContain('FAIL  cdk bootstrap: account 123456789012 is not bootstrapped for CDK in eu-west-1');
    expect(fresh.out).toContain('fix: npx cdk bootstrap aws://123456789012/eu-west-1');
    expect(fresh.out).toContain('warn  stack: cli-aws-sandbox is not deployed yet in eu-west-1');
    expect(fresh.out).toContain('fix: npx cdk deploy cli-aws-sandbox');

    cfn.reset();
    cfn
      .on(DescribeStacksCommand, { StackName: 'CDKToolkit' })
      .resolves(stack('CDKToolkit', 'UPDATE_COMPLETE', { BootstrapVersion: '5' }));
    cfn
      .on(DescribeStacksCommand, { StackName: 'cli-aws-sandbox' })
      .resolves(stack('cli-aws-sandbox', 'UPDATE_ROLLBACK_COMPLETE', {}));
    const old = await runCli(['doctor', 'cli-aws', '--config', configFile]);
    expect(old.out).toContain(
      'FAIL  cdk bootstrap: the CDK bootstrap stack in eu-west-1 is version 5; deployments need 6 or newer',
    );
    expect(old.out).toContain('FAIL  stack: cli-aws-sandbox is UPDATE_ROLLBACK_COMPLETE');
    expect(old.out).toContain('describe-stack-events --stack-name cli-aws-sandbox');
  });
});

describe('drop-instructions', () => {
  it('reads the bucket and the upload role from the stack outputs', async () => {
    cfn.on(DescribeStacksCommand, { StackName: 'lucky-files-sandbox' }).resolves({
      Stacks: [
        {
          StackName: 'lucky-files-sandbox',
          StackStatus: 'CREATE_COMPLETE',
          CreationTime: new Date(),
          Outputs: [
            { OutputKey: 'LandingBucketName', OutputValue: 'lucky-files-landing-abc' },
            { OutputKey: 'FileDropUploadRoleArn', OutputValue: 'arn:aws:iam::333333333333:role/lucky-upload' },
            { OutputKey: 'FileDropExternalId', OutputValue: 'ext-123' },
          ],
        },
      ],
    });
    const r = await runCli(['drop-instructions', 'lucky-files']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('Bucket:  lucky-files-landing-abc');
    expect(r.out).toContain('  BUCKET=lucky-files-landing-abc');
    expect(r.out).not.toContain('describe-stacks');
    const json = JSON.parse((await runCli(['drop-instructions', 'lucky-files', '--json'])).out);
    expect(json).toMatchObject({ bucket: 'lucky-files-landing-abc', fromStack: true });
  });
});
