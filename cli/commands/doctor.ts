/**
 * `connector doctor [<operator>]`: what stands between this machine and a working deployment, with
 * a fix for each problem: the Node version in use, the installed dependencies, and, for an
 * operator, its config, the AWS identity against the config's account, the CDK bootstrap of the
 * target account and region, and the deployed stack with its outputs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { OperatorConfig } from '#shared/config/schema';
import { clientSettings } from '../aws.ts';
import { defineCommand } from '../command.ts';
import { CliError, type CliIo, EXIT, OPERATOR_HELP, OPERATOR_OPTIONS, printJson } from '../io.ts';
import { stackNames } from '../operator.ts';
import { cloudFormationClient, describeStack, STACK_OUTPUTS } from '../stack.ts';

const HELP = `Usage: connector doctor [<operator>] [--json]

Checks, with a fix for every problem:
  node           the Node.js version running the CLI (22 or newer, as Lambda runs)
  dependencies   node_modules matches package-lock.json (npm ci)
and, for an operator:
  config         the operator's config file is valid (as \`cdk synth\` checks it)
  aws identity   AWS credentials are available, and their account is the config's account
  cdk bootstrap  the target account and region are bootstrapped for CDK (stack CDKToolkit)
  stack          the operator's stack is deployed and healthy, and what it outputs

AWS calls: sts:GetCallerIdentity and cloudformation:DescribeStacks, in the config's region.

Options:
  --json        print {"ok", "checks": [{name, status, message, fix?}], "outputs"}
  -h, --help    show this help

${OPERATOR_HELP}

Exit codes: 0 nothing failed (warnings allowed), 1 a check failed, 2 usage error.`;

/** The oldest bootstrap stack version the CDK of this project deploys with. */
export const MIN_BOOTSTRAP_VERSION = 6;

export type DoctorStatus = 'ok' | 'warn' | 'fail';

/** One finding of `doctor`. */
export interface DoctorCheck {
  readonly name: string;
  readonly status: DoctorStatus;
  readonly message: string;
  /** What to run or change. */
  readonly fix?: string;
}

export interface DoctorReport {
  readonly ok: boolean;
  readonly checks: readonly DoctorCheck[];
  /** The deployed stack's outputs, when it could be read. */
  readonly outputs?: Readonly<Record<string, string>>;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The Node.js version check (`version` like `v22.23.3`). */
export function checkNode(version: string): DoctorCheck {
  const major = Number(/^v(\d+)\./.exec(version)?.[1] ?? 0);
  if (major >= 22) return { name: 'node', status: 'ok', message: `Node.js ${version}` };
  return {
    name: 'node',
    status: 'fail',
    message: `Node.js ${version} runs the CLI; the connector needs 22 or newer (Lambda runs Node 22)`,
    fix: 'run the CLI through npx or npm scripts after `npm ci`: they use the Node 22 the project installs (node_modules/.bin/node)',
  };
}

/** Whether the installed packages are those package-lock.json names (what `npm ci` installs). */
export function checkDependencies(root = ROOT): DoctorCheck {
  const fix = 'run `npm ci` in the repository';
  const lockFile = join(root, 'package-lock.json');
  if (!existsSync(join(root, 'node_modules'))) {
    return { name: 'dependencies', status: 'fail', message: 'node_modules is missing', fix };
  }
  const lock = JSON.parse(readFileSync(lockFile, 'utf8')) as {
    packages?: Record<string, { version?: string; optional?: boolean; dev?: boolean }>;
  };
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
    devDependencies?: Record<string, string>;
  };
  const direct = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})];
  const problems: string[] = [];
  for (const name of direct) {
    const locked = lock.packages?.[`node_modules/${name}`]?.version;
    const file = join(root, 'node_modules', name, 'package.json');
    if (!existsSync(file)) {
      problems.push(`${name} is not installed`);
      continue;
    }
    const installed = (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version;
    if (locked && installed !== locked) problems.push(`${name} is ${installed}, the lock file says ${locked}`);
  }
  if (problems.length > 0) {
    return {
      name: 'dependencies',
      status: 'fail',
      message: `${problems.slice(0, 5).join('; ')}${problems.length > 5 ? ` (and ${problems.length - 5} more)` : ''}`,
      fix,
    };
  }
  return {
    name: 'dependencies',
    status: 'ok',
    message: `${direct.length} direct dependencies installed as package-lock.json locks them`,
  };
}

