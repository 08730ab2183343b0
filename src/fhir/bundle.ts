import { asArray, isRecord, isResource } from './tolerant.js';
import type { AnyResource } from './tolerant.js';

/**
 * The entries of a Bundle, read leniently, with the `fullUrl` of each, so that `Medication/abc` and
 * `urn:uuid:…` references can be resolved: `type` may be missing (CDS Hooks 2.0 examples), `entry`
 * may be an object instead of an array, entries without a resource are skipped, and a bare resource
 * is a one-entry bundle. With `resourceType`, only the entries of that type.
 */
export function bundleEntries(value: unknown, resourceType?: string): Array<{ fullUrl?: string; resource: AnyResource }> {
  if (!isResource(value)) return [];
  if (value.resourceType !== 'Bundle') return resourceType === undefined || value.resourceType === resourceType ? [{ resource: value }] : [];
  const entries: Array<{ fullUrl?: string; resource: AnyResource }> = [];
  for (const entry of asArray(value.entry)) {
    if (!isRecord(entry) || !isResource(entry.resource)) continue;
    if (resourceType !== undefined && entry.resource.resourceType !== resourceType) continue;
    const fullUrl = typeof entry.fullUrl === 'string' ? entry.fullUrl : undefined;
    entries.push(fullUrl ? { fullUrl, resource: entry.resource } : { resource: entry.resource });
  }
  return entries;
}

/** An OperationOutcome that reports a failure (severity error or fatal), not a mere warning. */
export function isErrorOutcome(resource: AnyResource): boolean {
  return resource.resourceType === 'OperationOutcome' && asArray(resource.issue).some((i) => isRecord(i) && (i.severity === 'error' || i.severity === 'fatal'));
}

/** The `next` link of a searchset page, if there is one. */
export function nextLink(bundle: AnyResource): string | undefined {
  const link = asArray(bundle.link).find((l) => isRecord(l) && l.relation === 'next' && typeof l.url === 'string');
  return isRecord(link) && typeof link.url === 'string' ? link.url : undefined;
}
