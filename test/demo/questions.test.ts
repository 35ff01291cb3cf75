import { TrinoSQL } from 'dt-sql-parser';
import { describe, expect, it } from 'vitest';
import { QUESTIONS } from '../../demo/questions.ts';

describe("the demo's business questions", () => {
  it('are Trino SQL, as Athena runs them', () => {
    const trino = new TrinoSQL();
    for (const [name, question] of Object.entries(QUESTIONS)) {
      const sql = question((stream) => `"connector_demo_sandbox"."${stream}"`);
      expect(trino.validate(sql), name).toEqual([]);
    }
    // The grammar is not a rubber stamp.
    expect(trino.validate('SELECT * FROM t QUALIFY row_number() OVER () = 1')).not.toEqual([]);
  });
});
