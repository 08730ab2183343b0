import type { CodeableConcept, Medication, MedicationRequest, MedicationStatement, NutritionOrder } from 'fhir/r4';
import { conceptLabel, conceptTexts } from '../fhir/codings.js';
import { asArray, isPresent } from '../fhir/tolerant.js';
import type { Tolerant } from '../fhir/tolerant.js';
import type { MedicationLookup } from './medication-lookup.js';

/** What an order or statement is for, read from wherever the product is given. */
export interface Product {
  /** Product and ingredient concepts to match codes against. */
  concepts: Tolerant<CodeableConcept>[];
  /** Every text to match names against (concept texts and displays, reference display). */
  texts: string[];
  /** A human name for the product, when one is known. */
  name?: string;
  /** Number of ingredients of a resolved Medication (blends have more than one). */
  ingredientCount: number;
  /** The medicationReference that could not be resolved, when the product is unknown because of it. */
  unresolvedReference?: string;
  /** The resolved Medication (contained or referenced), for ingredient strengths. */
  medication?: Tolerant<Medication>;
}

const EMPTY: Product = { concepts: [], texts: [], ingredientCount: 0 };

function fromMedication(medication: Tolerant<Medication>, referenceDisplay: string | undefined): Product {
  const ingredients = asArray(medication.ingredient);
  const concepts = [medication.code, ...ingredients.map((i) => i.itemCodeableConcept)].filter(isPresent);
  const ingredientDisplays = ingredients.map((i) => i.itemReference?.display).filter((d): d is string => typeof d === 'string');
  const texts = [...concepts.flatMap(conceptTexts), ...ingredientDisplays, ...(referenceDisplay ? [referenceDisplay] : [])];
  const name = conceptLabel(medication.code) ?? referenceDisplay ?? conceptLabel(concepts[0]);
  return { concepts, texts, ...(name ? { name } : {}), ingredientCount: ingredients.length, medication };
}

/** The product of a MedicationRequest or MedicationStatement (concept, contained or referenced Medication). */
export function medicationProduct(resource: Tolerant<MedicationRequest | MedicationStatement>, lookup: MedicationLookup): Product {
  const concept = resource.medicationCodeableConcept;
  if (concept && (conceptTexts(concept).length > 0 || asArray(concept.coding).length > 0)) {
    const name = conceptLabel(concept);
    return { concepts: [concept], texts: conceptTexts(concept), ...(name ? { name } : {}), ingredientCount: 0 };
  }
  const reference = resource.medicationReference;
  if (!reference) return EMPTY;
  const display = typeof reference.display === 'string' && reference.display.trim() !== '' ? reference.display.trim() : undefined;
  const medication = lookup.resolve(reference, resource);
  if (medication) return fromMedication(medication, display);
  const ref = typeof reference.reference === 'string' ? reference.reference : undefined;
  return {
    concepts: [],
    texts: display ? [display] : [],
    ...(display ? { name: display } : {}),
    ingredientCount: 0,
    ...(ref ? { unresolvedReference: ref } : {}),
  };
}

/** The product of a NutritionOrder: its supplements' type and product name. */
export function nutritionProduct(order: Tolerant<NutritionOrder>): Product {
  const supplements = asArray(order.supplement);
  const concepts = supplements.map((s) => s.type).filter(isPresent);
  const names = supplements.map((s) => s.productName).filter((n): n is string => typeof n === 'string' && n.trim() !== '');
  const texts = [...concepts.flatMap(conceptTexts), ...names];
  const name = names[0] ?? conceptLabel(concepts[0]);
  return { concepts, texts, ...(name ? { name } : {}), ingredientCount: 0 };
}
