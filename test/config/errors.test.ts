import { describe, expect, it } from 'vitest';
import { formatIssues, parseOperatorConfig } from '#shared/config/load';
import { CREDENTIALS_HINT } from '#shared/config/validate';
import { edit, expectIssue, FILE, FILES, invalid, lineOf, PG } from './fixtures.ts';

describe('the fixtures', () => {
  it('are valid, so each case below fails for its own reason', () => {
    expect(parseOperatorConfig(PG, FILE).issues).toEqual([]);
    expect(parseOperatorConfig(FILES, FILE).issues).toEqual([]);
  });
});

describe('unknown keys', () => {
  it('suggests the top-level key a typo was meant to be, with an example of it', () => {
    const text = `${PG}snapsot:\n  days: 30\n`;
    const issue = expectIssue(text, {
      path: 'snapsot',
      line: lineOf(text, 'snapsot:'),
      message: ['"snapsot" is not a top-level key', 'did you mean "snapshot"?'],
      expected: 'one of the keys operatorId, displayName',
      example: ['snapshot:\n  days: 90'],
    });
    expect(issue.example).toContain('maxParallelWindows: 2');
  });

  it('suggests nested keys and nests the example under the parent key', () => {
    const text = `${PG}incremental:\n  schedule: rate(15 minutes)\n  lookbackMinuts: 30\n`;
    const issue = expectIssue(text, {
      path: 'incremental.lookbackMinuts',
      line: lineOf(text, 'lookbackMinuts'),
      message: ['did you mean "lookbackMinutes"?'],
      expected: 'schedule, lookbackMinutes, safetyLagSeconds',
    });
    expect(issue.example).toBe('incremental:\n  lookbackMinutes: 60');
  });

  it('suggests keys inside a stream', () => {
    const text = edit(PG, '    table: payments', '    tabel: payments');
    expectIssue(text, {
      path: 'streams.payments.tabel',
      line: lineOf(text, 'tabel:'),
      message: ['did you mean "table"?'],
      expected: 'table, schema, cursor, cursorType, columns',
      example: ['streams:\n  payments:\n    table: tx_payments'],
    });
  });

  it('suggests keys of the network variant in use, and only those', () => {
    const text = edit(PG, '    mode: created', '    mode: created\n    cdir: 10.0.0.0/16');
    const issue = expectIssue(text, {
      path: 'source.network.cdir',
      line: lineOf(text, 'cdir:'),
      message: ['did you mean "cidr"?'],
      expected: 'one of the keys mode, cidr, maxAzs',
      example: ['source:\n  network:\n    cidr: 10.40.0.0/16'],
    });
    expect(issue.expected).not.toContain('vpcId');
  });

  it('says when a key belongs to another variant', () => {
    const text = edit(PG, '  type: postgres', '  type: files');
    const { issues } = invalid(text);
    const host = issues.find((i) => i.path === 'source.host');
    expect(host?.message).toBe('"host" only applies when type is postgres or mysql');
    expect(host?.line).toBe(lineOf(text, 'host:'));
  });

  it('reports a misspelt required key once, as the typo', () => {
    const text = edit(PG, 'amount: amount', 'amount: { colum: amount }');
    const { issues } = invalid(text);
    expect(issues).toHaveLength(1);
    expectIssue(text, {
      path: 'streams.payments.columns.amount.colum',
      line: lineOf(text, 'colum:'),
      message: ['did you mean "column"?'],
      example: ['      amount:\n        column: txn_amount'],
    });
  });

  it('names an unknown stream and suggests the canonical one', () => {
    const text = edit(PG, '  payments:', '  payements:');
    expectIssue(text, {
      path: 'streams.payements',
      line: lineOf(text, 'payements:'),
      message: ['"payements" is not a canonical stream', 'did you mean "payments"?'],
      expected: 'players, sessions, payments, wallet_transactions, game_rounds, bonuses, compliance_events',
      example: ['streams:\n  payments:\n    table: payments\n    columns:\n      payment_id: payment_id'],
    });
  });

  it('names an unknown canonical field and suggests the right one, keeping the mapped column', () => {
    const text = edit(PG, 'amount: amount', 'amout: amount');
    expectIssue(text, {
      path: 'streams.payments.columns.amout',
      line: lineOf(text, 'amout:'),
      message: ['"amout" is not a field of the canonical payments stream', 'did you mean "amount"?'],
      expected: 'payment_id, player_id, direction, method, amount',
      example: ['streams:\n  payments:\n    columns:\n      amount: amount'],
    });
  });

  it('names an unknown canonical value in a values map', () => {
    const text = edit(PG, 'OK: approved', 'OK: aproved');
    expectIssue(text, {
      path: 'streams.payments.columns.status.values.OK',
      line: lineOf(text, 'OK: aproved'),
      message: ['"aproved" is not a canonical value of payments.status', 'did you mean "approved"?'],
      expected: 'pending, approved, declined, cancelled, refunded, chargeback, unmapped',
      example: ['      status:\n        values:\n          OK: approved'],
    });
  });
});

