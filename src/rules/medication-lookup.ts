import type { Medication, Reference } from 'fhir/r4';
import { asArray, isResource, resourceOf } from '../fhir/tolerant.js';
import type { AnyResource, Tolerant } from '../fhir/tolerant.js';

/**
 * Resolves `medicationReference` to a Medication: contained (`#id`), or an entry of a bundle the
 * request carried (draftOrders, prefetch) by `Medication/id`, an absolute URL ending in it, or fullUrl.
 */
export class MedicationLookup {
  private readonly byId = new Map<string, Tolerant<Medication>>();
  private readonly byFullUrl = new Map<string, Tolerant<Medication>>();

  add(entries: Iterable<{ fullUrl?: string; resource: AnyResource }>): this {
    for (const { fullUrl, resource } of entries) {
      const medication = resourceOf<Medication>(resource, 'Medication');
      if (!medication) continue;
      if (typeof resource.id === 'string') this.byId.set(resource.id, medication);
      if (fullUrl) this.byFullUrl.set(fullUrl, medication);
    }
    return this;
  }

  resolve(reference: Tolerant<Reference> | undefined, container?: { contained?: unknown }): Tolerant<Medication> | undefined {
    const ref = reference?.reference;
    if (typeof ref !== 'string' || ref === '') return undefined;
    if (ref.startsWith('#')) {
      const id = ref.slice(1);
      const contained = asArray(container?.contained)
        .filter(isResource)
        .find((r) => r.resourceType === 'Medication' && r.id === id);
      return contained ? resourceOf<Medication>(contained, 'Medication') : undefined;
    }
    const byUrl = this.byFullUrl.get(ref);
    if (byUrl) return byUrl;
    const m = /(?:^|\/)Medication\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(ref);
    return m?.[1] ? this.byId.get(m[1]) : undefined;
  }
}
