/**
 * `s` without its trailing slashes, in linear time. The regular expression `/\/+$/` backtracks over
 * every run of slashes not at the end: 60,000 slashes and an `x` in a coding's system took 3 s.
 */
export function withoutTrailingSlashes(s: string): string {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 47) end -= 1;
  return end === s.length ? s : s.slice(0, end);
}
