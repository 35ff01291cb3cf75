/**
 * The bookkeeping the splitters share (`splitCsv`, `splitJsonLines`) while they cut a file's text
 * into record-aligned chunks for the worker threads: the text read and not yet in a chunk, the
 * line and data row the next chunk starts on, and the reader's batch ends inside it.
 */
import type { TextChunk, TextChunkBatch } from './csv.ts';
import { countNewlines } from './text.ts';

export class ChunkCutter {
  private readonly pieces: Buffer[] = [];
  private length = 0;
  /** File offset of the first byte held. */
  private start = 0;
  private line = 1;
  private row = 0;
  private batches: TextChunkBatch[] = [];

  /** File offset after the last byte held. */
  get end(): number {
    return this.start + this.length;
  }

  /** Bytes held past the last batch end, or -1 when the held text has no batch end yet. */
  get bytesToLastBatch(): number {
    const last = this.batches.at(-1);
    return last === undefined ? -1 : last.end - this.start;
  }

  /** File offset of the last batch end, if any. */
  get lastBatchEnd(): number | undefined {
    return this.batches.at(-1)?.end;
  }

  /** Whether text or a batch end is held (something is left for a last chunk). */
  get pending(): boolean {
    return this.length > 0 || this.batches.length > 0;
  }

  push(piece: Buffer): void {
    this.pieces.push(piece);
    this.length += piece.length;
  }

  /** A batch of the one-thread reader ends at file offset `end`, after `rows` data rows of the file. */
  batchEnd(end: number, rows: number): void {
    this.batches.push({ end, rows });
  }

  /** Drops the held text up to file offset `end` (a header), counting its lines. */
  skip(end: number): void {
    this.line += countNewlines(this.cut(end));
  }

  /**
   * The held text up to file offset `end` as a chunk holding the file's data rows up to `rows`;
   * the next chunk starts after it.
   */
  chunk(end: number, rows: number, final: boolean, error?: TextChunk['error']): TextChunk {
    const start = this.start;
    const bytes = this.cut(end);
    const chunk: TextChunk = {
      bytes,
      firstLine: this.line,
      firstRow: this.row,
      batches: this.batches.map((b) => ({ end: b.end - start, rows: b.rows })),
      final,
      rows: rows - this.row,
      ...(error ? { error } : {}),
    };
    this.line += countNewlines(bytes);
    this.row = rows;
    this.batches = [];
    return chunk;
  }

  /** The held bytes up to file offset `end`, in a buffer of their own (it can be transferred). */
  private cut(end: number): Buffer {
    const out = Buffer.allocUnsafeSlow(end - this.start);
    let at = 0;
    while (this.start < end) {
      const piece = this.pieces[0]!;
      const take = Math.min(piece.length, end - this.start);
      piece.copy(out, at, 0, take);
      at += take;
      this.start += take;
      this.length -= take;
      if (take === piece.length) this.pieces.shift();
      else this.pieces[0] = piece.subarray(take);
    }
    return out;
  }
}