describe('required keys and scalar values', () => {
  it('reports a missing required key at the nearest line present', () => {
    const text = edit(PG, 'region: eu-west-1\n', '');
    expectIssue(text, {
      path: 'region',
      line: 1,
      message: ['required key "region" is missing'],
      expected: 'an AWS region code like eu-west-1',
      example: ['region: eu-west-1'],
    });
  });

  it('explains that an unquoted account id is read as a number', () => {
    const text = edit(PG, 'account: "123456789012"', 'account: 123456789012');
    expectIssue(text, {
      path: 'account',
      line: 4,
      message: ['got the number 123456789012', 'put the value in quotes'],
      expected: '12-digit AWS account id',
      example: ['account: "123456789012"'],
    });
  });

  it('refuses an account id of 11 digits', () => {
    expectIssue(edit(PG, '"123456789012"', '"12345678901"'), {
      path: 'account',
      line: 4,
      message: ['"12345678901" is not valid'],
      expected: 'a 12-digit AWS account id, quoted in YAML',
      example: ['account: "123456789012"'],
    });
  });

  it('refuses an invalid region', () => {
    expectIssue(edit(PG, 'region: eu-west-1', 'region: europe-west1'), {
      path: 'region',
      line: 5,
      message: ['"europe-west1" is not valid'],
      expected: 'an AWS region code like eu-west-1',
      example: ['region: eu-west-1'],
    });
  });

  it('suggests the stage an abbreviation stands for', () => {
    expectIssue(edit(PG, 'stage: production', 'stage: prod'), {
      path: 'stage',
      line: 3,
      message: ['"prod" is not allowed here', 'did you mean "production"?'],
      expected: 'sandbox or production',
      example: ['stage: production'],
    });
  });

  it('refuses an unsupported source type with the supported ones and a full example', () => {
    const text = edit(PG, 'type: postgres', 'type: postgresql');
    expectIssue(text, {
      path: 'source.type',
      line: lineOf(text, 'type: postgresql'),
      message: ['"postgresql" is not a supported type', 'did you mean "postgres"?'],
      expected: 'one of postgres, mysql, files',
      example: ['source:\n  type: postgres\n  host: casino-db.internal.example.com\n  database: casino'],
    });
    expectIssue(edit(PG, 'type: postgres', 'type: oracle'), {
      path: 'source.type',
      message: ['"oracle" is not a supported type'],
      expected: 'one of postgres, mysql, files',
    });
  });

  it('reports a missing source type at the source line', () => {
    const text = edit(PG, '  type: postgres\n', '');
    expectIssue(text, {
      path: 'source.type',
      line: lineOf(text, 'source:'),
      message: ['required key "type" is missing'],
      expected: 'postgres, mysql, files',
    });
  });

  it('refuses a mapping where the type is wrong, saying what the value is', () => {
    const text = edit(PG, 'amount: amount', 'amount: 5');
    expectIssue(text, {
      path: 'streams.payments.columns.amount',
      line: lineOf(text, 'amount: 5'),
      message: ['got the number 5'],
      expected: 'a source column name, or a mapping with `column`',
      example: ['      amount: txn_amount'],
    });
  });

  it('lists the allowed log retention values', () => {
    const text = `${PG}retention:\n  logDays: 42\n`;
    expectIssue(text, {
      path: 'retention.logDays',
      line: lineOf(text, 'logDays'),
      message: ['the number 42 is not allowed here'],
      expected: 'one of 1, 3, 5, 7, 14, 30',
      example: ['retention:\n  logDays: 365'],
    });
  });

  it('refuses an invalid time zone', () => {
    const text = edit(PG, '  database: casino', '  database: casino\n  timeZone: Mars/Olympus');
    expectIssue(text, {
      path: 'source.timeZone',
      line: lineOf(text, 'timeZone'),
      message: ['"Mars/Olympus" is not valid'],
      expected: 'an IANA time zone name',
      example: ['source:\n  timeZone: Europe/Malta'],
    });
  });

  it('refuses a key comparison that leaves a setting out or misspells one, saying what each means', () => {
    const partial = edit(PG, '  database: casino', '  database: casino\n  keyComparison:\n    caseInsensitive: true');
    expectIssue(partial, {
      path: 'source.keyComparison.padSpace',
      line: lineOf(partial, 'keyComparison'),
      message: ['required'],
      expected: 'true or false',
      example: ['padSpace: false'],
    });
    const typo = edit(
      PG,
      '  database: casino',
      '  database: casino\n  keyComparison:\n    caseInsensitive: yes\n    padSpaces: true',
    );
    const { issues } = invalid(typo);
    expect(issues.find((i) => i.path === 'source.keyComparison.caseInsensitive')?.message).toMatch(
      /boolean|true or false/,
    );
    expect(issues.find((i) => i.path.startsWith('source.keyComparison.padSpaces'))?.message).toContain('padSpace');
  });

  it('refuses an invalid e-mail address, with a list example', () => {
    const text = `${PG}alerts:\n  emails:\n    - oncall@example.com\n    - not-an-email\n`;
    expectIssue(text, {
      path: 'alerts.emails[1]',
      line: lineOf(text, 'not-an-email'),
      message: ['"not-an-email" is not valid'],
      expected: 'an e-mail address',
      example: ['alerts:\n  emails:\n    - oncall@example.com'],
    });
  });

  it('refuses a file-drop principal that is not an IAM ARN', () => {
    const text = edit(
      FILES,
      '    - arn:aws:iam::210987654321:role/casino-data-export',
      '    - arn:aws:s3:::drop-bucket',
    );
    expectIssue(text, {
      path: 'fileDrop.principals[0]',
      line: lineOf(text, 'arn:aws:s3'),
      message: ['"arn:aws:s3:::drop-bucket" is not valid'],
      expected: 'an IAM role, user or account root ARN',
      example: ['fileDrop:\n  principals:\n    - arn:aws:iam::210987654321:role/casino-data-export'],
    });
  });
});

