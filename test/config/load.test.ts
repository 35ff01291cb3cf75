import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  listConfigFiles,
  loadOperatorConfigDir,
  loadOperatorConfigFiles,
  minimalConfigExample,
  parseOperatorConfig,
} from '#shared/config/load';
import { edit, FILE, FILES, lineOf, PG } from './fixtures.ts';

const REPO = join(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'operator-config-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let dirs = 0;
/** A fresh directory holding the given files. */
function dirWith(files: Record<string, string>): string {
  const dir = join(tmp, `case-${++dirs}`);
  mkdirSync(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('config/operators', () => {
  it('holds only valid configs', () => {
    const files = listConfigFiles(join(REPO, 'config', 'operators'));
    const loaded = loadOperatorConfigDir(join(REPO, 'config', 'operators'), REPO);
    expect(loaded.map((l) => l.file)).toEqual(files.map((f) => `config/operators/${basename(f)}`));
    const acme = loaded.find((l) => l.config.operatorId === 'acme-casino');
    expect(acme?.file).toBe('config/operators/acme-casino.yaml');
    expect(acme?.config.source.type).toBe('postgres');
    expect(Object.keys(acme?.config.streams ?? {})).toHaveLength(7);
  });
});

describe('defaults', () => {
  const minimal = `operatorId: min-op
displayName: Minimal
stage: sandbox
account: "123456789012"
region: eu-west-1
source:
  type: postgres
  host: db.example.com
  database: casino
  network:
    mode: created
streams:
  players:
    table: players
    columns:
      player_id: id
      updated_at: updated_at
`;

  it('fills in every optional section of a minimal config', () => {
    const { config } = parseOperatorConfig(minimal, FILE);
    expect(config).toBeDefined();
    expect(config?.snapshot).toEqual({ days: 90, windowHours: 24, maxParallelWindows: 2 });
    expect(config?.incremental).toEqual({
      schedule: 'rate(15 minutes)',
      lookbackMinutes: 60,
      safetyLagSeconds: 60,
      latenessAlarmShare: 0.5,
      holdBackForOpenTransactions: true,
      openTransactionMarginSeconds: 60,
    });
    expect(config?.source).toEqual({
      type: 'postgres',
      host: 'db.example.com',
      port: 5432,
      database: 'casino',
      schema: 'public',
      tls: 'verify-full',
      caBundle: 'system',
      timeZone: 'UTC',
      statementTimeoutSeconds: 300,
      keyComparison: { caseInsensitive: false, padSpace: false },
      network: { mode: 'created', cidr: '10.40.0.0/16', maxAzs: 2 },
    });
    expect(config?.alerts).toEqual({ emails: [], httpsEndpoints: [], defaultFreshnessSlaMinutes: 60 });
    expect(config?.retention).toEqual({
      rawDays: 0,
      noncurrentVersionDays: 30,
      archiveDays: 90,
      quarantineDays: 180,
      logDays: 365,
      accessLogDays: 365,
    });
    expect(config?.removalPolicy).toBe('retain');
    expect(config?.fileDrop).toBeUndefined();
    expect(config?.streams.payments).toBeUndefined();
  });

  it('keeps the defaults of the keys a partial section leaves out', () => {
    const text = `${minimal}snapshot:\n  days: 30\nincremental:\n  lookbackMinutes: 10\nretention:\n  rawDays: 400\n`;
    const { config } = parseOperatorConfig(text, FILE);
    expect(config?.snapshot).toEqual({ days: 30, windowHours: 24, maxParallelWindows: 2 });
    expect(config?.incremental).toEqual({
      schedule: 'rate(15 minutes)',
      lookbackMinutes: 10,
      safetyLagSeconds: 60,
      latenessAlarmShare: 0.5,
      holdBackForOpenTransactions: true,
      openTransactionMarginSeconds: 60,
    });
    expect(config?.retention.rawDays).toBe(400);
    expect(config?.retention.logDays).toBe(365);
  });

  it('uses the MySQL port and no schema for MySQL', () => {
    const { config } = parseOperatorConfig(edit(minimal, 'type: postgres', 'type: mysql'), FILE);
    expect(config?.source).toMatchObject({ type: 'mysql', port: 3306 });
    expect(config?.source.type === 'mysql' && config.source.schema).toBeUndefined();
  });

  it('compares keys as the engine usually does unless the config says how', () => {
    const mysql = parseOperatorConfig(edit(minimal, 'type: postgres', 'type: mysql'), FILE).config;
    expect(mysql?.source.keyComparison).toEqual({ caseInsensitive: true, padSpace: true });
    const files = parseOperatorConfig(FILES, FILE).config;
    expect(files?.source.keyComparison).toEqual({ caseInsensitive: false, padSpace: false });
    const stated = parseOperatorConfig(
      edit(
        minimal,
        '  type: postgres\n',
        '  type: mysql\n  keyComparison:\n    caseInsensitive: false\n    padSpace: true\n',
      ),
      FILE,
    ).config;
    expect(stated?.source.keyComparison).toEqual({ caseInsensitive: false, padSpace: true });
  });

  it('fills in file-drop and file-format defaults', () => {
    const text = edit(FILES, '  players:\n', '  players:\n    format:\n      type: csv\n');
    const { config } = parseOperatorConfig(text, FILE);
    expect(config?.fileDrop).toEqual({
      principals: ['arn:aws:iam::210987654321:role/casino-data-export'],
      assumeRole: false,
      timeZone: 'UTC',
      maxFileSizeMb: 5120,
      freshnessSlaHours: 26,
      afterIngest: 'archive',
    });
    expect(config?.streams.players?.format).toEqual({
      type: 'csv',
      delimiter: ',',
      quote: '"',
      encoding: 'utf-8',
      decimalSeparator: '.',
      timestampFormat: 'iso8601',
      dateFormat: 'yyyy-MM-dd',
    });
  });

  it('the minimal example shown for an empty file is valid', () => {
    expect(parseOperatorConfig(minimalConfigExample(), FILE).issues).toEqual([]);
  });
});

describe('loadOperatorConfigFiles', () => {
  it('refuses one operator and stage defined in two files, naming both', () => {
    const other = edit(PG, 'displayName: Test Operator', 'displayName: Same Operator Again');
    const dir = dirWith({ 'a.yaml': PG, 'b.yaml': other });
    const error = configError(() => loadOperatorConfigDir(dir, tmp));
    expect(error.name).toBe('ConfigError');
    expect(error.issues).toHaveLength(1);
    const [issue] = error.issues;
    const a = `${basename(dir)}/a.yaml`;
    const b = `${basename(dir)}/b.yaml`;
    expect(issue).toMatchObject({ file: b, path: 'operatorId', line: lineOf(PG, 'operatorId') });
    expect(issue?.message).toContain(`operator "test-op" (stage production) is already defined in ${a}:1`);
    expect(issue?.expected).toContain('an operatorId not used by another production file');
    expect(issue?.example).toBe('operatorId: test-op-2');
    expect(error.message).toContain(`${b}:1: operatorId: `);
  });

  it('accepts the same operator in two stages', () => {
    const sandbox = edit(PG, 'stage: production', 'stage: sandbox');
    const dir = dirWith({ 'test-op.yaml': PG, 'test-op-sandbox.yml': sandbox });
    const loaded = loadOperatorConfigDir(dir, tmp);
    expect(loaded.map((l) => l.config.stage).sort()).toEqual(['production', 'sandbox']);
  });

  it('reports the problems of every file in one error and loads nothing', () => {
    const dir = dirWith({
      'a.yaml': edit(PG, 'region: eu-west-1', 'region: moon-1'),
      'b.yaml': edit(FILES, 'stage: sandbox', 'stage: staging'),
      'c.yaml': FILES,
    });
    const error = configError(() => loadOperatorConfigDir(dir, tmp));
    expect(error.issues.map((i) => [basename(i.file), i.path])).toEqual([
      ['a.yaml', 'region'],
      ['b.yaml', 'stage'],
    ]);
    expect(error.message).toMatch(/^Invalid operator config \(2 problems\):/);
  });

  it('reports a file that cannot be read', () => {
    const error = configError(() => loadOperatorConfigFiles([join(tmp, 'missing.yaml')], tmp));
    expect(error.issues[0]).toMatchObject({ file: 'missing.yaml', path: '' });
    expect(error.issues[0]?.message).toContain('cannot read the file: ENOENT');
  });
});

describe('listConfigFiles', () => {
  it('lists YAML files only, sorted', () => {
    const dir = dirWith({ 'b.yml': '', 'a.yaml': '', 'README.md': '', 'c.yaml.bak': '' });
    expect(listConfigFiles(dir).map((f) => basename(f))).toEqual(['a.yaml', 'b.yml']);
  });

  it('says which directory is missing', () => {
    const error = configError(() => listConfigFiles(join(tmp, 'nowhere')));
    expect(error.issues[0]?.message).toContain('cannot read the config directory: ENOENT');
    expect(error.issues[0]?.file).toBe(join(tmp, 'nowhere'));
    expect(error.cause).toBeDefined();
  });
});
