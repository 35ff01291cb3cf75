/**
 * `connector`: onboarding and operations of the iGaming data connector.
 *
 * ```
 * npx connector validate
 * npx connector grant-sql acme-casino > grant.sql
 * npx connector check acme-casino
 * ```
 *
 * Results go to stdout, progress and errors to stderr; every command documents its exit codes
 * (0 ok, 1 problems found, 2 usage error, 3 cannot connect, 4 AWS call failed).
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { didYouMean } from '#shared/config/did-you-mean';
import { commands } from './commands/index.ts';
import { CliError, type CliIo, EXIT, type ExitCode } from './io.ts';

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return `Usage: connector <command> [options]

Onboarding and operations of the iGaming data connector.

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run \`connector <command> --help\` for a command's options, \`connector --version\` for the version.
With --json, results and errors are JSON on stdout.

Exit codes: 0 ok, 1 problems found, 2 usage error, 3 cannot connect to the source database,
4 an AWS call failed.`;
}

/** The version of the connector (package.json), e.g. `0.1.0`. */
export function connectorVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

/** Whether the command line asks for JSON output (`--json` before any `--`). */
function wantsJson(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).includes('--json');
}

/**
 * A failure as text on stderr and, when the command line asked for `--json`, also as one JSON
 * object on stdout (`{"ok": false, "error": {command, exitCode, name, message}}`), so a script
 * that parses stdout always gets JSON.
 */
function fail(
  io: CliIo,
  json: boolean,
  command: string | undefined,
  exitCode: ExitCode,
  message: string,
  name = 'CliError',
): ExitCode {
  io.err(`${message}\n`);
  if (json) io.out(`${JSON.stringify({ ok: false, error: { command: command ?? null, exitCode, name, message } })}\n`);
  return exitCode;
}

/** Runs one command line (without `node` and the script) and returns its exit code; never throws. */
export async function main(argv: readonly string[], io: CliIo): Promise<ExitCode> {
  const [name, ...rest] = argv;
  const json = wantsJson(argv);
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(`${usage()}\n`);
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    const version = connectorVersion();
    io.out(
      json
        ? `${JSON.stringify({ version, node: process.version })}\n`
        : `connector ${version} (node ${process.version})\n`,
    );
    return EXIT.ok;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    const suggestion = name.startsWith('-')
      ? undefined
      : didYouMean(
          name,
          commands.map((c) => c.name),
        );
    return fail(
      io,
      json,
      undefined,
      EXIT.usage,
      `connector: unknown ${name.startsWith('-') ? 'option' : 'command'} "${name}"${suggestion ? `; did you mean \`connector ${suggestion}\`?` : ''}\n\n${usage()}`,
      'UsageError',
    );
  }
  try {
    return await command.run(rest, io);
  } catch (e) {
    if (e instanceof CliError) return fail(io, json, name, e.exitCode, e.message, e.name);
    return fail(
      io,
      json,
      name,
      EXIT.problems,
      `connector ${name}: unexpected error: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`,
      'UnexpectedError',
    );
  }
}

/** The process's standard streams and environment. */
export function processIo(): CliIo {
  return {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    env: process.env,
    cwd: process.cwd(),
    interactive: process.stdout.isTTY === true,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href || process.env.CONNECTOR_CLI_MAIN === '1') {
  process.exitCode = await main(process.argv.slice(2), processIo());
}