describe('schedules and ranges', () => {
  it.each([
    ['rate(2 minute)', 'use the plural unit for 2: rate(2 minutes)'],
    ['cron(* * * *)', 'a cron expression has 6 fields'],
    ['every 5 minutes', 'expected rate(<n> <minutes|hours|days>) or cron(<6 fields>)'],
    ['rate(1 minute)', 'at most every 5 minutes'],
    ['rate(2 days)', 'at least once a day'],
    ['cron(0 12 * * * *)', 'exactly one of day-of-month and day-of-week must be "?"'],
    ['cron(99 * * * ? *)', 'minutes: 99 is out of range (0-59)'],
    ['cron(0 25 * * ? *)', 'hours: 25 is out of range (0-23)'],
    ['cron(* * * * ? *)', 'runs 1 minute apart at times; incremental syncs run at most every 5 minutes'],
  ])('refuses the schedule %s', (schedule, reason) => {
    const text = `${PG}incremental:\n  schedule: ${schedule}\n`;
    expectIssue(text, {
      path: 'incremental.schedule',
      line: lineOf(text, 'schedule:'),
      message: [`invalid schedule "${schedule}"`, reason],
      expected: 'between 5 minutes and 1 day',
      example: ['incremental:\n  schedule: rate(15 minutes)'],
    });
  });

  it('refuses too many parallel windows, with the allowed range and the default as example', () => {
    const text = `${PG}snapshot:\n  maxParallelWindows: 100\n`;
    expectIssue(text, {
      path: 'snapshot.maxParallelWindows',
      line: lineOf(text, 'maxParallelWindows'),
      message: ['the number 100 is too large (maximum 16)'],
      expected: 'an integer from 1 to 16',
      example: ['snapshot:\n  maxParallelWindows: 2'],
    });
  });

  it.each([
    ['-5', 'the number -5 is too small (minimum 0)'],
    ['5000', 'the number 5000 is too large (maximum 1440)'],
    ['2.5', '2.5 is not a whole number'],
  ])('refuses lookbackMinutes: %s', (value, message) => {
    const text = `${PG}incremental:\n  lookbackMinutes: ${value}\n`;
    expectIssue(text, {
      path: 'incremental.lookbackMinutes',
      line: lineOf(text, 'lookbackMinutes'),
      message: [message],
      expected: 'an integer from 0 to 1440',
      example: ['incremental:\n  lookbackMinutes: 60'],
    });
  });
});

