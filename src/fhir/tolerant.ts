/**
 * Tolerant readers for FHIR content from real clients.
 *
 * The CDS Hooks Sandbox and the spec's own examples send single objects where R4 has arrays
 * (`reasonCode`, `category`, `doseAndRate`) — see CDS Hooks 2.0 order-select example. Every array
 * read in this service goes through `asArray` so that such payloads are read, never rejected.
 */
export function asArray<T>(value: T | readonly (T | null | undefined)[] | null | undefined): T[] {
  if (value === undefined || value === null) return [];
  // Null items (`"coding": [null]`) are dropped so that readers can use every item as an object.
  const items = Array.isArray(value) ? (value as readonly (T | null | undefined)[]) : [value as T];
  return items.filter(isPresent);
}

/**
 * A FHIR type as real clients send it: every array may arrive as a single item, as null, or with null
 * items (`T | T[] | null`), at any depth. A reader of a Tolerant type must go through `asArray`, and
 * the compiler holds it to that. A well-formed R4 value is a Tolerant one too.
 */
export type Tolerant<T> = T extends readonly (infer Item)[]
  ? Tolerant<Item> | readonly (Tolerant<Item> | null)[] | null
  : T extends object
    ? { [K in keyof T]: Tolerant<T[K]> }
    : T;

/** A typed resource seen as any resource again (for readers that check resourceType themselves). */
export function asAnyResource(resource: { resourceType: string }): AnyResource {
  return resource;
}

/**
 * A resource of the given type, read tolerantly; undefined for any other. The one place an untyped
 * resource becomes a typed one: its resourceType was checked, and its arrays stay tolerant.
 */
export function resourceOf<T extends { resourceType: string }>(resource: AnyResource, resourceType: T['resourceType']): Tolerant<T> | undefined {
  return resource.resourceType === resourceType ? (resource as unknown as Tolerant<T>) : undefined;
}

/** For `.filter`: drops both `undefined` and the `null` messy payloads put where an object belongs. */
export function isPresent<T>(value: T | null | undefined): value is T {
  return value !== null && value !== undefined;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A value that looks like a FHIR resource: an object with a string `resourceType`. */
export interface AnyResource {
  resourceType: string;
  id?: string;
  [key: string]: unknown;
}

export function isResource(value: unknown): value is AnyResource {
  return isRecord(value) && typeof value.resourceType === 'string';
}

export function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}
