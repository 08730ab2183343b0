/**
 * Which codes make up each of the service's value sets, and where each one comes from.
 *
 * This file only *selects* codes; `build-valuesets.ts` looks every code up in the cited source
 * (a VSAC expansion, `terminology/codes.md` or `docs/clinical-spec.md`) and refuses any code it
 * cannot find there, so no code can enter the service from memory.
 */

import { SYSTEM } from '../src/fhir/codings.js';

/** The code systems value sets may draw on: the service's own URIs, so both match by construction. */
export const SYSTEMS = {
  snomed: SYSTEM.snomed,
  icd10cm: SYSTEM.icd10cm,
  rxnorm: SYSTEM.rxnorm,
  loinc: SYSTEM.loinc,
  ndc: SYSTEM.ndc,
  unii: SYSTEM.unii,
  atc: SYSTEM.atc,
} as const;

export type SystemKey = keyof typeof SYSTEMS;

/** Codes taken from a VSAC expansion in `terminology/vsac/`; `match` keeps a subset (`K72.*` = prefix). */
export interface VsacInclude {
  vsac: string;
  match?: string[];
  /** Codes to leave out (`C44.*` = prefix). */
  exclude?: string[];
  /** Concepts to leave out by display (case-insensitive regular expressions), where codes cannot be listed. */
  excludeDisplay?: string[];
}

/**
 * Individual codes from a verified list. With `from: 'codes.md'` the display is read from the table
 * row whose first cell is the code, unless `display` is given (rows that list several codes at once).
 */
export interface CodeListInclude {
  from: 'codes.md' | 'clinical-spec.md';
  system: SystemKey;
  codes: Array<string | { code: string; display: string }>;
  note?: string;
}

/**
 * Every ICD-10-CM code under the given codes (`D57.0` = D57.0 and D57.00, D57.01 …), written as a
 * FHIR `is-a` filter. ICD-10-CM's hierarchy is its code prefix, so the service matches these by prefix.
 * Each code must appear in the cited source.
 */
export interface Icd10DescendantsInclude {
  from: 'clinical-spec.md';
  icd10cmDescendantsOf: string[];
}

export type Include = VsacInclude | CodeListInclude | Icd10DescendantsInclude;

export interface ValueSetDefinition {
  id: string;
  title: string;
  description: string;
  include: Include[];
}

