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
import { pathToFileURL } from 'node:url';
import { commands } from './commands/index.ts';
import { CliError, type CliIo, EXIT, type ExitCode } from './io.ts';

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return `Usage: connector <command> [options]

Onboarding and operations of the iGaming data connector.

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run \`connector <command> --help\` for a command's options.

Exit codes: 0 ok, 1 problems found, 2 usage error, 3 cannot connect to the source database,
4 an AWS call failed.`;
}

/** Runs one command line (without `node` and the script) and returns its exit code; never throws. */
export async function main(argv: readonly string[], io: CliIo): Promise<ExitCode> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(`${usage()}\n`);
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    io.err(`connector: unknown command "${name}"\n\n${usage()}\n`);
    return EXIT.usage;
  }
  try {
    return await command.run(rest, io);
  } catch (e) {
    if (e instanceof CliError) {
      io.err(`${e.message}\n`);
      return e.exitCode;
    }
    io.err(`connector ${name}: unexpected error: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}\n`);
    return EXIT.problems;
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
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href || process.env.CONNECTOR_CLI_MAIN === '1') {
  process.exitCode = await main(process.argv.slice(2), processIo());
}
