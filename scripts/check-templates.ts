/**
 * The template checks of CI: synthesizes every example operator (config/operators) and every
 * template fixture (test/fixtures/operators: the file-drop variants with an upload role and SFTP)
 * with bin/app.ts, as `cdk synth` runs it, then
 * - lints every template with cfn-lint (any error fails; warnings are printed), and
 * - validates every state machine definition, resolved from its template, with asl-validator.
 *
 * Usage: npm run check:templates
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { type CfnTemplate, findStateMachines, resolveDefinition } from '../local/cfn-resolve.ts';

const ROOT = resolve(import.meta.dirname, '..');
const CONFIG_DIRS = ['config/operators', 'test/fixtures/operators'];
const OUT = join(ROOT, '.tmp', 'templates');

type AslValidator = (
  definition: unknown,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => { isValid: boolean; errors: { message?: string; path?: string; 'Error code'?: string }[] };
const validateAsl = createRequire(import.meta.url)('asl-validator') as AslValidator;

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

const context = (JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')) as { context: unknown }).context;
rmSync(OUT, { recursive: true, force: true });
const templates: { file: string; stackName: string; account: string; region: string }[] = [];
for (const dir of CONFIG_DIRS) {
  const outdir = join(OUT, dir.replaceAll('/', '_'));
  mkdirSync(outdir, { recursive: true });
  const synth = spawnSync(process.execPath, ['--import', 'tsx', 'bin/app.ts'], {
    cwd: ROOT,
    env: { ...process.env, CONNECTOR_CONFIG_DIR: dir, CDK_OUTDIR: outdir, CDK_CONTEXT_JSON: JSON.stringify(context) },
    encoding: 'utf8',
  });
  if (synth.status !== 0) fail(`synthesizing ${dir} failed:\n${synth.stderr}`);
  const manifest = JSON.parse(readFileSync(join(outdir, 'manifest.json'), 'utf8')) as {
    artifacts: Record<string, { type: string; environment?: string; properties?: { templateFile?: string } }>;
  };
  for (const [stackName, artifact] of Object.entries(manifest.artifacts)) {
    if (artifact.type !== 'aws:cloudformation:stack' || !artifact.properties?.templateFile) continue;
    const [account = '', region = ''] = (artifact.environment ?? '').replace('aws://', '').split('/');
    templates.push({ file: join(outdir, artifact.properties.templateFile), stackName, account, region });
  }
}
if (templates.length === 0) fail('no template was synthesized');

// cfn-lint exit code: a bit mask of 2 (errors), 4 (warnings), 8 (informational); 1 is a crash.
const lint = spawnSync('cfn-lint', ['--format', 'parseable', ...templates.map((t) => t.file)], { encoding: 'utf8' });
if (lint.error) fail(`cannot run cfn-lint: ${lint.error.message}`);
const lintStatus = lint.status ?? 1;
const findings = lint.stdout.split('\n').filter((l) => l.trim() !== '');
const errors = findings.filter((l) => /:E\d{4}:/.test(l));
const warnings = findings.filter((l) => !/:E\d{4}:/.test(l));
for (const line of warnings) process.stdout.write(`cfn-lint warning: ${line.replace(`${OUT}/`, '')}\n`);
if (lintStatus === 1 || (lintStatus & 2) !== 0 || errors.length > 0) {
  fail(`cfn-lint found errors:\n${errors.join('\n') || lint.stderr}`);
}

let machines = 0;
const invalid: string[] = [];
for (const t of templates) {
  const template = JSON.parse(readFileSync(t.file, 'utf8')) as CfnTemplate;
  const options = { account: t.account, region: t.region, stackName: t.stackName };
  for (const sm of findStateMachines(template, options)) {
    machines++;
    const definition = resolveDefinition(template, sm.logicalId, options);
    const result = validateAsl(definition, { checkPaths: true, checkArn: true });
    if (!result.isValid) {
      invalid.push(
        `${t.stackName}/${sm.name}: ${result.errors.map((e) => `${e['Error code'] ?? ''} ${e.path ?? ''} ${e.message ?? ''}`.trim()).join('; ')}`,
      );
    }
  }
}
if (invalid.length > 0) fail(`asl-validator refused state machine definitions:\n${invalid.join('\n')}`);
process.stdout.write(
  `templates: ${templates.length} linted by cfn-lint with 0 errors (${warnings.length} warnings); state machines: ${machines} valid ASL (${templates.map((t) => t.stackName).join(', ')})\n`,
);
