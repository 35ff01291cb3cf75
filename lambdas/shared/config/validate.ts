/**
 * Checks of an operator config that span several fields (the zod schema checks each field alone).
 * Every problem is reported with its path, what was expected and an example of a good value.
 */
import { CANONICAL_STREAMS, getField, STREAM_NAMES, type StreamName } from '../canonical.ts';
import { didYouMean } from './did-you-mean.ts';
import { type OperatorConfig, SAFE_IDENTIFIER, type StreamConfig } from './schema.ts';

export interface SemanticIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
  readonly expected?: string;
  readonly example?: string;
}

/** Key names that hold credentials; credentials live in the operator's Secrets Manager secret only. */
const SECRET_KEY =
  /(pass(word|wd|phrase)?|secret|token|api[-_]?key|private[-_]?key|access[-_]?key|credential|client[-_]?secret|connection[-_]?string|dsn)$/i;
const SECRET_VALUE: readonly [RegExp, string][] = [
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'private key material'],
  [/\b(AKIA|ASIA)[0-9A-Z]{16}\b/, 'an AWS access key id'],
  [/^[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@/i, 'a URL with an embedded password'],
];

export const CREDENTIALS_HINT =
  "Credentials never go into config files: store them in the operator's Secrets Manager secret with `npx connector credentials set <operator>` (reads JSON from stdin).";

/**
 * Finds keys or values that look like secrets anywhere in the raw parsed YAML, before schema
 * validation, so a secret is refused even where the schema would also reject the key.
 */
export function findSecrets(value: unknown, path: (string | number)[] = []): SemanticIssue[] {
  const issues: SemanticIssue[] = [];
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      issues.push(...findSecrets(v, [...path, i]));
    });
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const here = [...path, k];
      if (SECRET_KEY.test(k) && !/^sshPublicKeys?$/.test(k)) {
        issues.push({ path: here, message: `"${k}" looks like a credential. ${CREDENTIALS_HINT}` });
      } else {
        issues.push(...findSecrets(v, here));
      }
    }
  } else if (typeof value === 'string') {
    for (const [pattern, what] of SECRET_VALUE) {
      if (pattern.test(value)) {
        issues.push({ path, message: `this value contains ${what}. ${CREDENTIALS_HINT}` });
        break;
      }
    }
  }
  return issues;
}

function mappedColumn(mapping: StreamConfig['columns'][string]): string {
  return typeof mapping === 'string' ? mapping : mapping.column;
}

