/** Markdown helpers shared by the documentation generators. */

/** Escapes text for a Markdown table cell; `<` and `>` outside code spans would read as HTML. */
export function cell(text: string): string {
  return text
    .split(/(`[^`]*`)/)
    .map((part) => (part.startsWith('`') ? part : part.replace(/</g, '&lt;').replace(/>/g, '&gt;')))
    .join('')
    .replace(/\|/g, '\\|')
    .replace(/\n/g, ' ');
}

/** Inline code (a backtick inside becomes a quote). */
export const code = (text: string): string => `\`${text.replace(/`/g, "'")}\``;
