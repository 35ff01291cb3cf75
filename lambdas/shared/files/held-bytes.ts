/**
 * Text read from a file and not yet cut into a chunk, for the splitters that cut a file into
 * record-aligned chunks for the worker threads (`splitCsv`, `splitJsonLines`).
 */
export class HeldBytes {
  private readonly pieces: Buffer[] = [];
  private length = 0;
  /** File offset of the first byte held. */
  start = 0;

  /** File offset after the last byte held. */
  get end(): number {
    return this.start + this.length;
  }

  push(piece: Buffer): void {
    this.pieces.push(piece);
    this.length += piece.length;
  }

  /**
   * The held bytes up to file offset `end`, in a buffer of their own (so it can be transferred to
   * another thread); they are no longer held.
   */
  cut(end: number): Buffer {
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
