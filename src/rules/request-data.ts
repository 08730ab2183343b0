import type { CodeableConcept, Condition } from 'fhir/r4';
import { conditionCounts } from './conditions.js';
import { conceptTexts } from '../fhir/codings.js';
import { parseFhirDate } from '../fhir/dates.js';
import type { Comparator } from '../fhir/quantities.js';
import type { AnyResource, Tolerant } from '../fhir/tolerant.js';
import type { Analyte } from './catalogue-schema.js';
import { dailyDose, gramsPerUnit, largestSingleDose, plannedDuration } from './dose.js';
import type { DailyDose, PlannedDuration, SingleDose } from './dose.js';
import { ageInYears, ckdEpi2021 } from './egfr.js';
import type { GlutamineOrder } from './glutamine-orders.js';
import { formatLabValue } from './lab-format.js';
import { datedResults, latestLabOf } from './labs.js';
import type { DatedResult, LabReading, LatestLab } from './labs.js';
import type { Catalogue } from './load-catalogue.js';
import { currentMedications } from './medications.js';
import type { CurrentMedication } from './medications.js';
import type { Product } from './medication-product.js';
import type { PatientRecord } from './patient-record.js';

export interface RequestInput {
  catalogue: Catalogue;
  orders: readonly GlutamineOrder[];
  /** Every resource of context.draftOrders (the other orders count as co-medications). */
  drafts: readonly AnyResource[];
  record: PatientRecord;
  now: number;
}

/** What the order itself says: computed once per order. */
export interface OrderFacts {
  daily?: DailyDose;
  single?: SingleDose;
  duration?: PlannedDuration;
}

/** eGFR falls as creatinine rises: a creatinine above a bound gives an eGFR at most the computed value. */
const BOUND_FLIPPED: Record<string, Comparator | undefined> = { '>': '<=', '>=': '<=', '<': '>=', '<=': '>=' };

/** Why an eGFR could not be calculated from creatinine, when that matters. */
export type DerivationProblem = { analyte: string; reason: string };

/**
 * Per-request view of the patient data, computed once and shared by every order and rule: the
 * latest result per analyte (eGFR calculated from creatinine when none is reported), the
 * co-medications of each order, and each order's dose and duration.
 */
export class RequestData {
  private readonly labs = new Map<string, LatestLab>();
  private readonly facts = new Map<GlutamineOrder, OrderFacts>();
  private readonly medications = new Map<GlutamineOrder, CurrentMedication[]>();
  private counting?: Condition[];
  private dated?: DatedResult[];
  private allMedications?: CurrentMedication[];
  private positions?: Map<AnyResource, { index: number; checked: boolean }>;
  private readonly texts = new Map<Tolerant<CodeableConcept>, string[]>();
  private readonly memos = new Map<string, unknown>();
  private conditionsByNamedValueSet?: Map<string, Condition[]>;
  private productsByNamedValueSet?: Map<string, Product[]>;
  readonly derivationProblems: DerivationProblem[] = [];

  constructor(readonly input: RequestInput) {}

  /** The conditions that count (active, not refuted…), filtered once for all the rules. */
  countingConditions(): Condition[] {
    this.counting ??= this.input.record.conditions.filter(conditionCounts);
    return this.counting;
  }

  /**
   * What a criterion computes from the record alone, whatever the order (the conditions in a value
   * set, the co-medications in one): computed once per request under `key`, however many rules,
   * exemptions, gaps and orders ask.
   */
  memo<T>(key: string, compute: () => T): T {
    if (this.memos.has(key)) return this.memos.get(key) as T;
    const value = compute();
    this.memos.set(key, value);
    return value;
  }

  /** conceptTexts of a concept of the record, read once per request (conditions are read against every value set with names). */
  textsOf(concept: Tolerant<CodeableConcept> | undefined): string[] {
    if (!concept) return [];
    let texts = this.texts.get(concept);
    if (!texts) {
      texts = conceptTexts(concept);
      this.texts.set(concept, texts);
    }
    return texts;
  }

