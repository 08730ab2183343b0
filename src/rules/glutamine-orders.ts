import type { MedicationRequest, NutritionOrder } from 'fhir/r4';
import { resourceOf } from '../fhir/tolerant.js';
import type { AnyResource, Tolerant } from '../fhir/tolerant.js';
import type { Catalogue } from './load-catalogue.js';
import type { MedicationLookup } from './medication-lookup.js';
import { medicationProduct, nutritionProduct } from './medication-product.js';
import type { Product } from './medication-product.js';
import { isDoNotPerform, productMatches } from './medications.js';

/** A draft order as its FHIR type, read tolerantly: a MedicationRequest or a NutritionOrder. */
export type OrderRequest = Tolerant<MedicationRequest> | Tolerant<NutritionOrder>;

export interface GlutamineOrder {
  resource: AnyResource;
  /** The same resource, typed. */
  request: OrderRequest;
  resourceType: OrderRequest['resourceType'];
  id?: string;
  /** `MedicationRequest/<id>`: the form `selections` and delete suggestions use. */
  reference?: string;
  product: Product;
  /** A name for the card when several glutamine orders are checked at once. */
  name: string;
}

function orderReference(resource: AnyResource): string | undefined {
  return typeof resource.id === 'string' && resource.id !== '' ? `${resource.resourceType}/${resource.id}` : undefined;
}

/**
 * CDS Hooks order-select: "decision support should focus on the selected orders". A selection is
 * `Type/id`; a bare id or an absolute URL ending in `Type/id` is tolerated.
 */
export function isSelected(resource: AnyResource, selections: readonly string[]): boolean {
  const reference = orderReference(resource);
  if (!reference) return false;
  return selections.some((s) => s === reference || s === resource.id || s.endsWith(`/${reference}`));
}

/** A draft as an order: a MedicationRequest or NutritionOrder; undefined for any other resource. */
function orderRequest(resource: AnyResource): OrderRequest | undefined {
  return resourceOf<MedicationRequest>(resource, 'MedicationRequest') ?? resourceOf<NutritionOrder>(resource, 'NutritionOrder');
}

/** What an order is for. */
function orderProduct(request: OrderRequest, lookup: MedicationLookup): Product {
  return request.resourceType === 'MedicationRequest' ? medicationProduct(request, lookup) : nutritionProduct(request);
}

/**
 * docs/clinical-spec.md "What counts as a glutamine order": a MedicationRequest (any status, not
 * doNotPerform) or NutritionOrder whose product is glutamine by code or by whole-word name. With `selections`
 * (order-select) only the selected drafts are candidates; otherwise (order-sign) all of them are.
 */
export function findGlutamineOrders(
  drafts: readonly AnyResource[],
  selections: readonly string[] | undefined,
  catalogue: Catalogue,
  lookup: MedicationLookup,
): GlutamineOrder[] {
  const orders: GlutamineOrder[] = [];
  for (const resource of drafts) {
    if (selections && !isSelected(resource, selections)) continue;
    // "Do not give glutamine" is not an order to give it (clinical-spec revision 2, item 9).
    if (isDoNotPerform(resource)) continue;
    const request = orderRequest(resource);
    if (!request) continue;
    const product = orderProduct(request, lookup);
    if (!productMatches(product, catalogue.glutamineOrder.codes, catalogue.glutamineOrder.matchesName)) continue;
    const reference = orderReference(resource);
    orders.push({
      resource,
      request,
      resourceType: request.resourceType,
      ...(typeof resource.id === 'string' && resource.id !== '' ? { id: resource.id } : {}),
      ...(reference ? { reference } : {}),
      product,
      name: product.name ?? reference ?? 'glutamine order',
    });
  }
  return orders;
}

/** A draft that may be glutamine: its product is only a Medication reference that could not be read. */
export interface UnreadableDraft {
  /** `MedicationRequest/<id>`, or a description when the draft has no id. */
  order: string;
  medication: string;
}

/**
 * The candidate drafts (as findGlutamineOrders would consider them) whose product is known only by
 * an unresolved `medicationReference`: possibly glutamine, so never silently "not glutamine"
 * (clinical-spec revision 2, item 29).
 */
export function findUnreadableDrafts(drafts: readonly AnyResource[], selections: readonly string[] | undefined, lookup: MedicationLookup): UnreadableDraft[] {
  const unreadable: UnreadableDraft[] = [];
  for (const resource of drafts) {
    const request = resourceOf<MedicationRequest>(resource, 'MedicationRequest');
    if (!request || (selections && !isSelected(resource, selections)) || isDoNotPerform(resource)) continue;
    const product = medicationProduct(request, lookup);
    if (product.unresolvedReference === undefined || product.texts.length > 0 || product.concepts.length > 0) continue;
    unreadable.push({ order: orderReference(resource) ?? 'a draft medication order', medication: product.unresolvedReference });
  }
  return unreadable;
}
