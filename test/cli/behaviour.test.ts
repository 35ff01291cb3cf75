/**
 * What every command line shares: --version, did-you-mean for commands, options and operators,
 * our own messages for bad options, --json errors, connection timeouts, the password scrubber in
 * `credentials set`, and the benchmark figure behind `check`'s estimate.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BENCH_RESULTS_FILE, benchThroughput, snapshotThroughput } from '../../cli/commands/check.ts';
import { runCli } from './run.ts';

describe('connector command line', () => {
  it('prints its version', async () => {
    const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`connector ${version} (node ${process.version})\n`);
    expect(JSON.parse((await runCli(['--version', '--json'])).out)).toEqual({ version, node: process.version });
  });

  it('suggests the command, option or operator meant', async () => {
    const command = await runCli(['stauts', 'acme-casino']);
    expect(command.code).toBe(2);
    expect(command.err).toContain('unknown command "stauts"; did you mean `connector status`?');

    const option = await runCli(['status', 'acme-casino', '--tabel', 'x']);
    expect(option.code).toBe(2);
    expect(option.err).toContain('status: unknown option --tabel; did you mean --table?');
    expect(option.err).not.toContain('To specify a positional argument');

    const missing = await runCli(['check', 'acme-casino', '--url']);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('check: option --url needs a value');
    const noValue = await runCli(['validate', '--json=yes']);
    expect(noValue.err).toContain('validate: option --json takes no value');

    const operator = await runCli(['grant-sql', 'acme-casnio']);
    expect(operator.code).toBe(2);
    expect(operator.err).toContain('no config for operator "acme-casnio"');
    expect(operator.err).toContain('did you mean acme-casino?');
  });

  it('prints a failure as one JSON object on stdout with --json, and the message on stderr', async () => {
    const r = await runCli(['status', 'nobody', '--json']);
    expect(r.code).toBe(2);
    const lines = r.out.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toEqual({
      ok: false,
      error: {
        command: 'status',
        exitCode: 2,
        name: 'UsageError',
        message: expect.stringContaining('no config for operator "nobody"'),
      },
    });
    expect(r.err).toContain('no config for operator "nobody"');
    const unknown = JSON.parse((await runCli(['frobnicate', '--json'])).out);
    expect(unknown.error.exitCode).toBe(2);
    expect((await runCli(['grant-sql', 'nobody'])).out).toBe('');
  });

  it('refuses a MySQL schema that is not the database the connector connects to', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-mysql-schema-'));
    const file = join(dir, 'royal-spins.yaml');
    writeFileSync(
      file,
      readFileSync('config/operators/royal-spins.yaml', 'utf8').replace(
        '  database: rs_backoffice\n',
        '  database: test\n  schema: rs_backoffice\n',
      ),
    );
    const r = await runCli(['validate', file]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('source.schema: on MySQL/MariaDB a schema is a database');
    expect(r.err).toContain('database: rs_backoffice');
    const same = join(dir, 'same.yaml');
    writeFileSync(
      same,
      readFileSync('config/operators/royal-spins.yaml', 'utf8').replace(
        '  database: rs_backoffice\n',
        '  database: rs_backoffice\n  schema: rs_backoffice\n',
      ),
    );
    expect((await runCli(['validate', same])).code).toBe(0);
  });

  it('bases the snapshot estimate on the benchmark figure recorded in bench/RESULTS.md', () => {
    const recorded = benchThroughput(readFileSync(BENCH_RESULTS_FILE, 'utf8'));
    expect(recorded).toBeDefined();
    expect(recorded!.rowsPerSecond).toBeGreaterThan(10_000);
    expect(recorded!.source).toContain('npm run bench');
    expect(snapshotThroughput()).toEqual(recorded);
    const table = [
      '## Latest run (code of 2030-01-01)',
      '',
      '| rows      | COPY rows/s | connector rows/s | ratio |',
      '| --------- | ----------- | ---------------- | ----- |',
      '| 2,000,000 | 500,000     | 123,456          | 0.25  |',
      '',
      '## Other',
      '| rows | connector rows/s |',
      '| 1 | 999 |',
    ].join('\n');
    expect(benchThroughput(table)).toEqual({
      rowsPerSecond: 123_456,
      source: 'measured by npm run bench (2,000,000 rows, one window, code of 2030-01-01) in bench/RESULTS.md',
    });
    expect(benchThroughput('# nothing recorded')).toBeUndefined();
    expect(snapshotThroughput(join(tmpdir(), 'no-such-results.md')).source).toMatch(/^default figure/);
  });
});

describe('connections', () => {
  // A server that accepts connections and never answers: what a black-holed database looks like.
  let silent: Server;
  let port = 0;
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    port = (silent.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('gives up after --timeout or the URL connect_timeout, and says so', async () => {
    for (const [engine, args] of [
      ['mysql', ['--url', `mysql://root@127.0.0.1:${port}/test`, '--timeout', '1']],
      ['postgres', ['--url', `postgres://postgres@127.0.0.1:${port}/test?connect_timeout=1`]],
    ] as const) {
      const r = await runCli(['discover', ...args]);
      expect(r.code, engine).toBe(3);
      expect(r.err, engine).toContain('no answer within 1 s');
    }
    const bad = await runCli(['discover', '--url', `mysql://root@127.0.0.1:${port}/test`, '--timeout', 'soon']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--timeout must be a whole number of seconds');
  }, 8_000);

  it('credentials set never mangles a message for a short password', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-scrub-'));
    const creds = { username: 'reader', password: 'o' };
    const r = await runCli(['credentials', 'set', 'acme-casino'], {
      stdin: JSON.stringify(creds),
      env: { CONNECTOR_ADAPTERS: 'local', CONNECTOR_LOCAL_SECRETS_FILE: join(dir, 'secrets.json') },
    });
    expect(r.code).toBe(3);
    // The connection comes from the config (the stdin host is ignored): unreachable here.
    expect(r.err).toContain('connecting to PostgreSQL at backoffice-replica.acme.internal:5432/backoffice');
    expect(r.err).toContain('Nothing was stored.');
    expect(r.err).not.toContain('***');
  });
});
