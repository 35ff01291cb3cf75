/**
 * Checks of an operator config that span several fields (the zod schema checks each field alone).
 * Every problem is reported with its path, what was expected and an example of a good value.
 */
import { CANONICAL_STREAMS, getField, STREAM_NAMES, type StreamName } from '../canonical.ts';
import { mappedColumn } from './columns.ts';
import { didYouMean } from './did-you-mean.ts';
import { checkIncremental } from './incremental.ts';
import { type OperatorConfig, SAFE_IDENTIFIER, type StreamConfig } from './schema.ts';

/** One problem found in a config, before the loader adds the file name and line number. */
export interface SemanticIssue {
  /** Keys from the top of the file to the offending value. */
  readonly path: readonly (string | number)[];
  readonly message: string;
  /** What a valid value looks like, in words. */
  readonly expected?: string;
  /**
   * A valid YAML snippet. It is written at the level of the last key of `path` (or at
   * `exampleAt`) and the loader nests it under the parent keys, so it can be pasted as is.
   */
  readonly example?: string;
  /** The keys under which `example` sits; defaults to the parent of `path`. */
  readonly exampleAt?: readonly (string | number)[];
}

/** Key names that hold credentials; credentials live in the operator's Secrets Manager secret only. */
const SECRET_KEY =
  /(pass(word|wd|phrase)?|secret|token|api[-_]?key|private[-_]?key|access[-_]?key|credential|client[-_]?secret|connection[-_]?string|dsn)$/i;
const SECRET_VALUE: readonly [RegExp, string][] = [
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'private key material'],
  [/\b(AKIA|ASIA)[0-9A-Z]{16}\b/, 'an AWS access key id'],
  [/^[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@/i, 'a URL with an embedded password'],
];

/** The fix for a credential found in a config file; part of every such error message. */
export const CREDENTIALS_HINT =
  "Credentials never go into config files: store them in the operator's Secrets Manager secret with `npx connector credentials set <operator>` (reads JSON from stdin).";

const SECRET_EXPECTED = 'no credentials in this file: remove the key or value';
const secretExample = (operator: string) => `npx connector credentials set ${operator} < credentials.json`;

/**
 * Finds keys or values that look like secrets anywhere in the raw parsed YAML, before schema
 * validation, so a secret is refused even where the schema would also reject the key.
 */
export function findSecrets(value: unknown, path: (string | number)[] = []): SemanticIssue[] {
  const root = path.length === 0 ? value : undefined;
  const operatorId =
    root !== null && typeof root === 'object' && typeof (root as { operatorId?: unknown }).operatorId === 'string'
      ? (root as { operatorId: string }).operatorId
      : '<operatorId>';
  return secretsIn(value, path, operatorId);
}

function secretsIn(value: unknown, path: (string | number)[], operatorId: string): SemanticIssue[] {
  const issues: SemanticIssue[] = [];
  const found = (at: (string | number)[], message: string) =>
    issues.push({
      path: at,
      message: `${message}. ${CREDENTIALS_HINT}`,
      expected: SECRET_EXPECTED,
      example: secretExample(operatorId),
      // A shell command, not YAML: shown as is, not nested under the keys of `path`.
      exampleAt: [],
    });
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      issues.push(...secretsIn(v, [...path, i], operatorId));
    });
  } else if (value !== null && typeof value === 'object') {
    // Keys of a `values` map are the operator's own enumeration values (e.g. a TOKEN bonus type).
    const keysAreData = path[path.length - 1] === 'values';
    for (const [k, v] of Object.entries(value)) {
      const here = [...path, k];
      if (!keysAreData && SECRET_KEY.test(k) && !/^sshPublicKeys?$/.test(k)) {
        found(here, `"${k}" looks like a credential`);
      } else {
        issues.push(...secretsIn(v, here, operatorId));
      }
    }
  } else if (typeof value === 'string') {
    for (const [pattern, what] of SECRET_VALUE) {
      if (pattern.test(value)) {
        found(path, `this value contains ${what}`);
        break;
      }
    }
  }
  return issues;
}

const IDENTIFIER_EXPECTED =
  'a plain SQL identifier: letters, digits and underscores, starting with a letter or underscore (no quotes, spaces, dots or semicolons)';

