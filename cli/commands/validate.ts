/** `connector validate [files…]`: the same checks and messages as `cdk synth`, without synthesizing. */
import { resolve } from 'node:path';
import { ConfigError, type ConfigIssue, listConfigFiles, loadOperatorConfigFiles } from '#shared/config/load';
import { defineCommand } from '../command.ts';
import { CliError, COMMON_OPTIONS, EXIT, printJson } from '../io.ts';
import { configDir } from '../operator.ts';

const HELP = `Usage: connector validate [files…] [--json]

Validates operator config files with the same rules and messages as \`cdk synth\`: every problem
names the file, the line, the path inside the file, what was expected and a valid example.

Arguments:
  files…        config files to check (default: every *.yaml in config/operators, or CONNECTOR_CONFIG_DIR)

Options:
  --json        print {"ok", "files": [{file, operatorId, stage, streams}], "issues": [...]} on stdout
  -h, --help    show this help

Exit codes: 0 every file is valid, 1 problems found, 2 usage error.`;

export const validateCommand = defineCommand({
  name: 'validate',
  summary: 'check operator config files (same messages as synth)',
  help: HELP,
  options: { ...COMMON_OPTIONS, json: { type: 'boolean' } },
  async run({ values, positionals, io }) {
    let files: string[];
    try {
      files = positionals.length > 0 ? positionals.map((f) => resolve(io.cwd, f)) : listConfigFiles(configDir(io));
    } catch (e) {
      if (e instanceof ConfigError) throw new CliError(e.message, EXIT.usage, { cause: e });
      throw e;
    }
    if (files.length === 0) throw new CliError(`validate: no *.yaml files in ${configDir(io)}`, EXIT.usage);
    let issues: readonly ConfigIssue[] = [];
    let loaded: ReturnType<typeof loadOperatorConfigFiles> = [];
    try {
      loaded = loadOperatorConfigFiles(files, io.cwd);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      issues = e.issues;
      if (!values.json) io.err(`${e.message}\n`);
    }
    const valid = loaded.map(({ file, config }) => ({
      file,
      operatorId: config.operatorId,
      stage: config.stage,
      source: config.source.type,
      streams: Object.keys(config.streams),
    }));
    if (values.json) {
      printJson(io, { ok: issues.length === 0, files: valid, issues });
    } else if (issues.length === 0) {
      for (const v of valid) {
        io.out(`ok  ${v.file}: ${v.operatorId} (${v.stage}), ${v.source} source, ${v.streams.length} stream(s)\n`);
      }
    }
    return issues.length === 0 ? EXIT.ok : EXIT.problems;
  },
});
