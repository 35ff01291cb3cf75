/** bin/app.ts as `cdk synth` runs it: a child process with CDK_OUTDIR set. */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cdkContext } from './helpers.ts';

const temp = mkdtempSync(join(tmpdir(), 'connector-app-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

function runApp(configDir: string, outdir: string) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'bin/app.ts'], {
    // What `cdk synth` passes to the app: the output directory and the context of cdk.json.
    env: {
      ...process.env,
      CONNECTOR_CONFIG_DIR: configDir,
      CDK_OUTDIR: outdir,
      CDK_CONTEXT_JSON: JSON.stringify(cdkContext()),
    },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, stderr: result.stderr };
}

describe('bin/app.ts', () => {
  it('synthesizes one stack per config file, with the compliance packs passing', () => {
    const outdir = join(temp, 'good-out');
    const { status, stderr } = runApp('config/operators', outdir);
    // CDK reports each local bundling of the Lambda code on stderr; nothing else may appear.
    expect(stderr.split('\n').filter((l) => l.trim() && !l.startsWith('Bundling asset '))).toEqual([]);
    expect(status).toBe(0);
    const templates = readdirSync(outdir).filter((f) => f.endsWith('.template.json'));
    expect(templates).toEqual(
      expect.arrayContaining([
        'acme-casino-sandbox.template.json',
        'lucky-files-sandbox.template.json',
        'royal-spins-production.template.json',
      ]),
    );
    const manifest = JSON.parse(readFileSync(join(outdir, 'manifest.json'), 'utf8'));
    expect(manifest.missing).toBeUndefined();
  });

  it('prints every config problem and exits 1 without synthesizing anything', () => {
    const configDir = join(temp, 'bad');
    const outdir = join(temp, 'bad-out');
    rmSync(configDir, { recursive: true, force: true });
    mkdirSync(configDir, { recursive: true });
    copyFileSync('config/operators/lucky-files.yaml', join(configDir, 'lucky-files.yaml'));
    const typo = readFileSync('config/operators/royal-spins.yaml', 'utf8').replace(
      'lookbackMinutes: 30',
      'lookbackMinuts: 30',
    );
    writeFileSync(join(configDir, 'royal-spins.yaml'), typo);

    const { status, stderr } = runApp(configDir, outdir);
    expect(status).toBe(1);
    expect(stderr).toContain('Invalid operator config (1 problem)');
    expect(stderr).toMatch(/royal-spins\.yaml:\d+: incremental\.lookbackMinuts: .*did you mean "lookbackMinutes"\?/);
    expect(existsSync(join(outdir, 'manifest.json'))).toBe(false);
  });
});
