import type { Medication, Reference } from 'fhir/r4';
import { asArray, isResource } from '../fhir/tolerant.js';
import type { AnyResource } from '../fhir/tolerant.js';

/**
 * Resolves `medicationReference` to a Medication: contained (`#id`), or an entry of a bundle the
 * request carried (draftOrders, prefetch) by `Medication/id`, an absolute URL ending in it, or fullUrl.
 */
export class MedicationLookup {
  private readonly byId = new Map<string, Medication>();
  private readonly byFullUrl = new Map<string, Medication>();

  add(entries: Iterable<{ fullUrl?: string; resource: AnyResource }>): this {
    for (const { fullUrl, resource } of entries) {
      if (resource.resourceType !== 'Medication') continue;
      const medication = resource as unknown as Medication;
      if (typeof resource.id === 'string') this.byId.set(resource.id, medication);
      if (fullUrl) this.byFullUrl.set(fullUrl, medication);
    }
    return this;
  }

  resolve(reference: Reference | undefined, container?: { contained?: unknown }): Medication | undefined {
    const ref = reference?.reference;
    if (typeof ref !== 'string' || ref === '') return undefined;
    if (ref.startsWith('#')) {
      const id = ref.slice(1);
      return asArray(container?.contained)
        .filter(isResource)
        .find((r) => r.resourceType === 'Medication' && r.id === id) as Medication | undefined;
    }
    const byUrl = this.byFullUrl.get(ref);
    if (byUrl) return byUrl;
    const m = /(?:^|\/)Medication\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(ref);
    return m?.[1] ? this.byId.get(m[1]) : undefined;
  }
}
