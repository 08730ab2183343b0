/**
 * Escapes text taken from the patient record before it goes into card markdown (GitHub Flavored
 * Markdown, CDS Hooks 2.0 §Card detail): a display like "Hepatitis *C*", "[x](y)" or "<b>" must stay text.
 * Only characters that can start markup mid-line are escaped, so the raw text stays readable.
 */
export function escapeMarkdown(text: string): string {
  return text
    .replace(/[\r\n]+/g, ' ')
    .replace(/[\\`*_[\]|<>~]/g, (ch) => `\\${ch}`)
    .trim();
}

/** Cuts text to at most `max` characters on a word boundary, marking the cut with an ellipsis. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max - 1);
  const space = cut.lastIndexOf(' ');
  return `${(space > max / 2 ? cut.slice(0, space) : cut).trimEnd()}…`;
}