function checkStream(config: OperatorConfig, name: StreamName, stream: StreamConfig, issues: SemanticIssue[]): void {
  const canonical = CANONICAL_STREAMS[name];
  const base = ['streams', name];
  const isDatabase = config.source.type !== 'files';
  const fieldNames = canonical.fields.map((f) => f.name);

  if (isDatabase && !stream.table) {
    issues.push({
      path: [...base, 'table'],
      message: `stream ${name} needs the source table it is read from (source.type is ${config.source.type})`,
      expected: 'the name of the source table, a plain SQL identifier',
      example: `table: ${name}`,
    });
  }
  if (isDatabase && stream.format) {
    issues.push({
      path: [...base, 'format'],
      message: `format only applies to file drops; stream ${name} is read from the ${config.source.type} table`,
      expected: 'no format for a database stream',
      example: `table: ${stream.table ?? name}`,
    });
  }

  const typos = new Set<string>();
  for (const [fieldName, mapping] of Object.entries(stream.columns)) {
    const path = [...base, 'columns', fieldName];
    const field = getField(name, fieldName);
    if (!field) {
      const suggestion = didYouMean(fieldName, fieldNames);
      if (suggestion) typos.add(suggestion);
      issues.push({
        path,
        message: `"${fieldName}" is not a field of the canonical ${name} stream${suggestion ? `; did you mean "${suggestion}"?` : ''}`,
        expected: `a canonical ${name} field: ${fieldNames.join(', ')}`,
        example: `${suggestion ?? canonical.primaryKey}: ${SAFE_IDENTIFIER.test(mappedColumn(mapping)) ? mappedColumn(mapping) : (suggestion ?? canonical.primaryKey)}`,
      });
      continue;
    }
    const column = mappedColumn(mapping);
    if (isDatabase && !SAFE_IDENTIFIER.test(column)) {
      issues.push({
        path: typeof mapping === 'string' ? path : [...path, 'column'],
        message: `source column ${JSON.stringify(column)} is not a safe SQL identifier`,
        expected: IDENTIFIER_EXPECTED,
        example: typeof mapping === 'string' ? `${fieldName}: ${fieldName}` : `column: ${fieldName}`,
      });
    }
    if (typeof mapping === 'string') continue;
    if (mapping.pii === 'keep' && field.personal && !mapping.justification) {
      issues.push({
        path: [...path, 'justification'],
        message: `${name}.${fieldName} is personal data; keeping it in clear (pii: keep) needs a justification an auditor can read`,
        expected: 'a sentence of at least 20 characters, or pii: pseudonymize',
        example: `justification: "Age verification reports require the full date of birth (MGA directive 3)."`,
      });
    }
    if (mapping.pii === 'drop' && (fieldName === canonical.primaryKey || fieldName === canonical.cursor)) {
      issues.push({
        path: [...path, 'pii'],
        message: `${name}.${fieldName} is the stream's ${fieldName === canonical.primaryKey ? 'primary key' : 'cursor'} and cannot be dropped`,
        expected: 'keep or pseudonymize',
        example: 'pii: pseudonymize',
      });
    }
    if ((mapping.precision !== undefined || mapping.scale !== undefined) && field.type.kind !== 'decimal') {
      issues.push({
        path,
        message: `precision and scale only apply to money fields; ${name}.${fieldName} is a ${field.type.kind}`,
        expected: `no precision or scale on ${fieldName}`,
        example: `${fieldName}: ${column}`,
      });
    }
    if (field.type.kind === 'decimal') {
      const precision = mapping.precision ?? field.type.precision;
      const scale = mapping.scale ?? field.type.scale;
      if (scale > precision) {
        issues.push({
          path: [...path, 'scale'],
          message: `scale (${scale}) cannot exceed precision (${precision})`,
          expected: `a scale from 0 to ${precision}`,
          example: 'precision: 18\nscale: 2',
        });
      }
    }
    if (mapping.values) {
      if (!field.values) {
        const enumerations = canonical.fields.filter((f) => f.values).map((f) => f.name);
        issues.push({
          path: [...path, 'values'],
          message: `${name}.${fieldName} is not an enumeration, so it takes no values map`,
          expected: `values only on ${enumerations.length > 0 ? enumerations.join(', ') : 'enumeration fields'}`,
          example: `${fieldName}: ${column}`,
          exampleAt: base.concat('columns'),
        });
      } else {
        for (const [from, to] of Object.entries(mapping.values)) {
          if (!field.values.includes(to)) {
            const suggestion = didYouMean(to, field.values);
            issues.push({
              path: [...path, 'values', from],
              message: `"${to}" is not a canonical value of ${name}.${fieldName}${suggestion ? `; did you mean "${suggestion}"?` : ''}`,
              expected: `one of ${field.values.join(', ')}`,
              example: `${from}: ${suggestion ?? field.values[0]}`,
            });
          }
        }
      }
    }
  }

  // Fields that are never NULL in landed data must come from somewhere.
  for (const required of canonical.fields.filter((f) => !f.nullable)) {
    // A misspelt required field is reported once, as the typo.
    if (required.name in stream.columns || typos.has(required.name)) continue;
    const role =
      required.name === canonical.primaryKey
        ? 'its primary key'
        : required.name === canonical.cursor
          ? 'its cursor field'
          : 'the required field';
    issues.push({
      path: [...base, 'columns', required.name],
      message: `stream ${name} must map ${role} "${required.name}" (never NULL in landed data)`,
      expected: `the source column holding ${required.name}`,
      example: `${required.name}: ${required.name}`,
    });
  }
  if (stream.cursor !== undefined && isDatabase && !SAFE_IDENTIFIER.test(stream.cursor)) {
    issues.push({
      path: [...base, 'cursor'],
      message: `cursor column ${JSON.stringify(stream.cursor)} is not a safe SQL identifier`,
      expected: IDENTIFIER_EXPECTED,
      example: `cursor: ${canonical.cursor}`,
    });
  }
  if (!isDatabase && stream.table) {
    issues.push({
      path: [...base, 'table'],
      message: `file-drop streams have no table; files for ${name} are read from inbound/${name}/`,
      expected: 'no table (describe the files with format instead)',
      example: 'format:\n  type: csv',
    });
  }
}

