/**
 * What every command shares: where output goes, exit codes, errors that carry their exit code, and
 * argument parsing with `node:util` `parseArgs` that turns a bad option into a usage error.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { didYouMean } from '#shared/config/did-you-mean';

/** Documented exit codes of every command. */
export const EXIT = {
  /** Everything is fine. */
  ok: 0,
  /** The command ran and found problems (invalid config, a failed check). */
  problems: 1,
  /** The command line is wrong (unknown command or option, missing argument). */
  usage: 2,
  /** The source database cannot be reached or refuses the credentials. */
  cannotConnect: 3,
  /** An AWS call failed (Secrets Manager, Step Functions, DynamoDB): credentials, permissions, missing resource. */
  aws: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Where a command reads and writes; the entry point binds it to the process, tests to buffers. */
export interface CliIo {
  /** Results (what a script may parse). */
  readonly out: (text: string) => void;
  /** Progress, warnings and errors. */
  readonly err: (text: string) => void;
  /** The whole of standard input. */
  readonly readStdin: () => Promise<string>;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Directory relative paths are resolved against. */
  readonly cwd: string;
  /** Whether stdout is a terminal (`status --watch` then redraws the screen). */
  readonly interactive?: boolean;
  /**
   * Waits between refreshes of `--watch`; resolves false to stop (Ctrl-C).
   * @default a timer that SIGINT ends
   */
  readonly sleep?: (ms: number) => Promise<boolean>;
}

/** A failure that ends the command with `exitCode`; `message` says what to do. */
export class CliError extends Error {
  override readonly name: string = 'CliError';
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A wrong command line (exit 2). */
export class UsageError extends CliError {
  override readonly name: string = 'UsageError';
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

/** The options every command takes. */
export const COMMON_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

/** Options of the commands that act on one operator. */
export const OPERATOR_OPTIONS = {
  ...COMMON_OPTIONS,
  stage: { type: 'string' },
  config: { type: 'string' },
  'config-dir': { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

/** What a parseArgs error says, in the CLI's words (Node's own text speaks of its parser, not of this command). */
export function parseErrorMessage(command: string, error: unknown, optionNames: readonly string[]): string {
  const e = error as { code?: string; message?: string };
  const message = e.message ?? String(error);
  const help = `see \`connector ${command} --help\``;
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const option = /^Unknown option '([^']+)'/.exec(message)?.[1] ?? '';
    const name = option.replace(/^-+/, '').split('=')[0] ?? '';
    const suggestion = name === '' ? undefined : didYouMean(name, optionNames);
    return `${command}: unknown option ${option}${suggestion ? `; did you mean --${suggestion}?` : ''} (${help}; a value that starts with "-" goes after "--")`;
  }
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const missing = /^Option '(-[^ ']+)(?:, (-[^ ']+))? <value>' argument missing/.exec(message);
    if (missing) return `${command}: option ${missing[2] ?? missing[1]} needs a value (${help})`;
    const noValue = /^Option '(-[^ ']+)(?:, (-[^ ']+))?' does not take an argument/.exec(message);
    if (noValue) return `${command}: option ${noValue[2] ?? noValue[1]} takes no value (${help})`;
  }
  if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    const arg = /^Unexpected argument '([^']+)'/.exec(message)?.[1];
    return `${command}: unexpected argument${arg ? ` ${arg}` : ''} (${help})`;
  }
  return `${command}: ${message.split('. ')[0]} (${help})`;
}

/** `parseArgs` in strict mode, with its errors turned into usage errors naming the command. */
export function parse<const O extends NonNullable<ParseArgsConfig['options']>>(
  command: string,
  args: readonly string[],
  options: O,
) {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(parseErrorMessage(command, e, Object.keys(options)));
  }
}

/** A JSON document on standard output. */
export function printJson(io: CliIo, value: unknown): void {
  io.out(`${JSON.stringify(value, null, 2)}\n`);
}

/** A command: its one-line summary, its help text, and what it does. */
export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly help: string;
  run(args: readonly string[], io: CliIo): Promise<ExitCode>;
}

/** The lines every operator command's help ends with. */
export const OPERATOR_HELP = `Operator selection:
  <operator>            operatorId of a file in the config directory
  --stage S             sandbox or production, when the operator has a file for each
  --config FILE         read this config file instead of looking the operator up
  --config-dir DIR      directory of operator configs (default: config/operators, or CONNECTOR_CONFIG_DIR)`;

/** Seconds as `1h 05m`, `4m 10s` or `12s`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

/** A count with thousands separators. */
export function formatCount(n: number | bigint): string {
  return n.toLocaleString('en-US');
}