describe('SQL identifiers', () => {
  it.each([
    ['a table', '    table: payments', '    table: "players; DROP TABLE x"', 'streams.payments.table'],
    ['a schema', '  database: casino', '  database: casino\n  schema: a.b', 'source.schema'],
    [
      'a stream schema',
      '    table: payments',
      '    table: payments\n    schema: "my schema"',
      'streams.payments.schema',
    ],
  ])('refuses %s that is not a plain identifier', (_what, from, to, path) => {
    const text = edit(PG, from, to);
    expectIssue(text, {
      path,
      line: lineOf(text, to.trim().split('\n').pop() ?? ''),
      message: ['is not valid'],
      expected: 'a plain SQL identifier',
      example: [`${path.split('.').pop()}:`],
    });
  });

  it.each([
    ['a quoted column', '\'"amount"\''],
    ['a qualified column', 'tx.amount'],
    ['a column with a space', 'tx amount'],
    ['an injection', '"amount; DROP TABLE payments"'],
  ])('refuses %s as a source column', (_what, column) => {
    const text = edit(PG, 'amount: amount', `amount: ${column}`);
    expectIssue(text, {
      path: 'streams.payments.columns.amount',
      line: lineOf(text, `amount: ${column}`),
      message: ['is not a safe SQL identifier'],
      expected: 'a plain SQL identifier',
      example: ['    columns:\n      amount: amount'],
    });
  });

  it('refuses an unsafe cursor column', () => {
    const text = edit(PG, '    table: payments', '    table: payments\n    cursor: "updated_at; DROP TABLE x"');
    expectIssue(text, {
      path: 'streams.payments.cursor',
      line: lineOf(text, 'cursor:'),
      message: ['cursor column "updated_at; DROP TABLE x" is not a safe SQL identifier'],
      expected: 'a plain SQL identifier',
      example: ['  payments:\n    cursor: updated_at'],
    });
  });
});