/** The partitions the app deploys to (cdk.json `@aws-cdk/core:target-partitions`). */
export const TARGET_PARTITIONS = ['aws'] as const;

/** The AWS partition of a region code: `aws-cn` for cn-*, `aws-us-gov` for us-gov-*, else `aws`. */
export function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

/** Every string of the config that is an ARN, with its path. */
function arnsIn(value: unknown, path: (string | number)[] = []): [(string | number)[], string][] {
  if (typeof value === 'string') return value.startsWith('arn:') ? [[path, value]] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => arnsIn(v, [...path, i]));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => arnsIn(v, [...path, k]));
  }
  return [];
}

function checkPartitions(config: OperatorConfig, issues: SemanticIssue[]): void {
  if (typeof config.region !== 'string') return;
  const partition = partitionOf(config.region);
  if (!(TARGET_PARTITIONS as readonly string[]).includes(partition)) {
    issues.push({
      path: ['region'],
      message: `region ${config.region} is in the ${partition} partition; the connector deploys to the ${TARGET_PARTITIONS.join(', ')} partition only`,
      expected: 'a region of the aws partition',
      example: 'region: eu-west-1',
    });
  }
  for (const [path, arn] of arnsIn(config)) {
    const arnPartition = arn.split(':')[1] ?? '';
    if (arnPartition !== partition) {
      issues.push({
        path,
        message: `${arn} is in the ${arnPartition} partition, but region ${config.region} is in ${partition}: a principal of another partition can never be granted access`,
        expected: `an ARN starting with arn:${partition}:`,
        example: `- ${arn.replace(/^arn:[^:]*:/, `arn:${partition}:`)}`,
      });
    }
  }
}