  /**
   * The counting conditions whose texts may name the value set (catalogue.valueSetsNamedIn): the
   * only ones its name patterns need to run on. One pass over the record, for every value set.
   */
  conditionsThatMayName(valueSetId: string): readonly Condition[] {
    this.conditionsByNamedValueSet ??= byNamedValueSet(this.countingConditions(), (c) => this.textsOf(c.code), this.input.catalogue);
    return this.conditionsByNamedValueSet.get(valueSetId) ?? [];
  }

  /** The products of the current medications and other drafts whose texts may name the value set (as conditionsThatMayName). */
  productsThatMayName(valueSetId: string): readonly Product[] {
    this.productsByNamedValueSet ??= byNamedValueSet(
      this.currentMedications().map((m) => m.product),
      (p) => p.texts,
      this.input.catalogue,
    );
    return this.productsByNamedValueSet.get(valueSetId) ?? [];
  }

  latestLab(analyte: Analyte): LatestLab {
    let latest = this.labs.get(analyte.id);
    if (!latest) {
      const valueSet = this.input.catalogue.valueSets.get(analyte.valueSet);
      this.dated ??= datedResults(this.input.record.observations);
      latest = valueSet ? latestLabOf(this.dated, analyte, valueSet.codes, this.input.now) : { unreadable: [] };
      const derived = analyte.derivedFrom ? this.derived(analyte, latest.reading) : undefined;
      if (derived) latest = { ...latest, reading: derived };
      this.labs.set(analyte.id, latest);
    }
    return latest;
  }

  /**
   * eGFR from the latest creatinine (CKD-EPI 2021) when no eGFR is in the window, or when the
   * creatinine is newer than the latest reported eGFR (clinical-spec revision 2, item 3: the most
   * recent kidney evidence decides; on the same day the lab's own eGFR wins). A bounded creatinine
   * bounds the eGFR the other way (item 4: creatinine >4.0 → eGFR at most the computed value).
   * Not computed without sex or birth date, nor under 18 (item 5: CKD-EPI is an adult equation).
   */
  private derived(analyte: Analyte, reported: LabReading | undefined): LabReading | undefined {
    const source = analyte.derivedFrom ? this.input.catalogue.analytes.get(analyte.derivedFrom.analyte) : undefined;
    const creatinine = source ? this.latestLab(source).reading : undefined;
    if (!source || !creatinine?.measured || creatinine.date === undefined) return undefined;
    if (reported?.date !== undefined && creatinine.date <= reported.date) return undefined;
    // With a reported eGFR to fall back on, nothing went unchecked.
    const problem = (why: string): void => {
      if (!reported) this.derivationProblems.push({ analyte: analyte.id, reason: why });
    };
    const patient = this.input.record.patient;
    const sex = patient?.gender === 'female' || patient?.gender === 'male' ? patient.gender : undefined;
    const birth = parseFhirDate(patient?.birthDate);
    const at = parseFhirDate(creatinine.date);
    if (!sex || birth === undefined || at === undefined) {
      problem(
        `${analyte.label} could not be calculated from the creatinine of ${creatinine.date}: the patient's ${!sex ? 'sex' : 'birth date'} is unknown${this.demographicsNote()}`,
      );
      return undefined;
    }
    const age = ageInYears(birth, at);
    if (age < 18) {
      problem(`${analyte.label} not calculated (under 18): CKD-EPI is an adult equation, so the creatinine of ${creatinine.date} was not used`);
      return undefined;
    }
    const value = ckdEpi2021(creatinine.measured.value, age, sex);
    const comparator = BOUND_FLIPPED[creatinine.measured.comparator ?? ''];
    const measured = comparator ? { value, comparator } : { value };
    const scr = `${formatLabValue(creatinine.measured, source)} ${source.unit}`;
    const newer = reported?.date ? `; newer than the reported ${analyte.label} of ${reported.date}` : '';
    return {
      date: creatinine.date,
      label: `${analyte.label} (calculated)`,
      measured,
      reported: formatLabValue(measured, analyte),
      reportedUnit: analyte.unit,
      interpretations: [],
      calculatedFrom: `CKD-EPI 2021 (no race term) from creatinine ${scr} on ${creatinine.date}, ${sex}, ${age} years${newer}`,
    };
  }