/** An AWS error name and message, for a finding. */
function awsProblem(e: unknown): { name: string; message: string } {
  return { name: (e as { name?: string }).name ?? 'Error', message: e instanceof Error ? e.message : String(e) };
}

const IDENTITY_FIX =
  'log in to the operator account: `aws sso login --profile <profile>` and `export AWS_PROFILE=<profile>` (or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)';

/** The AWS checks of an operator: identity, bootstrap, stack. */
export async function checkAws(
  config: OperatorConfig,
  io: CliIo,
): Promise<{ checks: DoctorCheck[]; outputs?: Record<string, string> }> {
  const checks: DoctorCheck[] = [];
  const sts = new STSClient(clientSettings(config.region, io, 'STS'));
  let account: string | undefined;
  try {
    const who = await sts.send(new GetCallerIdentityCommand({}));
    account = who.Account;
    if (account === config.account) {
      checks.push({ name: 'aws identity', status: 'ok', message: `${who.Arn} in account ${account}` });
    } else {
      checks.push({
        name: 'aws identity',
        status: 'fail',
        message: `your AWS identity ${who.Arn} is in account ${account}, but ${config.operatorId} (${config.stage}) deploys to account ${config.account}`,
        fix: `use a profile of account ${config.account} (AWS_PROFILE), or correct \`account\` in the config`,
      });
    }
  } catch (e) {
    const p = awsProblem(e);
    checks.push({
      name: 'aws identity',
      status: 'fail',
      message:
        p.name === 'CredentialsProviderError'
          ? 'no AWS credentials found'
          : `the AWS credentials were refused (${p.name}: ${p.message})`,
      fix: IDENTITY_FIX,
    });
  } finally {
    sts.destroy();
  }
  const region = config.region;
  const envRegion = io.env.AWS_REGION ?? io.env.AWS_DEFAULT_REGION;
  if (envRegion && envRegion !== region) {
    checks.push({
      name: 'region',
      status: 'warn',
      message: `AWS_REGION is ${envRegion}, the config's region is ${region}; the connector and \`cdk deploy\` use the config's`,
    });
  }
  if (account !== config.account) {
    // Without the right identity, what CloudFormation says about "the" account would mislead.
    checks.push(
      {
        name: 'cdk bootstrap',
        status: 'warn',
        message: 'not checked: needs an identity in the config account',
      },
      { name: 'stack', status: 'warn', message: 'not checked: needs an identity in the config account' },
    );
    return { checks };
  }

  const cfn = cloudFormationClient(region, io);
  try {
    const bootstrapFix = `npx cdk bootstrap aws://${config.account}/${region}`;
    try {
      const toolkit = await describeStack(cfn, 'CDKToolkit', region);
      const version = Number(toolkit?.outputs.BootstrapVersion ?? Number.NaN);
      if (!toolkit) {
        checks.push({
          name: 'cdk bootstrap',
          status: 'fail',
          message: `account ${config.account} is not bootstrapped for CDK in ${region} (no CDKToolkit stack)`,
          fix: bootstrapFix,
        });
      } else if (!(version >= MIN_BOOTSTRAP_VERSION)) {
        checks.push({
          name: 'cdk bootstrap',
          status: 'fail',
          message: `the CDK bootstrap stack in ${region} is version ${toolkit.outputs.BootstrapVersion ?? 'unknown'}; deployments need ${MIN_BOOTSTRAP_VERSION} or newer`,
          fix: bootstrapFix,
        });
      } else {
        checks.push({ name: 'cdk bootstrap', status: 'ok', message: `CDKToolkit version ${version} in ${region}` });
      }
    } catch (e) {
      checks.push({
        name: 'cdk bootstrap',
        status: 'fail',
        message: `cannot read the CDKToolkit stack: ${e instanceof Error ? e.message : String(e)}`,
        fix: 'your identity needs cloudformation:DescribeStacks in the account',
      });
    }
    const name = stackNames(config).stack;
    try {
      const stack = await describeStack(cfn, name, region);
      if (!stack) {
        checks.push({
          name: 'stack',
          status: 'warn',
          message: `${name} is not deployed yet in ${region}`,
          fix: `npx cdk deploy ${name}`,
        });
        return { checks };
      }
      const healthy = /_COMPLETE$/.test(stack.status) && !/ROLLBACK|DELETE/.test(stack.status);
      const busy = /_IN_PROGRESS$/.test(stack.status);
      checks.push({
        name: 'stack',
        status: healthy ? 'ok' : busy ? 'warn' : 'fail',
        message: `${name} is ${stack.status}${healthy ? `: bucket ${stack.outputs[STACK_OUTPUTS.landingBucket] ?? '?'}, sync state ${stack.outputs[STACK_OUTPUTS.syncStateTable] ?? '?'}` : ''}`,
        ...(healthy || busy
          ? {}
          : {
              fix: `read the failed events (aws cloudformation describe-stack-events --stack-name ${name} --region ${region}), fix the cause and run \`npx cdk deploy ${name}\` again`,
            }),
      });
      return { checks, outputs: { ...stack.outputs } };
    } catch (e) {
      checks.push({
        name: 'stack',
        status: 'fail',
        message: `cannot read stack ${name}: ${e instanceof Error ? e.message : String(e)}`,
        fix: 'your identity needs cloudformation:DescribeStacks in the account',
      });
      return { checks };
    }
  } finally {
    cfn.destroy();
  }
}

