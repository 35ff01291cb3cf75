/**
 * The file drop the file-drop benchmarks stream: a generated CSV of wallet transactions and the
 * operator config that maps it, shared by `npm run bench:file-drop` and the DuckDB prototype.
 */
import { operatorConfigSchema } from '#shared/config/schema';

const MIB = 1024 * 1024;

/** A file-drop operator with one CSV stream of wallet transactions (Malta wall-clock times). */
export const fileDropConfig = operatorConfigSchema.parse({
  operatorId: 'bench-files',
  displayName: 'Bench Files Ltd',
  stage: 'sandbox',
  account: '333333333333',
  region: 'eu-west-1',
  source: { type: 'files' },
  fileDrop: { timeZone: 'Europe/Malta', maxFileSizeMb: 9728 },
  streams: {
    wallet_transactions: {
      columns: {
        transaction_id: 'txn_id',
        player_id: 'customer_id',
        type: { column: 'txn_type', values: { BET: 'bet', WIN: 'win', DEP: 'deposit' } },
        amount: { column: 'amount', precision: 18, scale: 2 },
        balance_after: { column: 'balance', precision: 18, scale: 2 },
        currency: 'currency',
        round_id: 'round_id',
        created_at: 'booked_at',
      },
      format: { type: 'csv' },
    },
  },
});

/** Header line of the generated CSV. */
export const FILE_DROP_HEADER = 'txn_id,customer_id,txn_type,amount,balance,currency,round_id,booked_at\n';
const TYPES = ['BET', 'WIN', 'DEP'];

/**
 * About 1 MiB of rows; `seed` varies the values between blocks. Rows are booked through one day
 * (Malta time, so two UTC date partitions), in time order within a block, as a daily export is.
 */
function block(seed: number): Buffer {
  const rows: string[] = [];
  let size = 0;
  for (let i = 0; size < MIB; i++) {
    const n = seed * 100_000 + i;
    const second = n % 86_400;
    const hh = String(Math.floor(second / 3600)).padStart(2, '0');
    const mm = String(Math.floor((second % 3600) / 60)).padStart(2, '0');
    const ss = String(second % 60).padStart(2, '0');
    const row = `tx-${n},cust-${n % 50_000},${TYPES[n % 3]},${(n % 100_000) / 100},${(n % 7_000_000) / 100},EUR,rnd-${n},2024-03-10 ${hh}:${mm}:${ss}.${String(n % 1000).padStart(3, '0')}\n`;
    rows.push(row);
    size += row.length;
  }
  return Buffer.from(rows.join(''));
}

/** Built on import, so generating the file costs only copies while a benchmark is timed. */
const blocks = Array.from({ length: 16 }, (_, i) => block(i));

/** The generated CSV of about `sizeMib` MiB (header first), chunk by chunk from 16 pre-built blocks. */
export function* generateFileDrop(sizeMib: number): Generator<Buffer> {
  const totalBytes = sizeMib * MIB;
  yield Buffer.from(FILE_DROP_HEADER);
  let sent = 0;
  for (let i = 0; sent < totalBytes; i++) {
    const b = blocks[i % blocks.length]!;
    sent += b.length;
    yield b;
  }
}
