/**
 * `connector snapshot <operator>` and `connector replay <operator> --stream S --from D --to D`:
 * start an execution of the operator's snapshot state machine. Both are idempotent with what has
 * already landed: object keys are deterministic, and a resumed snapshot only runs the windows
 * that are not done.
 */
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { OperatorConfig } from '#shared/config/schema';
import type { SnapshotRequest } from '#shared/contracts/steps';
import { databaseStreams } from '#shared/pipeline/snapshot';
import { awsError, clientSettings } from '../aws.ts';
import { defineCommand } from '../command.ts';
import {
  CliError,
  type CliIo,
  EXIT,
  type ExitCode,
  OPERATOR_HELP,
  OPERATOR_OPTIONS,
  printJson,
  UsageError,
} from '../io.ts';
import { stackNames, stateMachineArn } from '../operator.ts';

const SNAPSHOT_HELP = `Usage: connector snapshot <operator> [--resume SNAPSHOT_ID] [--json]

Starts the operator's snapshot state machine (<operator>-<stage>-snapshot): a new snapshot of the
last snapshot.days days of every database stream (input {}), or, with --resume, the windows of an
earlier snapshot that are not done yet (input {"snapshotId": …}). Re-running is safe: windows
overwrite their own objects and finished windows are skipped.

Options:
  --resume ID    resume this snapshot (see \`connector status\`)
  --json         print {"executionArn", "startDate", "input"}
  -h, --help     show this help

${OPERATOR_HELP}

Exit codes: 0 started, 1 the operator has no database streams, 2 usage error, 4 Step Functions refused.`;

const REPLAY_HELP = `Usage: connector replay <operator> --stream S [--stream S…] --from DATE --to DATE [--json]

Re-extracts a time range of some streams under a new snapshot id (e.g. after a mapping fix or an
operator-side correction): starts the snapshot state machine with
{"from": …, "to": …, "streams": […]}. from is rounded down and to up to whole hours; to is
capped at the snapshot cutoff. Rows land again under the new snapshot id (their _run_id) with a
later read time. Once the replay has completed, each stream's table in Athena (<stream>, one row
per key: its latest version by _cursor_us, then _source_seq) holds the replayed version of every
key in the range, unless a newer version of the key has landed since; no key is counted twice.

Options:
  --stream S     a configured stream; repeatable
  --from DATE    start, inclusive: 2025-01-31 or 2025-01-31T06:00:00Z
  --to DATE      end, exclusive
  --json         print {"executionArn", "startDate", "input"}
  -h, --help     show this help

${OPERATOR_HELP}

Exit codes: 0 started, 1 nothing to replay, 2 usage error, 4 Step Functions refused.`;

/** A date or instant argument as ISO-8601 UTC; a bare date is midnight UTC. */
export function parseInstant(value: string, option: string): string {
  const text = /^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value;
  const d = new Date(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(d.getTime())) {
    throw new UsageError(
      `replay: ${option} must be a date like 2025-01-31 or an instant like 2025-01-31T06:00:00Z, got ${JSON.stringify(value)}`,
    );
  }
  return d.toISOString();
}

/** Starts the snapshot state machine with `input`. */
export async function startSnapshotExecution(
  config: OperatorConfig,
  input: SnapshotRequest,
  io: CliIo,
  json: boolean,
): Promise<ExitCode> {
  const names = stackNames(config);
  const arn = stateMachineArn(config, names.snapshotStateMachine);
  const client = new SFNClient(clientSettings(config.region, io, 'SFN'));
  io.err(`starting ${names.snapshotStateMachine} with ${JSON.stringify(input)}…\n`);
  try {
    const out = await client.send(new StartExecutionCommand({ stateMachineArn: arn, input: JSON.stringify(input) }));
    const result = { executionArn: out.executionArn ?? null, startDate: out.startDate?.toISOString() ?? null, input };
    if (json) {
      printJson(io, result);
    } else {
      io.out(
        `Started ${result.executionArn} at ${result.startDate}.\n` +
          `Follow it with: npx connector status ${config.operatorId}${config.stage === 'production' ? ' --stage production' : ''} --watch\n` +
          `  or: aws stepfunctions describe-execution --execution-arn ${result.executionArn} --region ${config.region}\n`,
      );
    }
    return EXIT.ok;
  } catch (e) {
    throw awsError(`starting ${names.snapshotStateMachine}`, e);
  } finally {
    client.destroy();
  }
}

function requireDatabase(config: OperatorConfig, command: string): void {
  if (databaseStreams(config).length === 0) {
    throw new CliError(
      `${command}: operator ${config.operatorId} has no database streams (source.type: ${config.source.type}); file drops land as they arrive`,
      EXIT.problems,
    );
  }
}

export const snapshotCommand = defineCommand({
  name: 'snapshot',
  summary: 'start (or resume) the snapshot of an operator',
  help: SNAPSHOT_HELP,
  options: {
    ...OPERATOR_OPTIONS,
    resume: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run({ values, io, operator }) {
    const { config } = operator();
    requireDatabase(config, 'snapshot');
    if (values.resume !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_.=-]{0,199}$/.test(values.resume)) {
      throw new UsageError(
        'snapshot: --resume takes a snapshot id like snap-20250131T0600Z-1a2b3c4d (see `connector status`)',
      );
    }
    const input: SnapshotRequest = values.resume !== undefined ? { snapshotId: values.resume } : {};
    return startSnapshotExecution(config, input, io, values.json === true);
  },
});

export const replayCommand = defineCommand({
  name: 'replay',
  summary: 'extract a time range of some streams again',
  help: REPLAY_HELP,
  options: {
    ...OPERATOR_OPTIONS,
    stream: { type: 'string', multiple: true },
    from: { type: 'string' },
    to: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run({ values, io, operator }) {
    const { config } = operator();
    requireDatabase(config, 'replay');
    const configured = databaseStreams(config);
    const streams = values.stream ?? [];
    if (streams.length === 0)
      throw new UsageError(`replay: name the streams with --stream (configured: ${configured.join(', ')})`);
    const unknown = streams.filter((s) => !(configured as string[]).includes(s));
    if (unknown.length > 0) {
      throw new UsageError(
        `replay: ${unknown.join(', ')} not configured for ${config.operatorId}; configured: ${configured.join(', ')}`,
      );
    }
    if (!values.from || !values.to) throw new UsageError('replay: give the range with --from and --to');
    const from = parseInstant(values.from, '--from');
    const to = parseInstant(values.to, '--to');
    if (from >= to) throw new UsageError(`replay: --from (${from}) must be before --to (${to})`);
    return startSnapshotExecution(config, { from, to, streams: [...new Set(streams)] }, io, values.json === true);
  },
});