const MARK: Record<DoctorStatus, string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' };

/** The report as text. */
export function formatDoctor(report: DoctorReport): string {
  const lines = report.checks.map((c) => {
    const head = `${MARK[c.status]}  ${c.name}: ${c.message}`;
    return c.fix ? `${head}\n        fix: ${c.fix}` : head;
  });
  if (report.outputs && Object.keys(report.outputs).length > 0) {
    const width = Math.max(...Object.keys(report.outputs).map((k) => k.length));
    lines.push('', 'Stack outputs:');
    for (const [key, value] of Object.entries(report.outputs).sort()) lines.push(`  ${key.padEnd(width)}  ${value}`);
  }
  const failed = report.checks.filter((c) => c.status === 'fail').length;
  lines.push('', failed === 0 ? 'No problems found.' : `${failed} problem(s) found.`);
  return `${lines.join('\n')}\n`;
}

export const doctorCommand = defineCommand({
  name: 'doctor',
  summary: 'check the toolchain, AWS identity, CDK bootstrap and deployed stack, with a fix for each problem',
  help: HELP,
  options: { ...OPERATOR_OPTIONS, json: { type: 'boolean' } },
  async run({ values, positionals, io, operator }) {
    const checks: DoctorCheck[] = [checkNode(process.version), checkDependencies()];
    let outputs: Record<string, string> | undefined;
    if (positionals[0] !== undefined || values.config !== undefined) {
      let config: OperatorConfig | undefined;
      try {
        config = operator().config;
        checks.push({ name: 'config', status: 'ok', message: `${config.operatorId} (${config.stage}): valid` });
      } catch (e) {
        if (!(e instanceof CliError) || e.exitCode === EXIT.usage) throw e;
        checks.push({
          name: 'config',
          status: 'fail',
          message: e.message.split('\n')[0] ?? e.message,
          fix: '`connector validate` prints every problem with an example',
        });
      }
      if (config) {
        io.err(`asking AWS who you are and what is deployed in ${config.account}/${config.region}…\n`);
        const aws = await checkAws(config, io);
        checks.push(...aws.checks);
        outputs = aws.outputs;
      }
    }
    const report: DoctorReport = {
      ok: checks.every((c) => c.status !== 'fail'),
      checks,
      ...(outputs ? { outputs } : {}),
    };
    if (values.json) printJson(io, report);
    else io.out(formatDoctor(report));
    return report.ok ? EXIT.ok : EXIT.problems;
  },
});
