/**
 * One code asset for every Lambda of an operator stack: a single local esbuild run (no Docker, no
 * network) over all handler entry points with ESM code splitting, so the shared code is bundled
 * once, plus the files the code loads at run time (the Parquet WebAssembly module and the
 * operator's validated config).
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AssetHashType, DockerImage } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { OperatorConfig } from '#shared/config/schema';
import { BUNDLED_CONFIG_FILE } from '#shared/contracts/environment';

/** Project root (this file is lib/constructs/lambda-bundle.ts). */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Handler entry points, by the name the bundle gives their output file. */
export const HANDLER_ENTRIES = {
  'extract-window': 'lambdas/extract-window/handler.ts',
  'incremental-sync': 'lambdas/incremental-sync/handler.ts',
  'plan-snapshot': 'lambdas/plan-snapshot/handler.ts',
  'finalize-snapshot': 'lambdas/finalize-snapshot/handler.ts',
  'run-lock': 'lambdas/run-lock/handler.ts',
  'ingest-file': 'lambdas/ingest-file/handler.ts',
  'sweep-landing': 'lambdas/sweep-landing/handler.ts',
  publish: 'lambdas/publish/handler.ts',
  'key-audit': 'lambdas/key-audit/handler.ts',
} as const;

export type HandlerName = keyof typeof HANDLER_ENTRIES;

/**
 * Worker thread entry points, bundled beside the handlers (the code that starts them finds them
 * next to itself as `<name>.mjs`).
 */
export const WORKER_ENTRIES = {
  'batch-worker': 'lambdas/shared/extract/batch-worker.ts',
} as const;

// ESM output still runs CommonJS dependencies (pg, mysql2) and code that reads __dirname
// (parquet-wasm loads its .wasm file from beside itself).
const BANNER = [
  "import { createRequire as __connectorCreateRequire } from 'node:module';",
  "import { fileURLToPath as __connectorFileURLToPath } from 'node:url';",
  "import { dirname as __connectorDirname } from 'node:path';",
  'const require = __connectorCreateRequire(import.meta.url);',
  'const __filename = __connectorFileURLToPath(import.meta.url);',
  'const __dirname = __connectorDirname(__filename);',
].join('\n');

/**
 * Bundles entry points the way the Lambda asset is built (ESM for Node 22, minified, source maps,
 * the CommonJS/`__dirname` banner) into `outDir`, with the worker thread entries and
 * parquet-wasm's WebAssembly module beside the code. Used by the asset, and by the benchmark so it measures the code Lambda runs.
 */
export function bundleForNode(outDir: string, entryPoints: Record<string, string>): void {
  const require = createRequire(import.meta.url);
  const esbuild = require('esbuild') as typeof import('esbuild');
  mkdirSync(outDir, { recursive: true });
  esbuild.buildSync({
    absWorkingDir: PROJECT_ROOT,
    entryPoints: { ...entryPoints, ...WORKER_ENTRIES },
    outdir: outDir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunk-[hash]',
    banner: { js: BANNER },
    minify: true,
    keepNames: true,
    sourcemap: true,
    sourcesContent: false,
    legalComments: 'none',
    // Optional drivers and native add-ons the code never loads.
    external: ['pg-native', 'cardinal', '@aws-sdk/signature-v4-crt', 'aws-crt'],
    logLevel: 'error',
  });
  const wasm = join(dirname(require.resolve('parquet-wasm/node')), 'parquet_wasm_bg.wasm');
  copyFileSync(wasm, join(outDir, 'parquet_wasm_bg.wasm'));
}

/** Builds the bundle into `outDir`. Exported for the local harness, which runs the same code. */
export function buildLambdaBundle(outDir: string, config: OperatorConfig): void {
  bundleForNode(outDir, { ...HANDLER_ENTRIES });
  writeFileSync(join(outDir, BUNDLED_CONFIG_FILE), `${JSON.stringify(config)}\n`);
}

export interface LambdaBundleProps {
  /** The validated config, bundled beside the code so handlers need no config service. */
  readonly config: OperatorConfig;
}

/** The one code asset shared by every function of the stack. */
export class LambdaBundle extends Construct {
  /** Code to give each function; its handler is `<HandlerName>.handler`. */
  public readonly code: lambda.Code;

  constructor(scope: Construct, id: string, props: LambdaBundleProps) {
    super(scope, id);
    this.code = lambda.Code.fromAsset(join(PROJECT_ROOT, 'lambdas'), {
      // The hash of the bundled output: a change of code or of config gives a new asset.
      assetHashType: AssetHashType.OUTPUT,
      bundling: {
        image: DockerImage.fromRegistry('local-bundling-only'),
        local: {
          tryBundle(outputDir: string): boolean {
            buildLambdaBundle(outputDir, props.config);
            return true;
          },
        },
      },
    });
  }

  /** The `handler` setting of a function running the given entry point. */
  static handler(name: HandlerName): string {
    return `${name}.handler`;
  }
}
