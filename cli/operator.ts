/**
 * Finds an operator's validated config and the names of what its stack deploys (stack, secret,
 * state machines, Glue database), the same names the CDK code gives them.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { didYouMean } from '#shared/config/did-you-mean';
import { ConfigError, type LoadedConfig, listConfigFiles, loadOperatorConfigFiles } from '#shared/config/load';
import type { OperatorConfig } from '#shared/config/schema';
import { CliError, type CliIo, EXIT, UsageError } from './io.ts';

/** The operator options of a parsed command line. */
export interface OperatorSelection {
  readonly operator: string | undefined;
  readonly stage?: string | undefined;
  readonly config?: string | undefined;
  readonly 'config-dir'?: string | undefined;
}

/** Default directory of operator configs (as `bin/app.ts`). */
export function configDir(io: CliIo, explicit?: string): string {
  return resolve(io.cwd, explicit ?? io.env.CONNECTOR_CONFIG_DIR ?? 'config/operators');
}

function load(files: readonly string[], io: CliIo): LoadedConfig[] {
  try {
    return loadOperatorConfigFiles(files, io.cwd);
  } catch (e) {
    if (e instanceof ConfigError) {
      throw new CliError(`${e.message}\nFix the config (see \`connector validate\`) and try again.`, EXIT.problems, {
        cause: e,
      });
    }
    throw e;
  }
}

/**
 * The config of `operator` (and `stage`): the file given with `--config`, or the one file of the
 * config directory with that operatorId. Only the matching files are validated, so a problem in
 * another operator's file does not block this one.
 */
export function findOperator(command: string, sel: OperatorSelection, io: CliIo): LoadedConfig {
  if (sel.stage !== undefined && sel.stage !== 'sandbox' && sel.stage !== 'production') {
    throw new UsageError(`${command}: --stage must be sandbox or production, got ${JSON.stringify(sel.stage)}`);
  }
  if (sel.config) {
    const [loaded] = load([resolve(io.cwd, sel.config)], io);
    if (!loaded) throw new UsageError(`${command}: ${sel.config} holds no operator config`);
    if (sel.operator && loaded.config.operatorId !== sel.operator) {
      throw new UsageError(
        `${command}: ${loaded.file} is the config of "${loaded.config.operatorId}", not "${sel.operator}"`,
      );
    }
    return loaded;
  }
  if (!sel.operator) {
    throw new UsageError(`${command}: name the operator, e.g. \`connector ${command} acme-casino\``);
  }
  const dir = configDir(io, sel['config-dir']);
  let files: string[];
  try {
    files = listConfigFiles(dir);
  } catch (e) {
    throw new CliError((e as Error).message, EXIT.usage, { cause: e });
  }
  // Cheap pre-filter on the operatorId line; the matching files are then fully validated.
  const pattern = new RegExp(`^operatorId:\\s*["']?${sel.operator.replace(/[^a-z0-9-]/g, '')}["']?\\s*(#.*)?$`, 'm');
  const candidates = files.filter((f) => {
    try {
      return pattern.test(readText(f));
    } catch {
      return false;
    }
  });
  const matches = load(candidates, io).filter(
    (l) => l.config.operatorId === sel.operator && (sel.stage === undefined || l.config.stage === sel.stage),
  );
  if (matches.length === 0) {
    const all = load(files, io);
    const known = all.map((l) => `${l.config.operatorId} (${l.config.stage})`);
    const suggestion = didYouMean(sel.operator, [...new Set(all.map((l) => l.config.operatorId))]);
    throw new UsageError(
      `${command}: no config for operator "${sel.operator}"${sel.stage ? ` and stage ${sel.stage}` : ''} in ${dir}${suggestion && suggestion !== sel.operator ? `; did you mean ${suggestion}?` : ''}; known: ${known.join(', ') || 'none'}`,
    );
  }
  if (matches.length > 1) {
    throw new UsageError(
      `${command}: operator "${sel.operator}" has a config per stage (${matches.map((m) => m.config.stage).join(', ')}); choose one with --stage`,
    );
  }
  return matches[0]!;
}

function readText(file: string): string {
  return readFileSync(file, 'utf8');
}

/** Names of the deployed resources of an operator's stack. */
export interface StackNames {
  /** CloudFormation stack `<operatorId>-<stage>`. */
  readonly stack: string;
  /** Secrets Manager secret of the source credentials. */
  readonly secret: string;
  readonly snapshotStateMachine: string;
  readonly incrementalStateMachine: string;
  readonly glueDatabase: string;
}

/**
 * The names `lib/` gives an operator's resources (`operatorStackName`, `SourceCredentials`,
 * `Pipeline`, `glueDatabaseName`); repeated here so the CLI starts without loading the CDK, and
 * kept equal by a test.
 */
export function stackNames(config: Pick<OperatorConfig, 'operatorId' | 'stage'>): StackNames {
  const stack = `${config.operatorId}-${config.stage}`;
  return {
    stack,
    secret: `connector/${config.operatorId}-${config.stage}/source`,
    snapshotStateMachine: `${stack}-snapshot`,
    incrementalStateMachine: `${stack}-incremental`,
    glueDatabase: `connector_${config.operatorId.replaceAll('-', '_')}_${config.stage}`,
  };
}

/** The ARN of a state machine of the operator's account and region. */
export function stateMachineArn(config: Pick<OperatorConfig, 'account' | 'region'>, name: string): string {
  const partition = config.region.startsWith('cn-')
    ? 'aws-cn'
    : config.region.startsWith('us-gov-')
      ? 'aws-us-gov'
      : 'aws';
  return `arn:${partition}:states:${config.region}:${config.account}:stateMachine:${name}`;
}
