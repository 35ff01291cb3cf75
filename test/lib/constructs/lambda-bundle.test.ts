import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLambdaBundle, HANDLER_ENTRIES, WORKER_ENTRIES } from '../../../lib/constructs/lambda-bundle.ts';
import { exampleConfig } from '../helpers.ts';

describe('LambdaBundle', () => {
  const out = mkdtempSync(join(tmpdir(), 'connector-bundle-'));
  const config = exampleConfig('acme-casino');
  beforeAll(() => buildLambdaBundle(out, config), 60_000);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('holds every handler, the worker thread entries, the Parquet WebAssembly module and the validated config', () => {
    for (const name of Object.keys(HANDLER_ENTRIES)) expect(existsSync(join(out, `${name}.mjs`))).toBe(true);
    // The batch pool starts its workers from `<name>.mjs` beside its own chunk.
    for (const name of Object.keys(WORKER_ENTRIES)) expect(existsSync(join(out, `${name}.mjs`))).toBe(true);
    expect(existsSync(join(out, 'parquet_wasm_bg.wasm'))).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'operator-config.json'), 'utf8'))).toEqual(
      JSON.parse(JSON.stringify(config)),
    );
  });

  it('loads in a plain Node.js process, as Lambda loads it, and exports each handler', () => {
    const script = `
      const names = ${JSON.stringify(Object.keys(HANDLER_ENTRIES))};
      for (const n of names) {
        const m = await import(${JSON.stringify(`${out}/`)} + n + '.mjs');
        if (typeof m.handler !== 'function') throw new Error(n + ' exports no handler');
      }
      console.log('loaded ' + names.length);`;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: out,
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH,
        AWS_REGION: 'eu-west-1',
        CONNECTOR_OPERATOR_ID: config.operatorId,
        CONNECTOR_STAGE: config.stage,
        CONNECTOR_BUCKET: 'bucket',
        CONNECTOR_KMS_KEY_ARN: 'arn:aws:kms:eu-west-1:111111111111:key/test',
        CONNECTOR_STATE_TABLE: 'state',
        CONNECTOR_SECRET_ID: 'secret',
      },
    });
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe(`loaded ${Object.keys(HANDLER_ENTRIES).length}`);
  });
});
