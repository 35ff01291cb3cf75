import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { getField } from '#shared/canonical';
import { type ConfigError, loadOperatorConfigFiles } from '#shared/config/load';
import { lookbackChecks, mysqlScopeCovers } from '../../cli/commands/check.ts';
import { grantSql } from '../../cli/commands/grant-sql.ts';
import { stackNames } from '../../cli/operator.ts';
import { proposeValue } from '../../cli/proposal.ts';
import { STACK_OUTPUTS } from '../../cli/stack.ts';
import { glueDatabaseName } from '../../lib/constructs/data-catalog.ts';
import { operatorStackName } from '../../lib/stacks/operator-connector-stack.ts';
import { exampleConfig, synthesize } from '../lib/helpers.ts';
import { runCli } from './run.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'cli-'));

describe('connector (no engines)', () => {
  it('prints the command list, and exits 2 on an unknown command or option', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const c of [
      'validate',
      'grant-sql',
      'discover',
      'check',
      'credentials',
      'drop-instructions',
      'status',
      'snapshot',
      'replay',
    ]) {
      expect(help.out).toContain(`  ${c}`);
    }
    expect((await runCli(['frobnicate'])).code).toBe(2);
    const bad = await runCli(['grant-sql', 'acme-casino', '--colour']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('grant-sql: unknown option --colour');
    for (const c of [
      'validate',
      'grant-sql',
      'discover',
      'check',
      'status',
      'snapshot',
      'replay',
      'drop-instructions',
    ]) {
      const r = await runCli([c, '--help']);
      expect(r.code, c).toBe(0);
      expect(r.out, c).toMatch(/^Usage: connector /);
      expect(r.out, c).toContain('Exit codes:');
    }
  });

  it('validate accepts the example configs and prints the synth messages for a bad one', async () => {
    const ok = await runCli(['validate']);
    expect(ok.code).toBe(0);
    expect(ok.out).toContain('config/operators/acme-casino.yaml: acme-casino (sandbox)');

    const dir = tmp();
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      readFileSync('config/operators/acme-casino.yaml', 'utf8').replace('lookbackMinutes: 60', 'lookbackMinuts: 60'),
    );
    const bad = await runCli(['validate', file]);
    expect(bad.code).toBe(1);
    let expected = '';
    try {
      loadOperatorConfigFiles([file]);
    } catch (e) {
      expected = (e as ConfigError).message;
    }
    expect(expected).toContain('did you mean "lookbackMinutes"');
    expect(bad.err).toBe(`${expected}\n`);
    const json = JSON.parse((await runCli(['validate', file, '--json'])).out);
    expect(json.ok).toBe(false);
    expect(json.issues[0].path).toBe('incremental.lookbackMinuts');
  });

  it('names resources as the stack does', () => {
    const config = exampleConfig('acme-casino');
    const names = stackNames(config);
    expect(names.stack).toBe(operatorStackName(config));
    expect(names.glueDatabase).toBe(glueDatabaseName(config.operatorId, config.stage));
    expect(names.secret).toBe('connector/acme-casino-sandbox/source');
    expect(names.snapshotStateMachine).toBe('acme-casino-sandbox-snapshot');
    // The same template literals the constructs build the names from.
    const $ = '$';
    expect(readFileSync('lib/constructs/source-credentials.ts', 'utf8')).toContain(
      `this.secretName = \`connector/${$}{props.operatorId}-${$}{props.stage}/source\``,
    );
    expect(readFileSync('lib/constructs/pipeline/index.ts', 'utf8')).toContain(
      `const snapshotName = \`${$}{name}-snapshot\``,
    );
  });

  it('reads the stack outputs the stack defines', () => {
    const { template } = synthesize(exampleConfig('acme-casino'));
    const outputs = Object.keys(template.toJSON().Outputs ?? {});
    const sources = ['lib/stacks/operator-connector-stack.ts', 'lib/constructs/file-drop.ts']
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    for (const key of Object.values(STACK_OUTPUTS)) {
      expect(sources, key).toMatch(new RegExp(`new CfnOutput\\((this|stack), '${key}'`));
      if (!key.startsWith('FileDrop')) expect(outputs, key).toContain(key);
    }
  });

  it('grant-sql grants exactly the read columns, never a password, with limits from the config', async () => {
    const config = exampleConfig('acme-casino');
    const sql = grantSql(config);
    expect(sql).toContain(`CREATE ROLE "connector_ro" LOGIN PASSWORD :'password' CONNECTION LIMIT 4;`);
    expect(sql).toContain('ALTER ROLE "connector_ro" SET default_transaction_read_only = on;');
    expect(sql).toContain(`ALTER ROLE "connector_ro" SET statement_timeout = '300s';`);
    expect(sql).toContain('GRANT USAGE ON SCHEMA "casino" TO "connector_ro";');
    // Lets incremental runs see other sessions' open transactions (statistics only, no data).
    expect(sql).toContain('GRANT pg_read_all_stats TO "connector_ro";');
    const off = grantSql(exampleConfig('acme-casino', [[['incremental', 'holdBackForOpenTransactions'], false]]));
    expect(off).not.toContain('pg_read_all_stats');
    // birth_date is dropped by default: dob is never granted.
    expect(sql).not.toContain('"dob"');
    expect(sql).toMatch(/GRANT SELECT \("customer_id", "signup_ts", "modified_ts", .*\) ON TABLE "casino"."customers"/);
    expect(sql).toContain(
      '-- CREATE INDEX CONCURRENTLY "customers_modified_ts_customer_id_idx" ON "casino"."customers" ("modified_ts", "customer_id");',
    );
    expect(sql).not.toMatch(/GRANT (INSERT|UPDATE|DELETE|ALL)/);

    const my = grantSql(exampleConfig('royal-spins'));
    expect(my).toContain(`CREATE USER IF NOT EXISTS 'connector_ro'@'%' ACCOUNT LOCK;`);
    expect(my).toContain(`ALTER USER 'connector_ro'@'%' REQUIRE SSL WITH MAX_USER_CONNECTIONS 6;`);
    expect(my).not.toMatch(/IDENTIFIED BY '(?!<a strong password>)/);
    // Seeing new columns (schema drift) needs a table privilege: offered, commented out.
    expect(my).toContain("-- GRANT REFERENCES ON `rs_backoffice`.`cashier_payments` TO 'connector_ro'@'%';");
    expect(my).not.toMatch(/^GRANT REFERENCES/m);

    const cli = await runCli(['grant-sql', 'royal-spins', '--dialect', 'mysql', '--user', 'rs_reader']);
    expect(cli.code).toBe(0);
    expect(cli.out).toContain(`'rs_reader'@'%'`);
    expect((await runCli(['grant-sql', 'lucky-files'])).code).toBe(1);
    expect((await runCli(['grant-sql', 'nobody'])).err).toContain('known: acme-casino (sandbox)');
  });

  it('drop-instructions prints prefixes, columns and the command that fetches the bucket', async () => {
    const r = await runCli(['drop-instructions', 'lucky-files', '--offline']);
    expect(r.code).toBe(0);
    expect(r.out).toContain(
      `aws cloudformation describe-stacks --stack-name lucky-files-sandbox --region eu-west-1 --query "Stacks[0].Outputs[?OutputKey=='LandingBucketName'].OutputValue" --output text`,
    );
    expect(r.out).toContain('players → inbound/players/');
    expect(r.out).toContain('columns: PlayerID, Registered, LastModified');
    expect(r.out).toContain('aws s3 cp ./players-2025-01-31.csv "s3://$BUCKET/inbound/players/players-2025-01-31.csv"');
    expect((await runCli(['drop-instructions', 'acme-casino', '--offline'])).code).toBe(1);
  });

  it('matches operator values and MySQL grant scopes', () => {
    const status = getField('players', 'status')!;
    expect(proposeValue(status, 'BLOCKED')).toBe('suspended');
    expect(proposeValue(status, 'SELF_EXCL')).toBe('self_excluded');
    expect(proposeValue(status, 'weird')).toBe('unmapped');
    expect(mysqlScopeCovers('*.*', 'casino')).toBe(true);
    expect(mysqlScopeCovers('`casino`.*', 'casino')).toBe(true);
    expect(mysqlScopeCovers('`cas%`.*', 'casino')).toBe(true);
    expect(mysqlScopeCovers('`other`.`t`', 'casino')).toBe(false);
    expect(mysqlScopeCovers('`t\\_x`.*', 'tax')).toBe(false);
  });

  it('runs through `npx connector`', async () => {
    const { stdout } = await promisify(execFile)('npx', ['--no-install', 'connector', '--help'], { timeout: 30_000 });
    expect(stdout).toContain('Usage: connector <command>');
  });
});

