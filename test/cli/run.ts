/** Runs the CLI in-process with captured output, a given stdin and environment. */
import { main } from '../../cli/connector.ts';

export interface CliRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

export async function runCli(
  argv: readonly string[],
  options: {
    stdin?: string;
    env?: Record<string, string | undefined>;
    cwd?: string;
    /** Replaces the wait of `--watch` (return false to stop). */
    sleep?: (ms: number) => Promise<boolean>;
  } = {},
): Promise<CliRun> {
  let out = '';
  let err = '';
  const code = await main(argv, {
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
    readStdin: async () => options.stdin ?? '',
    env: { AWS_REGION: 'eu-west-1', ...options.env },
    cwd: options.cwd ?? process.cwd(),
    ...(options.sleep ? { sleep: options.sleep } : {}),
  });
  return { code, out, err };
}