  /** Why the Patient resource is missing, when it is: said where a calculation needed it (revision 2, item 19). */
  private demographicsNote(): string {
    const requirement = this.input.catalogue.data.find((r) => r.resourceType === 'Patient');
    const status = requirement ? this.input.record.status.get(requirement.key) : undefined;
    return requirement && status && (status.state === 'unavailable' || status.state === 'partial') ? ` (${requirement.label}: ${status.reason})` : '';
  }

  /** The patient's current medications and the other draft orders, each product read once per request. */
  currentMedications(): CurrentMedication[] {
    this.allMedications ??= currentMedications(this.input.record, this.input.drafts, this.input.record.medications);
    return this.allMedications;
  }

  medicationsBesides(order: GlutamineOrder): CurrentMedication[] {
    let list = this.medications.get(order);
    if (!list) {
      // Each order leaves out itself — and, on order-sign, a revised order that is also among the current orders.
      list = this.currentMedications().filter((m) => m.draft !== order.resource && !(order.id !== undefined && m.requestId === order.id));
      this.medications.set(order, list);
    }
    return list;
  }

  /** Position of a draft in draftOrders, and whether it is one of the checked glutamine orders. */
  draftPosition(draft: AnyResource): { index: number; checked: boolean } {
    if (!this.positions) {
      const checked = new Set(this.input.orders.map((o) => o.resource));
      this.positions = new Map(this.input.drafts.map((d, index) => [d, { index, checked: checked.has(d) }]));
    }
    return this.positions.get(draft) ?? { index: -1, checked: false };
  }

  orderFacts(order: GlutamineOrder): OrderFacts {
    let facts = this.facts.get(order);
    if (!facts) {
      const { catalogue } = this.input;
      const resource = order.request;
      // Which ingredient of a blend is the glutamine, for its strength.
      const isGlutamine = (concept: Tolerant<CodeableConcept> | undefined): boolean =>
        concept !== undefined &&
        (catalogue.glutamineOrder.codes.match(concept) !== undefined || conceptTexts(concept).some(catalogue.glutamineOrder.matchesName));
      const perUnit = gramsPerUnit(order.product.concepts, order.product.medication, catalogue.dosing, catalogue.productStrengths, isGlutamine);
      const ctx = { dosing: catalogue.dosing, ...(perUnit !== undefined ? { gramsPerUnit: perUnit } : {}) };
      const daily = dailyDose(resource, ctx);
      const single = largestSingleDose(resource, ctx);
      const duration = plannedDuration(resource, catalogue.dosing);
      facts = { ...(daily ? { daily } : {}), ...(single ? { single } : {}), ...(duration ? { duration } : {}) };
      this.facts.set(order, facts);
    }
    return facts;
  }

  /** A plain measured value (no bound) of the latest result of an analyte, in its canonical unit. */
  latestValue(analyteId: string): { value: number; date?: string } | undefined {
    const analyte = this.input.catalogue.analytes.get(analyteId);
    const reading = analyte ? this.latestLab(analyte).reading : undefined;
    if (!reading?.measured || reading.measured.comparator) return undefined;
    return { value: reading.measured.value, ...(reading.date ? { date: reading.date } : {}) };
  }
}

/** Each item under every value set one of its texts may name, once, in the items' order. */
function byNamedValueSet<T>(items: readonly T[], textsOf: (item: T) => readonly string[], catalogue: Catalogue): Map<string, T[]> {
  const byValueSet = new Map<string, T[]>();
  for (const item of items) {
    for (const text of textsOf(item)) {
      for (const id of catalogue.valueSetsNamedIn(text)) {
        const list = byValueSet.get(id);
        if (!list) byValueSet.set(id, [item]);
        // Another text of the same item naming the same value set: the item is there already.
        else if (list[list.length - 1] !== item) list.push(item);
      }
    }
  }
  return byValueSet;
}
