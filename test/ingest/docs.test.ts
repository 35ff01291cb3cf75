/** The operator guide stays in step with the code: the codes table and a valid reason example. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fileErrorCodesMarkdown, quarantineReasonSchema } from '#shared/files/index';

const guide = readFileSync('docs/operators/file-drop.md', 'utf8');

describe('docs/operators/file-drop.md', () => {
  it('lists every rejection code as the code defines it', () => {
    expect(guide).toContain(fileErrorCodesMarkdown());
  });

  it('shows a quarantine reason that is valid against the reason schema', () => {
    const example = /### What a quarantine reason looks like\s+```json\n([\s\S]*?)\n```/.exec(guide)?.[1];
    expect(example).toBeDefined();
    expect(quarantineReasonSchema.safeParse(JSON.parse(example!)).success).toBe(true);
  });

  it('shows the upload commands for every access path', () => {
    expect(guide).toMatch(
      /aws s3 cp \S+ s3:\/\/<bucket>\/inbound\/payments\/\S+ \\\n\s+--sse aws:kms --sse-kms-key-id <key ARN>/,
    );
    expect(guide).toContain('--external-id <ExternalId>');
    expect(guide).toContain('sftp -i');
  });
});