function checkStream(config: OperatorConfig, name: StreamName, stream: StreamConfig, issues: SemanticIssue[]): void {
  const canonical = CANONICAL_STREAMS[name];
  const base = ['streams', name];
  const isDatabase = config.source.type !== 'files';
  const fieldNames = canonical.fields.map((f) => f.name);

  if (isDatabase && !stream.table) {
    issues.push({
      path: [...base, 'table'],
      message: `stream ${name} needs the source table it is read from`,
      expected: 'a table name',
      example: `table: ${name}`,
    });
  }

  for (const [fieldName, mapping] of Object.entries(stream.columns)) {
    const path = [...base, 'columns', fieldName];
    const field = getField(name, fieldName);
    if (!field) {
      const suggestion = didYouMean(fieldName, fieldNames);
      issues.push({
        path,
        message: `"${fieldName}" is not a field of the canonical ${name} stream${suggestion ? `. Did you mean "${suggestion}"?` : ''}`,
        expected: `one of ${fieldNames.join(', ')}`,
        example: `${suggestion ?? canonical.primaryKey}: <source column>`,
      });
      continue;
    }
    const column = mappedColumn(mapping);
    if (isDatabase && !SAFE_IDENTIFIER.test(column)) {
      issues.push({
        path: typeof mapping === 'string' ? path : [...path, 'column'],
        message: `source column ${JSON.stringify(column)} is not a safe SQL identifier (letters, digits and underscores only; quotes, spaces, dots and semicolons are refused)`,
        expected: 'a plain column name',
        example: `${fieldName}: ${fieldName}`,
      });
    }
    if (typeof mapping === 'string') continue;
    if (mapping.pii === 'keep' && field.personal && !mapping.justification) {
      issues.push({
        path: [...path, 'justification'],
        message: `${name}.${fieldName} is personal data; keeping it in clear needs a justification an auditor can read`,
        expected: 'a sentence of at least 20 characters',
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
          example: 'precision: 18\nscale: 2',
        });
      }
    }
    if (mapping.values) {
      if (!field.values) {
        issues.push({
          path: [...path, 'values'],
          message: `${name}.${fieldName} is not an enumeration; value maps only apply to ${canonical.fields
            .filter((f) => f.values)
            .map((f) => f.name)
            .join(', ')}`,
        });
      } else {
        for (const [from, to] of Object.entries(mapping.values)) {
          if (!field.values.includes(to)) {
            const suggestion = didYouMean(to, field.values);
            issues.push({
              path: [...path, 'values', from],
              message: `"${to}" is not a canonical value of ${name}.${fieldName}${suggestion ? `. Did you mean "${suggestion}"?` : ''}`,
              expected: `one of ${field.values.join(', ')}`,
              example: `${from}: ${suggestion ?? field.values[0]}`,
            });
          }
        }
      }
    }
  }

  for (const required of [canonical.primaryKey, ...(stream.cursor ? [] : [canonical.cursor])]) {
    if (!(required in stream.columns)) {
      issues.push({
        path: [...base, 'columns', required],
        message: `stream ${name} must map its ${required === canonical.primaryKey ? 'primary key' : 'cursor'} field "${required}"`,
        expected: 'the source column holding it',
        example: `${required}: ${required}`,
      });
    }
  }
  if (stream.cursor !== undefined && isDatabase && !SAFE_IDENTIFIER.test(stream.cursor)) {
    issues.push({
      path: [...base, 'cursor'],
      message: `cursor column ${JSON.stringify(stream.cursor)} is not a safe SQL identifier`,
      expected: 'a plain column name',
      example: 'cursor: updated_at',
    });
  }
  if (!isDatabase && stream.table) {
    issues.push({
      path: [...base, 'table'],
      message: 'file-drop streams have no table; files are read from inbound/<stream>/',
      example: `format:\n  type: csv`,
    });
  }
}

/** Cross-field checks; returns every problem found, never stops at the first. */
export function validateSemantics(config: OperatorConfig): SemanticIssue[] {
  const issues: SemanticIssue[] = [];
  const configured = STREAM_NAMES.filter((s) => config.streams[s] !== undefined);
  if (configured.length === 0) {
    issues.push({
      path: ['streams'],
      message: 'the operator provides no stream',
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
        message: 'a file-drop operator needs a way to upload: principals, assumeRole or sftp',
        example: 'fileDrop:\n  principals:\n    - arn:aws:iam::210987654321:role/casino-data-export',
      });
    }
  } else if (config.source.tls === 'disable' && config.stage === 'production') {
    issues.push({
      path: ['source', 'tls'],
      message: 'production sources must use TLS',
      expected: 'verify-full or require',
      example: 'tls: verify-full',
    });
  }
  const sftp = config.fileDrop?.sftp;
  if (sftp?.enabled && (!sftp.userName || sftp.sshPublicKeys.length === 0)) {
    issues.push({
      path: ['fileDrop', 'sftp'],
      message: 'an SFTP endpoint needs the operator user name and at least one public SSH key',
      example:
        'sftp:\n  enabled: true\n  userName: acme-upload\n  sshPublicKeys:\n    - ssh-ed25519 AAAAC3Nza... ops@acme',
    });
  }
  if (config.removalPolicy === 'destroy' && config.stage !== 'sandbox') {
    issues.push({
      path: ['removalPolicy'],
      message:
        'removalPolicy: destroy would delete landed data on `cdk destroy`; it is only accepted for the sandbox stage',
      expected: 'retain',
      example: 'removalPolicy: retain',
    });
  }
  return issues;
}