describe('credentials', () => {
  it.each([
    [
      'a password under source',
      edit(PG, '  database: casino', '  database: casino\n  password: hunter2'),
      'source.password',
      'password:',
    ],
    ['an API token', `${PG}alerts:\n  apiToken: abc123\n`, 'alerts.apiToken', 'apiToken'],
    [
      'a private key',
      edit(
        PG,
        '  database: casino',
        '  database: casino\n  caBundle: |\n    -----BEGIN PRIVATE KEY-----\n    MIIEvQIBADANBg\n    -----END PRIVATE KEY-----',
      ),
      'source.caBundle',
      'caBundle',
    ],
    [
      'a URL with a password',
      edit(PG, 'host: db.example.com', 'host: postgres://app:hunter2@db.example.com/casino'),
      'source.host',
      'host:',
    ],
  ])('refuses %s and says where credentials go', (_what, text, path, needle) => {
    const issue = expectIssue(text, {
      path,
      line: lineOf(text, needle),
      message: [CREDENTIALS_HINT],
      expected: 'no credentials in this file',
      example: ['npx connector credentials set test-op'],
    });
    const { message } = invalid(text);
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain('MIIEvQIBADANBg');
    expect(message).not.toContain('abc123');
    expect(issue.message).toContain('npx connector credentials set');
  });

  it('reports a credential key once, not also as an unknown key', () => {
    const { issues } = invalid(edit(PG, '  database: casino', '  database: casino\n  password: hunter2'));
    expect(issues.map((i) => i.path)).toEqual(['source.password']);
  });

  it('does not take operator enumeration values for credentials', () => {
    const text = edit(
      PG,
      'values: { OK: approved, KO: declined }',
      'values: { OK: approved, KO: declined, TOKEN: approved }',
    );
    expect(parseOperatorConfig(text, FILE).issues).toEqual([]);
  });
});

describe('YAML', () => {
  it('reports a syntax error with its line and column', () => {
    const text = edit(PG, '  host: db.example.com', '  host: db.example.com\n  ports: [5432, 5433');
    const { issues, message } = invalid(text);
    expect(issues).toHaveLength(1);
    expect(issues[0]?.message).toMatch(/^YAML syntax error: /);
    expect(issues[0]?.line).toBeGreaterThanOrEqual(lineOf(text, 'ports:'));
    expect(message).toMatch(new RegExp(`${FILE}:\\d+:\\d+: `));
    expect(issues[0]?.expected).toContain('valid YAML');
    expect(issues[0]?.example).toBeTruthy();
  });

  it('says that tabs are not allowed for indentation', () => {
    const text = edit(PG, '  host: db.example.com', '\thost: db.example.com');
    const { issues } = invalid(text);
    expect(issues[0]?.message).toContain('tabs are not allowed for indentation');
    expect(issues[0]?.line).toBe(lineOf(text, '\thost'));
    expect(issues[0]?.column).toBe(1);
  });

  it('reports a duplicate key at the duplicate, naming the line of the first', () => {
    const text = edit(PG, '  host: db.example.com', '  host: db.example.com\n  host: other.example.com');
    expectIssue(text, {
      path: 'source.host',
      line: lineOf(text, 'other.example.com'),
      message: ['duplicate key "host"', `already set on line ${lineOf(text, 'host: db.example.com')}`],
      expected: 'each key at most once',
      example: ['source:\n  host: casino-db.internal.example.com'],
    });
  });

  it.each([
    ['an empty file', '', 'the file is empty'],
    ['a file of comments', '# nothing yet\n', 'the file is empty'],
    ['a list', '- operatorId: test-op\n- stage: sandbox\n', 'the file holds a list'],
    ['a single value', 'test-op\n', 'the file holds a single value'],
  ])('refuses %s with a complete minimal example', (_what, text, found) => {
    const { issues, message } = invalid(text);
    expect(issues).toHaveLength(1);
    const issue = issues[0];
    expect(issue?.message).toContain(found);
    expect(issue?.line).toBe(1);
    expect(message).toContain(`${FILE}:1: (file): `);
    expect(issue?.expected).toContain('operatorId, displayName, stage, account, region, source, streams');
    // The example is itself a valid config.
    expect(parseOperatorConfig(issue?.example ?? '', FILE).issues).toEqual([]);
  });

  it('refuses several documents in one file', () => {
    const { issues } = invalid(`${PG}---\n${PG}`);
    expect(issues[0]?.message).toContain('more than one YAML document');
    expect(issues[0]?.path).toBe('');
  });
});

