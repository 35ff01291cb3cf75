/** Config texts and helpers shared by the config tests. */
import { expect } from 'vitest';
import { type ConfigIssue, formatIssues, parseOperatorConfig } from '#shared/config/load';

/** The file name every in-memory config is reported under. */
export const FILE = 'config/operators/test-op.yaml';

/** A valid production config read from PostgreSQL; cases change one thing in it. */
export const PG = `operatorId: test-op
displayName: Test Operator
stage: production
account: "123456789012"
region: eu-west-1
source:
  type: postgres
  host: db.example.com
  database: casino
  network:
    mode: created
streams:
  payments:
    table: payments
    columns:
      payment_id: id
      player_id: player_id
      amount: amount
      status:
        column: state
        values: { OK: approved, KO: declined }
      updated_at: updated_at
`;

/** A valid file-drop config. */
export const FILES = `operatorId: test-drop
displayName: Test Drop
stage: sandbox
account: "123456789012"
region: eu-west-1
source:
  type: files
fileDrop:
  principals:
    - arn:aws:iam::210987654321:role/casino-data-export
streams:
  players:
    columns:
      player_id: customer_id
      updated_at: modified_ts
`;

/** `text` with `from` replaced by `to`; fails loudly when `from` is not there (a broken fixture). */
export function edit(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`fixture does not contain ${JSON.stringify(from)}`);
  return text.replace(from, to);
}

/** 1-based line of the first line containing `needle`. */
export function lineOf(text: string, needle: string): number {
  const index = text.split('\n').findIndex((l) => l.includes(needle));
  if (index < 0) throw new Error(`fixture does not contain ${JSON.stringify(needle)}`);
  return index + 1;
}

/** Parses a config that must be invalid; returns its issues and the printed message. */
export function invalid(text: string, file = FILE): { issues: ConfigIssue[]; message: string } {
  const result = parseOperatorConfig(text, file);
  expect(result.config, 'an invalid config must not produce a config').toBeUndefined();
  expect(result.issues.length).toBeGreaterThan(0);
  return { issues: result.issues, message: formatIssues(result.issues) };
}

export interface ExpectedIssue {
  /** Path as printed, e.g. `incremental.lookbackMinuts`. */
  readonly path: string;
  readonly line?: number;
  /** Fragments the message must contain. */
  readonly message: readonly (string | RegExp)[];
  /** Fragment of the expectation. */
  readonly expected?: string | RegExp;
  /** Fragments of the example (as printed, nested under its parent keys). */
  readonly example?: readonly string[];
}

/**
 * Asserts that `text` is refused with an issue at `want.path`, and that the printed message names
 * the file, the line and the path and carries the expectation and a valid example.
 */
export function expectIssue(text: string, want: ExpectedIssue): ConfigIssue {
  const { issues, message } = invalid(text);
  const issue = issues.find((i) => i.path === want.path);
  expect(issue, `no issue at ${want.path} in:\n${message}`).toBeDefined();
  if (!issue) throw new Error('unreachable');
  expect(issue.file).toBe(FILE);
  if (want.line !== undefined) {
    expect(issue.line, message).toBe(want.line);
    expect(message).toContain(`${FILE}:${want.line}`);
  }
  expect(message).toContain(`: ${want.path}: `);
  for (const fragment of want.message) {
    if (typeof fragment === 'string') expect(issue.message).toContain(fragment);
    else expect(issue.message).toMatch(fragment);
  }
  expect(issue.expected, `no expectation in:\n${message}`).toBeTruthy();
  if (want.expected !== undefined) {
    if (typeof want.expected === 'string') expect(issue.expected).toContain(want.expected);
    else expect(issue.expected).toMatch(want.expected);
  }
  expect(issue.example, `no example in:\n${message}`).toBeTruthy();
  for (const fragment of want.example ?? []) expect(issue.example).toContain(fragment);
  return issue;
}
