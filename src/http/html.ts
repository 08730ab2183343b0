/** Escapes text for HTML element content and attribute values (the pages this service renders). */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}