describe('rules across fields', () => {
  it('refuses removalPolicy destroy in production', () => {
    const text = `${PG}removalPolicy: destroy\n`;
    expectIssue(text, {
      path: 'removalPolicy',
      line: lineOf(text, 'removalPolicy'),
      message: ['only accepted for the sandbox stage', 'this is production'],
      expected: 'retain',
      example: ['removalPolicy: retain'],
    });
    expect(parseOperatorConfig(edit(text, 'stage: production', 'stage: sandbox'), FILE).issues).toEqual([]);
  });

  it.each(['disable', 'require'])(
    'refuses tls %s in production: production verifies the server certificate',
    (mode) => {
      const text = edit(PG, '  database: casino', `  database: casino\n  tls: ${mode}`);
      expectIssue(text, {
        path: 'source.tls',
        line: lineOf(text, 'tls:'),
        message: [`production sources must verify the server certificate and host name; tls: ${mode}`],
        expected: 'verify-full (with source.caBundle naming the CA',
        example: ['source:\n  tls: verify-full\n  caBundle: aws-rds'],
      });
    },
  );

  it('refuses a CA bundle that is not a named bundle or CA certificates', () => {
    const text = edit(PG, '  database: casino', '  database: casino\n  caBundle: rds');
    expectIssue(text, {
      path: 'source.caBundle',
      line: lineOf(text, 'caBundle:'),
      message: ['expected "system" or "aws-rds", or a PEM bundle'],
    });
  });

  it('refuses personal data kept in clear without a justification', () => {
    const text = edit(PG, 'player_id: player_id', 'player_id: { column: player_id, pii: keep }');
    expectIssue(text, {
      path: 'streams.payments.columns.player_id.justification',
      line: lineOf(text, 'pii: keep'),
      message: ['payments.player_id is personal data', 'needs a justification'],
      expected: 'at least 20 characters',
      example: ['      player_id:\n        justification:'],
    });
    const justified = edit(
      PG,
      'player_id: player_id',
      'player_id: { column: player_id, pii: keep, justification: "Fraud team matches players against the KYC register." }',
    );
    expect(parseOperatorConfig(justified, FILE).issues).toEqual([]);
  });

  it('refuses a justification too short to be read by an auditor', () => {
    const text = edit(PG, 'player_id: player_id', 'player_id: { column: player_id, pii: keep, justification: needed }');
    expectIssue(text, {
      path: 'streams.payments.columns.player_id.justification',
      message: ['"needed" is too short (at least 20 characters)'],
      expected: 'text of at least 20 characters',
    });
  });

  it('refuses dropping the primary key', () => {
    const text = edit(PG, 'payment_id: id', 'payment_id: { column: id, pii: drop }');
    expectIssue(text, {
      path: 'streams.payments.columns.payment_id.pii',
      line: lineOf(text, 'pii: drop'),
      message: ["payments.payment_id is the stream's primary key and cannot be dropped"],
      expected: 'keep or pseudonymize',
      example: ['      payment_id:\n        pii: pseudonymize'],
    });
  });

  it.each([
    ['primary key', 'payment_id: id', 'its primary key "payment_id"'],
    ['cursor', 'updated_at: updated_at', 'its cursor field "updated_at"'],
    ['player', 'player_id: player_id', 'the required field "player_id"'],
  ])('requires the %s to be mapped', (_what, line, message) => {
    const text = edit(PG, `      ${line}\n`, '');
    const field = line.split(':')[0] ?? '';
    expectIssue(text, {
      path: `streams.payments.columns.${field}`,
      line: lineOf(text, '    columns:'),
      message: [`stream payments must map ${message}`],
      expected: `the source column holding ${field}`,
      example: [`    columns:\n      ${field}: ${field}`],
    });
  });

  it('requires a table for database streams', () => {
    const text = edit(PG, '    table: payments\n', '');
    expectIssue(text, {
      path: 'streams.payments.table',
      line: lineOf(text, '  payments:'),
      message: ['stream payments needs the source table it is read from'],
      expected: 'the name of the source table',
      example: ['streams:\n  payments:\n    table: payments'],
    });
  });

  it('refuses a table on a file-drop stream', () => {
    const text = edit(FILES, '  players:\n', '  players:\n    table: customers\n');
    expectIssue(text, {
      path: 'streams.players.table',
      line: lineOf(text, 'table:'),
      message: ['file-drop streams have no table', 'inbound/players/'],
      expected: 'no table',
      example: ['  players:\n    format:\n      type: csv'],
    });
  });

  it('refuses a region of another partition', () => {
    const text = edit(PG, 'region: eu-west-1', 'region: cn-north-1');
    expectIssue(text, {
      path: 'region',
      line: lineOf(text, 'region:'),
      message: ['region cn-north-1 is in the aws-cn partition; the connector deploys to the aws partition only'],
      expected: 'a region of the aws partition',
      example: ['region: eu-west-1'],
    });
  });

  it('refuses a principal of another partition than the region', () => {
    const text = edit(FILES, 'arn:aws:iam::210987654321', 'arn:aws-cn:iam::210987654321');
    expectIssue(text, {
      path: 'fileDrop.principals[0]',
      line: lineOf(text, 'arn:aws-cn'),
      message: ['is in the aws-cn partition, but region eu-west-1 is in aws'],
      expected: 'an ARN starting with arn:aws:',
      example: ['- arn:aws:iam::210987654321:role/casino-data-export'],
    });
  });

  it('refuses an SSH key longer than Transfer Family stores', () => {
    const key = `ssh-rsa ${'A'.repeat(2100)} ops@test`;
    const text =
      `${FILES}  payments:\n    columns:\n      payment_id: id\n      player_id: customer_id\n      updated_at: modified_ts\n`.replace(
        '    - arn:aws:iam::210987654321:role/casino-data-export\n',
        `    - arn:aws:iam::210987654321:role/casino-data-export\n  sftp:\n    enabled: true\n    userName: test-upload\n    allowedCidrs: [203.0.113.0/24]\n    sshPublicKeys:\n      - ${key}\n`,
      );
    expectIssue(text, {
      path: 'fileDrop.sftp.sshPublicKeys[0]',
      message: ['at most 2048 characters'],
    });
  });

  it('requires the allow-list of an SFTP endpoint, and refuses the whole internet in production', () => {
    const sftp = (cidrs: string) =>
      edit(
        FILES,
        '    - arn:aws:iam::210987654321:role/casino-data-export\n',
        `    - arn:aws:iam::210987654321:role/casino-data-export\n  sftp:\n    enabled: true\n    userName: test-upload\n    sshPublicKeys: [ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG9wZXJhdG9yLWtleQ ops@test]\n${cidrs}`,
      );
    expectIssue(sftp(''), {
      path: 'fileDrop.sftp.allowedCidrs',
      message: ["admits only the operator's source addresses"],
      example: ['    allowedCidrs:\n      - 203.0.113.0/24'],
    });
    const open = edit(sftp('    allowedCidrs: [0.0.0.0/0]\n'), 'stage: sandbox', 'stage: production');
    expectIssue(open, {
      path: 'fileDrop.sftp.allowedCidrs[0]',
      message: ['0.0.0.0/0 admits the whole internet'],
    });
    expectIssue(sftp('    allowedCidrs: [203.0.113.300/24]\n'), {
      path: 'fileDrop.sftp.allowedCidrs[0]',
      message: ['"203.0.113.300/24" is not valid'],
      expected: /IPv4 CIDR/,
    });
  });

  it('caps maxFileSizeMb at what fits the largest Lambda ephemeral storage', () => {
    const text = edit(FILES, 'fileDrop:\n', 'fileDrop:\n  maxFileSizeMb: 51200\n');
    expectIssue(text, {
      path: 'fileDrop.maxFileSizeMb',
      line: lineOf(text, 'maxFileSizeMb'),
      message: [/too large/],
      expected: '9728',
    });
  });

  it('requires a way to upload for a file drop', () => {
    const text = edit(FILES, 'fileDrop:\n  principals:\n    - arn:aws:iam::210987654321:role/casino-data-export\n', '');
    expectIssue(text, {
      path: 'fileDrop',
      line: 1,
      message: ['a file-drop operator (source.type: files) needs a way to upload'],
      expected: 'principals, assumeRole: true or an enabled sftp endpoint',
      example: ['fileDrop:\n  principals:\n    - arn:aws:iam::'],
    });
  });

  it('refuses an existing network with fewer zones than subnets', () => {
    const text = edit(
      PG,
      '    mode: created',
      [
        '    mode: existing',
        '    vpcId: vpc-0123456789abcdef0',
        '    availabilityZones: [eu-west-1a]',
        '    subnetIds: [subnet-0123456789abcdef0, subnet-0123456789abcdef1]',
        '    securityGroupIds: [sg-0123456789abcdef0]',
      ].join('\n'),
    );
    expectIssue(text, {
      path: 'source.network.availabilityZones',
      line: lineOf(text, 'availabilityZones'),
      message: ['one availability zone per subnet', '2 subnet(s), 1 zone(s)'],
      expected: '2 availability zone(s)',
      example: ['source:\n  network:\n    availabilityZones: [eu-west-1a, eu-west-1b]'],
    });
  });

  it('refuses a stream list that is empty', () => {
    const text = edit(PG, PG.slice(PG.indexOf('streams:')), 'streams: {}\n');
    expectIssue(text, {
      path: 'streams',
      line: lineOf(text, 'streams:'),
      message: ['the operator provides no stream'],
      expected: 'at least one of players',
      example: ['streams:\n  payments:'],
    });
  });
});

