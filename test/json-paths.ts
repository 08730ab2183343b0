/** A path into parsed JSON: object keys and array indexes. */
export type JsonPath = Array<string | number>;

/** Every path of every node below the root (leaves and containers), for mutation tests. */
export function allPaths(value: unknown, prefix: JsonPath = [], out: JsonPath[] = []): JsonPath[] {
  if (Array.isArray(value)) value.forEach((v, i) => allPaths(v, [...prefix, i], out));
  else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) allPaths(v, [...prefix, k], out);
  if (prefix.length > 0) out.push(prefix);
  return out;
}
