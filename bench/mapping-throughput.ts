/**
 * Mapping throughput: `npx tsx bench/mapping-throughput.ts [rows]` maps a 12-column
 * game_rounds batch (decimals, naive Malta timestamps, a status map, pseudonymized player ids)
 * and prints rows per second.
 */
import { createRowMapper } from '#shared/mapping/mapper';
import { databaseSourceSeq } from '#shared/mapping/version';
import { createPseudonymizer } from '#shared/pii/pseudonymizer';
import {
  GAME_ROUNDS_COLUMNS,
  GAME_ROUNDS_STREAM,
  gameRoundRows,
  operatorConfig,
  TEST_KEY,
} from '../test/shared/mapping/fixtures.ts';

const n = Number(process.argv[2] ?? 500_000);
const config = operatorConfig({ game_rounds: GAME_ROUNDS_STREAM });
const rows = gameRoundRows(n);
const batch = { columns: GAME_ROUNDS_COLUMNS, rows };

for (let run = 1; run <= 3; run++) {
  const mapper = createRowMapper({
    config,
    stream: 'game_rounds',
    sourceColumns: GAME_ROUNDS_COLUMNS,
    pseudonymizer: createPseudonymizer(TEST_KEY),
    runId: 'bench',
    extractedAt: new Date(),
    sourceSeq: databaseSourceSeq(BigInt(Date.now()) * 1000n),
  });
  const t0 = performance.now();
  const landed = mapper.map(batch);
  const ms = performance.now() - t0;
  console.log(
    `run ${run}: ${landed.rowCount} rows x ${landed.columns.length} landed columns in ${ms.toFixed(0)} ms = ${Math.round(
      (landed.rowCount / ms) * 1000,
    ).toLocaleString('en-US')} rows/s`,
  );
}