/** Cross-field checks; returns every problem found, never stops at the first. */
export function validateSemantics(config: OperatorConfig): SemanticIssue[] {
  const issues: SemanticIssue[] = [];
  checkPartitions(config, issues);
  const configured = STREAM_NAMES.filter((s) => config.streams[s] !== undefined);
  if (configured.length === 0) {
    issues.push({
      path: ['streams'],
      message: 'the operator provides no stream, so there would be nothing to land',
      expected: `at least one of ${STREAM_NAMES.join(', ')}`,
      example:
        'streams:\n  payments:\n    table: payments\n    columns:\n      payment_id: id\n      player_id: player_id\n      updated_at: updated_at',
    });
  }
  for (const name of configured) {
    const stream = config.streams[name];
    if (stream) checkStream(config, name, stream, issues);
  }

  if (config.source.type === 'files') {
    const drop = config.fileDrop;
    if (!drop || (drop.principals.length === 0 && !drop.assumeRole && !drop.sftp?.enabled)) {
      issues.push({
        path: ['fileDrop'],
        message: 'a file-drop operator (source.type: files) needs a way to upload, and none is configured',
        expected: 'fileDrop with principals, assumeRole: true or an enabled sftp endpoint',
        example: 'fileDrop:\n  principals:\n    - arn:aws:iam::210987654321:role/casino-data-export',
      });
    }
  } else {
    if (config.source.tls !== 'verify-full' && config.stage === 'production') {
      issues.push({
        path: ['source', 'tls'],
        message: `production sources must verify the server certificate and host name; tls: ${config.source.tls} is only accepted for the sandbox stage`,
        expected:
          'verify-full (with source.caBundle naming the CA that signed the server certificate: system, aws-rds or a PEM bundle)',
        example: 'tls: verify-full\ncaBundle: aws-rds',
      });
    }
    const source = config.source;
    if (source.type === 'mysql' && source.schema !== undefined && source.schema !== source.database) {
      // The connector's session opens `database`; a user granted only on the schema's tables cannot.
      issues.push({
        path: ['source', 'schema'],
        message: `on MySQL/MariaDB a schema is a database: the connector connects to source.database (${source.database}) and needs the tables there, but source.schema names ${source.schema}`,
        expected: `database: ${source.schema}, without schema (or schema equal to database)`,
        example: `database: ${source.schema}`,
      });
    }
    const net = config.source.network;
    if (net.mode === 'existing' && net.availabilityZones.length !== net.subnetIds.length) {
      issues.push({
        path: ['source', 'network', 'availabilityZones'],
        message: `list one availability zone per subnet, in the same order (${net.subnetIds.length} subnet(s), ${net.availabilityZones.length} zone(s))`,
        expected: `${net.subnetIds.length} availability zone(s)`,
        example: `availabilityZones: [${net.subnetIds.map((_, i) => `eu-west-1${'abc'[i % 3]}`).join(', ')}]`,
      });
    }
  }
  const sftp = config.fileDrop?.sftp;
  if (sftp?.enabled && sftp.allowedCidrs.length === 0) {
    issues.push({
      path: ['fileDrop', 'sftp', 'allowedCidrs'],
      message: "an SFTP endpoint admits only the operator's source addresses: list the CIDRs the operator uploads from",
      expected: 'one or more IPv4 CIDRs',
      example: 'allowedCidrs:\n  - 203.0.113.0/24',
    });
  }
  for (const [i, cidr] of (sftp?.enabled ? sftp.allowedCidrs : []).entries()) {
    if (cidr.endsWith('/0') && config.stage === 'production') {
      issues.push({
        path: ['fileDrop', 'sftp', 'allowedCidrs', i],
        message: `${cidr} admits the whole internet; a production SFTP endpoint admits the operator's addresses only`,
        expected: "the operator's public IPv4 CIDRs",
        example: '- 203.0.113.0/24',
      });
    }
  }
  if (sftp?.enabled && (!sftp.userName || sftp.sshPublicKeys.length === 0)) {
    issues.push({
      path: ['fileDrop', 'sftp'],
      message: 'an SFTP endpoint needs the operator user name and at least one public SSH key',
      expected: 'userName and sshPublicKeys when enabled is true',
      example:
        'sftp:\n  enabled: true\n  userName: acme-upload\n  sshPublicKeys:\n    - ssh-ed25519 AAAAC3Nza... ops@acme\n  allowedCidrs:\n    - 203.0.113.0/24',
    });
  }
  issues.push(...checkIncremental(config));
  if (config.removalPolicy === 'destroy' && config.stage !== 'sandbox') {
    issues.push({
      path: ['removalPolicy'],
      message: `destroy would delete the landed data on \`cdk destroy\`; it is only accepted for the sandbox stage (this is ${config.stage})`,
      expected: 'retain',
      example: 'removalPolicy: retain',
    });
  }
  return issues;
}