describe('reporting', () => {
  it('reports every problem of a file at once, in line order', () => {
    const text = edit(edit(PG, 'region: eu-west-1', 'region: mars-1'), 'payment_id: id', 'payment_idd: id');
    const { issues, message } = invalid(text);
    expect(issues.map((i) => i.path)).toEqual(['region', 'streams.payments.columns.payment_idd']);
    expect(message).toMatch(/^Invalid operator config \(2 problems\):\n/);
  });
});

describe('formatIssues', () => {
  it('prints file:line: path: message, then expected and an indented example', () => {
    const text = `${PG}incremental:\n  lookbackMinuts: 30\n`;
    const { message } = invalid(text);
    expect(message).toBe(
      [
        'Invalid operator config (1 problem):',
        `${FILE}:${lineOf(text, 'lookbackMinuts')}: incremental.lookbackMinuts: "lookbackMinuts" is not a key of incremental; did you mean "lookbackMinutes"?`,
        '    expected: one of the keys schedule, lookbackMinutes, safetyLagSeconds, latenessAlarmShare, holdBackForOpenTransactions, openTransactionMarginSeconds',
        '    example:',
        '      incremental:',
        '        lookbackMinutes: 60',
      ].join('\n'),
    );
    expect(formatIssues([{ file: 'a.yaml', path: '', message: 'm' }])).toContain('a.yaml: (file): m');
  });
});
