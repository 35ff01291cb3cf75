/**
 * The scaffold every command is defined with: its options are parsed (a bad option is a usage
 * error naming the command), `--help` prints its help, and the operator it acts on is looked up
 * from the first argument and the selection options when the command asks for it. What is left to
 * a command is what it does; errors it throws reach `main` (connector.ts), which prints them (and
 * with `--json` also as JSON on stdout) and returns their exit code.
 */
import type { ParseArgsConfig } from 'node:util';
import type { LoadedConfig } from '#shared/config/load';
import type { OperatorConfig } from '#shared/config/schema';
import { CliError, type CliIo, type Command, EXIT, type ExitCode, parse } from './io.ts';
import { findOperator } from './operator.ts';
import { connect, connectTimeout, operatorCredentials } from './source.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/** The parsed command line of a command with options `O`. */
export type ParsedCommandLine<O extends Options> = ReturnType<typeof parse<O>>;

/** What a command's `run` gets. */
export interface CommandContext<O extends Options> {
  /** Option values, typed by the command's options. */
  readonly values: ParsedCommandLine<O>['values'];
  readonly positionals: ParsedCommandLine<O>['positionals'];
  readonly io: CliIo;
  /**
   * The config of the operator the command line names: the first argument (or `operator`) with
   * `--stage`, `--config` and `--config-dir` (see operator.ts). Unknown operators, several stages
   * and invalid configs are errors that say what to do.
   * @param as the command's name in the messages @default the command's name
   */
  operator(options?: { readonly operator?: string | undefined; readonly as?: string }): LoadedConfig;
}

export interface CommandDefinition<O extends Options> {
  /** The word after `connector`. */
  readonly name: string;
  /** One line for `connector --help`. */
  readonly summary: string;
  /** What `connector <name> --help` prints. */
  readonly help: string;
  /** `parseArgs` options; include COMMON_OPTIONS (or OPERATOR_OPTIONS) for `--help`. */
  readonly options: O;
  /**
   * Parses the command line instead of `parse(name, args, options)` (a command that needs a
   * custom parser); `options` is then what it accepts.
   */
  readonly parse?: (args: readonly string[]) => ParsedCommandLine<O>;
  run(context: CommandContext<O>): Promise<ExitCode>;
}

/** A {@link Command} from its definition. */
export function defineCommand<const O extends Options>(definition: CommandDefinition<O>): Command {
  const { name, summary, help, options } = definition;
  return {
    name,
    summary,
    help,
    async run(args: readonly string[], io: CliIo): Promise<ExitCode> {
      const { values, positionals } = definition.parse ? definition.parse(args) : parse(name, args, options);
      if ((values as { help?: boolean }).help) {
        io.out(`${help}\n`);
        return EXIT.ok;
      }
      const selection = values as { stage?: string; config?: string; 'config-dir'?: string };
      return definition.run({
        values,
        positionals,
        io,
        operator: (which = {}) =>
          findOperator(
            which.as ?? name,
            {
              stage: selection.stage,
              config: selection.config,
              'config-dir': selection['config-dir'],
              operator: 'operator' in which ? which.operator : positionals[0],
            },
            io,
          ),
      });
    },
  };
}

/** The operator's database settings; a file-drop operator is refused with `<command>: operator <id> drops files; <why>`. */
export function databaseSource(
  command: string,
  config: OperatorConfig,
  why: string,
): Exclude<OperatorConfig['source'], { type: 'files' }> {
  if (config.source.type === 'files') {
    throw new CliError(`${command}: operator ${config.operatorId} drops files; ${why}`, EXIT.problems);
  }
  return config.source;
}

/**
 * Opens the operator's database as the commands that work on it do (check, run): a file-drop
 * operator is refused (see {@link databaseSource}), credentials come from `--url`,
 * `CONNECTOR_SOURCE_URL` or the operator's secret, a progress line names where it connects and
 * where the credentials came from, and the connect timeout is `--timeout`'s or the URL's.
 */
export async function openOperatorSource(
  command: string,
  config: OperatorConfig,
  io: CliIo,
  options: {
    /** Why a file-drop operator is refused, e.g. `there is no database to check`. */
    readonly noDatabase: string;
    readonly url: string | undefined;
    readonly timeout: string | undefined;
    /** Set the config's statement timeout on the session. @default false */
    readonly statementTimeout?: boolean;
  },
) {
  const source = databaseSource(command, config, options.noDatabase);
  const { credentials, from } = await operatorCredentials(config, options.url, io, command);
  io.err(
    `connecting to ${credentials.engine} at ${credentials.host}:${credentials.port}/${credentials.database} (credentials from ${from})…\n`,
  );
  const connection = await connect(credentials, {
    operatorId: config.operatorId,
    timeZone: source.timeZone,
    ...(options.statementTimeout ? { statementTimeoutSeconds: source.statementTimeoutSeconds } : {}),
    connectTimeoutSeconds: connectTimeout(command, options.timeout, options.url ?? io.env.CONNECTOR_SOURCE_URL),
  });
  return { connection, credentials };
}