describe('check: the lookback against the observed late arrivals', () => {
  const config = exampleConfig('acme-casino');
  const record = (maxSeconds: number) => ({
    runs: 4,
    rows: 2,
    maxSeconds,
    histogram: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0],
    lastRunId: 'incr-4',
    lastRows: 1,
    lastMaxSeconds: maxSeconds,
    lastAt: new Date(),
  });

  it('recommends twice the largest lateness, rounded up to 5 minutes, when the lookback is shorter', () => {
    const [payments, players] = lookbackChecks(config, { payments: record(2460), players: record(600) });
    expect(payments).toMatchObject({ name: 'lookback', stream: 'payments', status: 'warn' });
    expect(payments?.message).toContain('max lateness 41m 00s');
    expect(payments?.message).toContain('recommended 85');
    expect(payments?.suggestion).toBe('incremental:\n  lookbackMinutes: 85');
    // 10 minutes late: 20 minutes would do, but the naive cursor's zone repeats an hour (Europe/Malta).
    expect(players).toMatchObject({ status: 'ok' });
    expect(players?.message).toContain('recommended at least 60');
  });

  it('says why nothing was compared', () => {
    expect(lookbackChecks(config, 'sync state not read: no table')[0]?.message).toContain('sync state not read');
    expect(lookbackChecks(config, {})[0]?.message).toContain('no incremental run measured yet');
  });
});