export const VALUE_SET_DEFINITIONS: ValueSetDefinition[] = [
  {
    id: 'glutamine-products',
    title: 'Glutamine products',
    description:
      'Codes that identify an L-glutamine (or alanyl-glutamine) product on an order: RxNorm clinical and branded drugs, NDC packages, UNII substances, ATC classes and SNOMED CT substance.',
    include: [
      {
        from: 'clinical-spec.md',
        system: 'rxnorm',
        note: 'Displays of the Sandbox catalogue products as the CDS Hooks Sandbox shows them; 1869684 and 1928941 as described by the openFDA NDC records (codes.md P1, P2).',
        codes: [
          { code: '1869684', display: 'glutamine 5 g oral powder (generic)' },
          { code: '1928941', display: 'Endari (L-glutamine 5 g oral powder)' },
          { code: '199153', display: 'Glutamine 500 MG Oral Tablet' },
          { code: '199866', display: 'Glutamine 500 MG Oral Capsule' },
          { code: '579958', display: 'Glutamine 750 MG Oral Capsule' },
          { code: '282726', display: 'glutamine / tyrosine (combination product)' },
          { code: '664831', display: 'glutamine / ginkgo (combination product)' },
        ],
      },
      {
        from: 'codes.md',
        system: 'ndc',
        codes: [
          { code: '42457-420-60', display: 'Endari, 60 packets (L-glutamine 5 g per packet)' },
          { code: '42457-420-01', display: 'Endari, single packet (L-glutamine 5 g)' },
          { code: '31722-483-60', display: 'L-glutamine oral powder (Camber), 60 packets (5 g per packet)' },
        ],
      },
      {
        from: 'codes.md',
        system: 'unii',
        codes: [
          { code: '0RH81L854J', display: 'GLUTAMINE' },
          { code: 'U5JDO2770Z', display: 'alanyl glutamine' },
        ],
      },
      {
        from: 'codes.md',
        system: 'atc',
        codes: [
          { code: 'A16AA03', display: 'glutamine' },
          { code: 'B05XB02', display: 'alanyl glutamine' },
        ],
      },
      { from: 'codes.md', system: 'snomed', codes: [{ code: '703391005', display: 'Alanylglutamine (substance)' }] },
    ],
  },
  {
    id: 'liver-disease-advanced',
    title: 'Advanced liver disease',
    description:
      'Cirrhosis of any cause, hepatic failure and coma, hepatic encephalopathy, portal hypertension, hepatorenal syndrome and oesophageal/gastric varices: VSAC "Liver Disease Moderate to Severe" plus the codes of VSAC "Liver Disease" and "Chronic Liver Disease" the clinical specification (and its revision 2) names as advanced.',
    include: [
      { vsac: '2.16.840.1.113762.1.4.1248.137' },
      { vsac: '2.16.840.1.113762.1.4.1047.42', match: ['K70.30', 'K70.31', 'K71.7', 'K72.*', 'K74.3', 'K74.4', 'K74.5', 'K74.6*'] },
      // Clinical-spec revision 2, "Liver disease — critical tier additions": cirrhosis of any cause,
      // hepatic coma, hepatorenal syndrome, from the same two VSAC expansions (not 62216007, a
      // congenital syndrome that only has "hepatorenal" in its name; not the "without coma" codes).
      {
        vsac: '2.16.840.1.113762.1.4.1047.42',
        match: ['109819003', '186628001', '266468003', '31005002', '425413006', '435091000124105', '435101000124104', '831000119103', 'B17.11', 'K71.11'],
      },
      {
        vsac: '2.16.840.1.113883.3.464.1003.199.12.1035',
        match: [
          '1010616001',
          '123604002',
          '123606000',
          '12368000',
          '123716002',
          '15999000',
          '1761006',
          '197293003',
          '197296006',
          '21861000',
          '235895002',
          '235896001',
          '235897005',
          '271440004',
          '27156006',
          '33144001',
          '371139006',
          '37688005',
          '424340000',
          '43904005',
          '536002',
          '735733008',
          '76301009',
          '78208005',
          '86454000',
          '871619002',
        ],
      },
      { from: 'codes.md', system: 'icd10cm', codes: ['K76.82'] },
      {
        from: 'codes.md',
        system: 'snomed',
        codes: ['19943007', '420054005', '123717006', '59927004', '197270009', '235881000', '13920009', '34742003', '51292008'],
      },
    ],
  },
  {
    id: 'liver-disease-chronic',
    title: 'Chronic liver disease',
    description:
      'Other chronic liver disease (chronic hepatitis, alcoholic liver disease, fibrosis, fatty liver, autoimmune hepatitis …): VSAC "Liver Disease" and "Chronic Liver Disease".',
    include: [{ vsac: '2.16.840.1.113762.1.4.1047.42' }, { vsac: '2.16.840.1.113883.3.464.1003.199.12.1035' }],
  },
  {
    id: 'kidney-disease-severe',
    title: 'CKD stage 5, end-stage renal disease or dialysis dependence',
    description:
      'VSAC "End Stage Renal Disease" and "Chronic Kidney Disease, Stage 5", the hypertensive CKD codes that state stage 5 or ESRD, and dialysis dependence.',
    include: [
      { vsac: '2.16.840.1.113883.3.526.3.353' },
      { vsac: '2.16.840.1.113883.3.526.3.1002' },
      { vsac: '2.16.840.1.113762.1.4.1029.335', match: ['I12.0', 'I13.11', 'I13.2'] },
      { from: 'codes.md', system: 'icd10cm', codes: ['Z99.2'] },
      { from: 'codes.md', system: 'snomed', codes: ['714152005', '105502003'] },
    ],
  },
  {
    id: 'kidney-disease-moderate',
    title: 'CKD stage 3–4, unspecified CKD or kidney failure, hypertensive CKD, acute kidney injury',
    description:
      'Chronic kidney disease stages 3–4 or of unknown stage, unspecified kidney failure, hypertensive (heart and) CKD of stage 1–4 or unknown stage, and acute kidney injury.',
    include: [
      { vsac: '2.16.840.1.113762.1.4.1110.53', match: ['N17.*'] },
      { vsac: '2.16.840.1.113762.1.4.1029.335', match: ['N18.3*', 'N18.4', 'N18.9', 'I12.9', 'I13.0', 'I13.10'] },
      {
        from: 'codes.md',
        system: 'icd10cm',
        codes: [{ code: 'N18.3', display: 'Chronic kidney disease, stage 3 (moderate)' }, 'N19'],
      },
      {
        from: 'codes.md',
        system: 'snomed',
        codes: [
          '709044004',
          '433144002',
          { code: '700378005', display: 'Chronic kidney disease stage 3A (disorder)' },
          { code: '700379002', display: 'Chronic kidney disease stage 3B (disorder)' },
          '431857002',
          '90688005',
          '723190009',
          '14669001',
        ],
      },
    ],
  },
  {
    id: 'ammonia-tests',
    title: 'Plasma ammonia tests',
    description: 'LOINC codes for plasma ammonia (molar and mass concentration) and ammonium ion.',
    include: [
      {
        from: 'codes.md',
        system: 'loinc',
        codes: [
          { code: '16362-6', display: 'Ammonia [Moles/volume] in Plasma' },
          { code: '22763-7', display: 'Ammonia [Mass/volume] in Plasma' },
          { code: '1845-7', display: 'Ammonium ion [Moles/volume] in Plasma' },
        ],
      },
    ],
  },
  {
    id: 'egfr-tests',
    title: 'Estimated glomerular filtration rate tests',
    description: 'VSAC "Estimated Glomerular Filtration Rate" plus the MDRD code Synthea emits (33914-3).',
    include: [{ vsac: '2.16.840.1.113883.3.6929.3.1000' }, { from: 'codes.md', system: 'loinc', codes: ['33914-3'] }],
  },
  {
    id: 'creatinine-tests',
    title: 'Serum, plasma or blood creatinine tests',
    description:
      'The creatinine codes of the clinical specification (mass and molar, serum/plasma/blood), from VSAC "Creatinine Lab Test"; dialysis-timed and arterial codes are left out.',
    include: [{ vsac: '2.16.840.1.113883.3.666.5.2363', match: ['2160-0', '38483-4', '14682-9', '59826-8', '77140-2'] }],
  },
  {
    id: 'body-weight-tests',
    title: 'Body weight',
    description: 'LOINC body weight observation.',
    include: [{ from: 'clinical-spec.md', system: 'loinc', codes: [{ code: '29463-7', display: 'Body weight' }] }],
  },
  {
    id: 'lactulose',
    title: 'Lactulose',
    description: 'Lactulose as an RxNorm ingredient and a SNOMED CT substance (products are matched by name as well).',
    include: [
      { from: 'codes.md', system: 'rxnorm', codes: [{ code: '6218', display: 'Lactulose' }] },
      { from: 'codes.md', system: 'snomed', codes: [{ code: '273945008', display: 'Lactulose' }] },
    ],
  },
  {
    id: 'active-cancer',
    title: 'Malignancy (primary or secondary), excluding keratinocyte skin cancer',
    description:
      'VSAC "All Primary and Secondary Cancer" without ICD-10-CM C44.* (other malignant neoplasm of skin: basal and squamous cell carcinoma) and without the SNOMED CT concepts for basal cell carcinoma, cutaneous squamous cell carcinoma and unspecified primary malignant neoplasm of skin. Melanoma, Merkel cell carcinoma and secondary (metastatic) skin cancer stay in.',
    include: [
      {
        vsac: '2.16.840.1.113762.1.4.1111.161',
        exclude: ['C44.*'],
        excludeDisplay: [
          'basal cell carcinoma',
          'squamous cell carcinoma of (?:anal )?skin',
          'squamous cell carcinoma of overlapping sites of skin',
          '^(?:primary |overlapping )?malignant (?:neoplasm|tumor) of skin(?!.*(?:melanoma|penis|scrotum))',
        ],
      },
    ],
  },
  {
    id: 'bipolar-disorder',
    title: 'Bipolar disorder or mania',
    description: 'VSAC "Bipolar Disorder" (ICD-10-CM F30.*, F31.* and SNOMED CT) plus SNOMED CT 231494001 Mania, which that value set lacks.',
    include: [
      { vsac: '2.16.840.1.113883.3.67.1.101.1.128' },
      { from: 'codes.md', system: 'snomed', codes: [{ code: '231494001', display: 'Mania (disorder)' }] },
    ],
  },
  {
    id: 'cancer-only-antineoplastics',
    title: 'Antineoplastics used only for cancer',
    description:
      'Cytotoxic and targeted antineoplastics used only to treat cancer (clinical-spec revision 2, item 27), matched whole-word by ingredient name. Deliberately not methotrexate, cyclophosphamide, azathioprine, hydroxyurea, tamoxifen, leuprolide or rituximab, which have common non-cancer uses (hydroxyurea is standard in sickle cell disease).',
    include: [],
  },
  {
    id: 'lithium',
    title: 'Lithium',
    description: 'Lithium as RxNorm ingredients and SNOMED CT substances (products are matched by name as well).',
    include: [
      { from: 'codes.md', system: 'rxnorm', codes: ['6448', '42351'] },
      {
        from: 'codes.md',
        system: 'snomed',
        codes: [
          { code: '387095003', display: 'Lithium carbonate' },
          { code: '111080000', display: 'Lithium acetate' },
          { code: '708197001', display: 'Lithium sulfate' },
        ],
      },
    ],
  },
  {
    id: 'antiseizure-medications',
    title: 'Anti-seizure medications (gabapentinoids excluded)',
    description:
      'Valproate forms, carbamazepine, phenytoin, fosphenytoin, phenobarbital, primidone, lamotrigine, levetiracetam, brivaracetam, topiramate, oxcarbazepine, lacosamide, zonisamide, clobazam and ethosuximide: RxNorm ingredients where verified, RxNorm clinical drugs for lacosamide and ethosuximide (whose ingredient codes are unverified), SNOMED CT substances. Gabapentin and pregabalin are deliberately left out: they are mostly prescribed for pain.',
    include: [
      {
        from: 'codes.md',
        system: 'rxnorm',
        codes: ['11118', '40254', '266856', '2002', '8183', '72236', '8134', '8691', '28439', '114477', '1739745', '38404', '32624', '39998', '21241'],
      },
      {
        from: 'codes.md',
        system: 'rxnorm',
        note: 'lacosamide and ethosuximide clinical drugs (codes.md §G, VSAC "Central Nervous System Depressants")',
        codes: [
          { code: '810000', display: 'lacosamide 50 MG Oral Tablet' },
          { code: '809987', display: 'lacosamide 100 MG Oral Tablet' },
          { code: '809992', display: 'lacosamide 150 MG Oral Tablet' },
          { code: '809996', display: 'lacosamide 200 MG Oral Tablet' },
          { code: '993856', display: 'lacosamide 10 MG/ML Oral Solution' },
          { code: '2637018', display: '24 HR lacosamide 100 MG Extended Release Oral Capsule' },
          { code: '2637027', display: '24 HR lacosamide 150 MG Extended Release Oral Capsule' },
          { code: '2637032', display: '24 HR lacosamide 200 MG Extended Release Oral Capsule' },
          { code: '197682', display: 'ethosuximide 250 MG Oral Capsule' },
          { code: '251322', display: 'ethosuximide 50 MG/ML Oral Solution' },
        ],
      },
      {
        from: 'codes.md',
        system: 'snomed',
        codes: [
          { code: '387080000', display: 'Valproic acid' },
          { code: '387481005', display: 'Valproate sodium' },
          { code: '5641004', display: 'Valproate semisodium' },
          { code: '387222003', display: 'Carbamazepine' },
          { code: '387220006', display: 'Phenytoin' },
          { code: '373505007', display: 'Phenobarbital' },
          { code: '387256009', display: 'Primidone' },
          { code: '387562000', display: 'Lamotrigine' },
          { code: '387000003', display: 'Levetiracetam' },
          { code: '386844006', display: 'Topiramate' },
          { code: '387025007', display: 'Oxcarbazepine' },
          { code: '441647003', display: 'Lacosamide' },
          { code: '125693002', display: 'Zonisamide' },
          { code: '387572002', display: 'Clobazam' },
          { code: '387244008', display: 'Ethosuximide' },
        ],
      },
    ],
  },
  {
    id: 'sickle-cell-disease',
    title: 'Sickle cell disease (not sickle cell trait)',
    description:
      'ICD-10-CM D57.0*, D57.1, D57.2*, D57.4*, D57.8* (not D57.3 sickle-cell trait) and SNOMED CT 417357006. The SNOMED CT descendants of 417357006 cannot be listed from a verified source; the rules also match condition names (see the rule files).',
    include: [
      { from: 'clinical-spec.md', icd10cmDescendantsOf: ['D57.0', 'D57.1', 'D57.2', 'D57.4', 'D57.8'] },
      { from: 'clinical-spec.md', system: 'snomed', codes: [{ code: '417357006', display: 'Sickling disorder due to hemoglobin S' }] },
    ],
  },
  {
    id: 'short-bowel-syndrome',
    title: 'Short bowel syndrome',
    description: 'ICD-10-CM K90.82* and K91.2, as the clinical specification lists them.',
    include: [{ from: 'clinical-spec.md', icd10cmDescendantsOf: ['K90.82', 'K91.2'] }],
  },
  {
    id: 'weight-reduction-reasons',
    title: 'Obesity or overweight (intended weight reduction)',
    description:
      'ICD-10-CM E66.* (overweight and obesity) and Z68.3*/Z68.4* (adult BMI 30 and over). No SNOMED CT obesity codes are verified; the rule matches reason names instead. Unintended weight loss and cachexia (R63.4, R64) are not included.',
    include: [{ from: 'clinical-spec.md', icd10cmDescendantsOf: ['E66', 'Z68.3', 'Z68.4'] }],
  },
  {
    id: 'glutamine-combination-products',
    title: 'Glutamine combination products',
    description: 'RxNorm products that combine glutamine with other ingredients.',
    include: [
      {
        from: 'clinical-spec.md',
        system: 'rxnorm',
        codes: [
          { code: '282726', display: 'glutamine / tyrosine (combination product)' },
          { code: '664831', display: 'glutamine / ginkgo (combination product)' },
        ],
      },
    ],
  },
  {
    id: 'endari-products',
    title: 'Endari (L-glutamine oral powder for sickle cell disease)',
    description: 'The Endari branded drug and its NDC packages.',
    include: [
      { from: 'clinical-spec.md', system: 'rxnorm', codes: [{ code: '1928941', display: 'Endari (L-glutamine 5 g oral powder)' }] },
      {
        from: 'codes.md',
        system: 'ndc',
        codes: [
          { code: '42457-420-60', display: 'Endari, 60 packets (L-glutamine 5 g per packet)' },
          { code: '42457-420-01', display: 'Endari, single packet (L-glutamine 5 g)' },
        ],
      },
    ],
  },
];
