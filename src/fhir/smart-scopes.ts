/**
 * What an access token lets the service read, from its SMART scopes (CDS Hooks `fhirAuthorization.scope`):
 * SMART App Launch v1 (`patient/Observation.read`, `user/*.*`), as CDS Hooks 2.0 sends them, and v2
 * (`patient/Observation.rs`, `system/*.cruds`, `patient/Observation.rs?category=laboratory`), as the
 * 3.0 ballot does. The service only reads and searches.
 */
type ReadInteraction = 'read' | 'search';

export interface ScopeGrant {
  allows(resourceType: string, interaction: ReadInteraction): boolean;
}

/** No scope given (no fhirAuthorization: a server that needs no token): the server decides. */
export const UNRESTRICTED: ScopeGrant = { allows: () => true };

// context/type.permissions, optionally with v2 granular parameters after `?`.
const RESOURCE_SCOPE = /^(?:patient|user|system)\/(\*|[A-Z][A-Za-z]{0,63})\.(read|write|\*|c?r?u?d?s?)(?:\?.*)?$/;

function interactions(permissions: string): ReadInteraction[] {
  if (permissions === 'read' || permissions === '*') return ['read', 'search']; // v1
  if (permissions === 'write') return [];
  // v2: a subset of c r u d s, in that order. A granular `?category=…` restriction still allows the
  // search: the server returns only what the scope covers.
  return [...(permissions.includes('r') ? (['read'] as const) : []), ...(permissions.includes('s') ? (['search'] as const) : [])];
}

export function parseSmartScopes(scope: string | undefined): ScopeGrant {
  if (scope === undefined) return UNRESTRICTED;
  const granted = new Map<string, Set<ReadInteraction>>();
  // Scopes are short space-separated tokens; a very long value is cut rather than scanned.
  for (const token of scope.slice(0, 10_000).split(/\s+/)) {
    const match = RESOURCE_SCOPE.exec(token);
    if (!match?.[1] || match[2] === undefined) continue;
    const set = granted.get(match[1]) ?? new Set<ReadInteraction>();
    for (const interaction of interactions(match[2])) set.add(interaction);
    granted.set(match[1], set);
  }
  return {
    allows: (resourceType, interaction) => (granted.get(resourceType)?.has(interaction) ?? false) || (granted.get('*')?.has(interaction) ?? false),
  };
}
