import type { Condition, MedicationRequest, MedicationStatement, Observation, Patient } from 'fhir/r4';
import type { FetchFailureKind } from '../fhir/fhir-client.js';
import type { MedicationLookup } from './medication-lookup.js';

/** Why data was missing when the FHIR server was asked: its failure kind (absent: not asked, or not provided). */
type MissingCause = FetchFailureKind;

/** How one data requirement (prefetch key) turned out. */
export type DataStatus =
  | { state: 'available' }
  | { state: 'empty' }
  | { state: 'partial'; reason: string; cause?: MissingCause }
  | { state: 'unavailable'; reason: string; cause?: MissingCause };

/** The patient's data as the rules see it, whatever way it arrived (prefetch now, FHIR fetch later). */
export interface PatientRecord {
  patient?: Patient;
  conditions: Condition[];
  observations: Observation[];
  medicationRequests: MedicationRequest[];
  medicationStatements: MedicationStatement[];
  medications: MedicationLookup;
  /** Status of each data requirement key from cards/services.json. */
  status: Map<string, DataStatus>;
}
