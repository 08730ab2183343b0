/**
 * npm run bench:attacks: the attacks of issue 13, each against a freshly started instance on loopback,
 * measured from outside — the attack's wall time and answer, the service's RSS before and at its peak
 * (sampled from /proc every 20 ms), and the slowest `/healthz` answer while the attack ran (polled
 * every 50 ms), plus what the attack left on disk and in the log.
 *
 *   npm run bench:attacks                       # this checkout (builds dist/ first)
 *   npm run bench:attacks -- --root /tmp/old    # another checkout with a built dist/, e.g. a
 *                                               # `git worktree` of an older commit, for before/after
 *   npm run bench:attacks -- --only valueString # the attacks whose name contains this
 *
 * Linux only (reads /proc). Prints a table and writes bench/attacks.json (or --out FILE).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const HERE = fileURLToPath(new URL('..', import.meta.url));
const SIGN = '/cds-services/glutamine-order-sign';
const SELECT = '/cds-services/glutamine-order-select';
const ADMIN = 'admin-token-for-bench-0001';

interface Options {
  root: string;
  out: string;
  /** Only the attacks whose name contains this. */
  only?: string;
}

function options(argv: string[]): Options {
  const value = (flag: string): string | undefined => {
    const at = argv.indexOf(flag);
    return at >= 0 ? argv[at + 1] : undefined;
  };
  const only = value('--only');
  return { root: resolve(value('--root') ?? HERE), out: resolve(value('--out') ?? join(HERE, 'bench', 'attacks.json')), ...(only ? { only } : {}) };
}

// ---- the service under attack ----

interface Service {
  child: ChildProcess;
  base: string;
  dataDir: string;
  log: () => string;
}

async function startService(root: string, env: Record<string, string> = {}): Promise<Service> {
  const dataDir = mkdtempSync(join(tmpdir(), 'glutamine-attack-'));
  const child = spawn(process.execPath, ['dist/main.js'], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      PORT: '0',
      HOST: '127.0.0.1',
      CDS_DB_PATH: join(dataDir, 'audit.sqlite'),
      CDS_ADMIN_TOKEN: ADMIN,
      CDS_ALLOW_HTTP_FHIR: 'true',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  for (let i = 0; i < 300; i++) {
    const line = log.split('\n').find((l) => l.includes('listening'));
    if (line) {
      const port = (JSON.parse(line) as { port: number }).port;
      return { child, base: `http://127.0.0.1:${port}`, dataDir, log: () => log };
    }
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`the service in ${root} did not start: ${log.slice(0, 500)}`);
}

async function stopService(service: Service): Promise<void> {
  const exited = new Promise((r) => service.child.once('exit', r));
  service.child.kill('SIGKILL');
  await exited;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssMb(pid: number): number {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) / 1024 : 0;
  } catch {
    return 0;
  }
}

function dirMb(dir: string): number {
  return readdirSync(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0) / 1024 / 1024;
}

interface Measurement {
  attack: string;
  outcome: string;
  ms: number;
  rssBeforeMb: number;
  rssPeakMb: number;
  healthzMaxMs: number;
  storedMb: number;
  longestLogLine: number;
}

/** Runs `attack` while sampling RSS and polling /healthz; what it returns is the outcome reported. */
async function measure(name: string, service: Service, attack: () => Promise<string>): Promise<Measurement> {
  const pid = service.child.pid ?? 0;
  await sleep(300);
  const rssBeforeMb = rssMb(pid);
  const storedBefore = dirMb(service.dataDir);
  const logBefore = service.log().length;
  let rssPeakMb = rssBeforeMb;
  const sampler = setInterval(() => (rssPeakMb = Math.max(rssPeakMb, rssMb(pid))), 20);
  let running = true;
  let healthzMaxMs = 0;
  const poller = (async () => {
    while (running) {
      const t = performance.now();
      try {
        await fetch(`${service.base}/healthz`, { signal: AbortSignal.timeout(120_000) });
      } catch {
        // A refused or dropped probe still took this long.
      }
      healthzMaxMs = Math.max(healthzMaxMs, performance.now() - t);
      await sleep(50);
    }
  })();
  const t0 = performance.now();
  let outcome: string;
  try {
    outcome = await attack();
  } catch (error) {
    outcome = `failed: ${(error as Error).message}`;
  }
  const ms = performance.now() - t0;
  running = false;
  await poller;
  clearInterval(sampler);
  await sleep(1500); // the log is flushed within a second (issue 13, item 7)
  const newLog = service.log().slice(logBefore);
  return {
    attack: name,
    outcome,
    ms: Math.round(ms),
    rssBeforeMb: Math.round(rssBeforeMb),
    rssPeakMb: Math.round(rssPeakMb),
    healthzMaxMs: Math.round(healthzMaxMs),
    storedMb: Math.round((dirMb(service.dataDir) - storedBefore) * 10) / 10,
    longestLogLine: Math.max(0, ...newLog.split('\n').map((l) => l.length)),
  };
}

// ---- requests ----

type Body = Record<string, unknown>;

function scenario(name: string): Body {
  return JSON.parse(readFileSync(join(HERE, 'fixtures', 'scenarios', `${name}.json`), 'utf8')) as Body;
}

async function post(base: string, path: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; bytes: number }> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body,
    signal: AbortSignal.timeout(300_000),
  });
  return { status: res.status, bytes: (await res.arrayBuffer()).byteLength };
}

/** A scenario with lab results, its `lab` (ammonia, egfr …) Observation changed by `change`. */
function withLab(lab: string, change: (observation: Body) => void): string {
  const body = scenario('cirrhosis-high-ammonia-lactulose-ckd4');
  const prefetch = body.prefetch as Record<string, { entry: Array<{ resource: Body }> }>;
  const observation = prefetch[lab]?.entry[0]?.resource;
  if (!observation) throw new Error(`the scenario has no ${lab} Observation`);
  change(observation);
  return JSON.stringify(body);
}

function glutamineDrafts(count: number, hookInstance?: string): string {
  const body = scenario('cirrhosis-order-sign');
  const drafts = body.context as { draftOrders: { entry: Array<{ resource: Body }> } };
  const first = drafts.draftOrders.entry[0]?.resource;
  if (!first) throw new Error('no draft');
  drafts.draftOrders.entry = Array.from({ length: count }, (_, i) => ({ resource: { ...first, id: `glutamine-${i}` } }));
  if (hookInstance !== undefined) body.hookInstance = hookInstance;
  return JSON.stringify(body);
}

function nestedArrays(bytes: number): string {
  const depth = Math.floor(bytes / 2);
  return `{"hook":"order-sign","hookInstance":"h","context":${'['.repeat(depth)}${']'.repeat(depth)}}`;
}

function statuses(results: Array<{ status: number }>): string {
  const counts = new Map<number, number>();
  for (const r of results) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  return [...counts].map(([status, n]) => (n === 1 ? String(status) : `${n}× ${status}`)).join(', ');
}

/** A FHIR server that answers every Medication read slowly and counts requests, sockets and concurrency. */
async function countingFhirServer() {
  const stats = { requests: 0, sockets: 0, inFlight: 0, maxInFlight: 0 };
  const server = createServer((req, res) => {
    stats.requests += 1;
    stats.inFlight += 1;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    setTimeout(() => {
      stats.inFlight -= 1;
      const id = /Medication\/([^/?]+)/.exec(req.url ?? '')?.[1] ?? 'x';
      res.setHeader('Content-Type', 'application/fhir+json');
      res.end(
        JSON.stringify(
          req.url?.includes('?') ? { resourceType: 'Bundle', type: 'searchset', entry: [] } : { resourceType: 'Medication', id, code: { text: 'Vitamin D' } },
        ),
      );
    }, 20);
  });
  server.on('connection', () => (stats.sockets += 1));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { stats, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`, close: () => new Promise((r) => server.close(r)) };
}

function medicationReferences(count: number, fhirServer: string): string {
  const body = scenario('cirrhosis-order-sign');
  body.fhirServer = fhirServer;
  const prefetch = body.prefetch as Record<string, unknown>;
  prefetch.medicationRequests = {
    resourceType: 'Bundle',
    type: 'searchset',
    entry: Array.from({ length: count }, (_, i) => ({
      resource: {
        resourceType: 'MedicationRequest',
        id: `mr-${i}`,
        status: 'active',
        intent: 'order',
        subject: { reference: 'Patient/pat-1001' },
        medicationReference: { reference: `Medication/med-${i}` },
      },
    })),
  };
  return JSON.stringify(body);
}

/** Feedback on cards nobody issued; `POST-` is replaced per post, so that no item repeats another. */
function feedbackOnUnknownCards(items: number): string {
  return JSON.stringify({
    feedback: Array.from({ length: items }, (_, i) => ({
      card: `POST-${i}`,
      outcome: 'overridden',
      overrideReason: { reason: { system: 'urn:x', code: 'x'.repeat(200), display: 'd'.repeat(1000) }, userComment: 'c'.repeat(4000) },
      outcomeTimestamp: '2026-11-26T12:00:00Z',
    })),
  });
}

// ---- the attacks ----

/** An attack: `prepare` builds its payload before the clock starts, and returns the attack itself. */
type Attack = { name: string; env?: Record<string, string>; prepare: () => (service: Service) => Promise<string> };

const once =
  (path: string, body: string | Buffer, headers: Record<string, string> = {}) =>
  async (s: Service): Promise<string> =>
    String((await post(s.base, path, body, headers)).status);

const atOnce =
  (count: number, path: string, body: string) =>
  async (s: Service): Promise<string> =>
    statuses(await Promise.all(Array.from({ length: count }, () => post(s.base, path, body))));

const ATTACKS: Attack[] = [
  {
    name: 'ammonia unit "x" + 3,000 spaces + "x" (3.7 KB)',
    prepare: () =>
      once(
        SIGN,
        withLab('ammonia', (o) => (o.valueQuantity = { value: 95, unit: `x${' '.repeat(3000)}x` })),
      ),
  },
  {
    name: 'eGFR valueString of 65,000 spaces + "x"',
    prepare: () =>
      once(
        SIGN,
        withLab('egfr', (o) => {
          delete o.valueQuantity;
          o.valueString = `${' '.repeat(65_000)}x`;
        }),
      ),
  },
  {
    name: '2,000 glutamine drafts (319 KB)',
    prepare: () => {
      const body = glutamineDrafts(2000);
      return async (s) => {
        const res = await post(s.base, SIGN, body);
        return `${res.status}, ${Math.round(res.bytes / 1024)} KB out`;
      };
    },
  },
  {
    name: 'six 8 MB bodies of nested arrays at once',
    env: { CDS_MAX_BODY: '10mb' }, // the old default; the new one (5 MB) would refuse them unread
    prepare: () => atOnce(6, SIGN, nestedArrays(8 * 1024 * 1024)),
  },
  {
    name: '20 hook calls at once, 500 drafts each',
    prepare: () => atOnce(20, SIGN, glutamineDrafts(500)),
  },
  {
    name: 'context.__proto__.selections = 5',
    prepare: () => {
      const body = scenario('order-select-lactulose-in-same-session') as { context: Body };
      delete body.context.selections;
      return once(SELECT, JSON.stringify(body).replace('"context":{', '"context":{"__proto__":{"selections":5},'));
    },
  },
  {
    name: 'feedback item with __proto__.acceptedSuggestions = 5',
    prepare: () =>
      once(
        `${SIGN}/feedback`,
        '{"feedback":[{"card":"c1","outcome":"accepted","__proto__":{"acceptedSuggestions":5},"outcomeTimestamp":"2026-11-26T12:00:00Z"}]}',
      ),
  },
  {
    name: 'overrideReason.reason.code = {}',
    prepare: () =>
      once(
        `${SIGN}/feedback`,
        JSON.stringify({
          feedback: [{ card: 'c1', outcome: 'overridden', overrideReason: { reason: { code: {} } }, outcomeTimestamp: '2026-11-26T12:00:00Z' }],
        }),
      ),
  },
  {
    name: 'Content-Encoding: gzip with a garbage body',
    prepare: () => once(SIGN, Buffer.from('this is not gzip'), { 'Content-Encoding': 'gzip' }),
  },
  {
    name: 'gzip bomb: 1 MB that inflates to 1 GB',
    prepare: () => once(SIGN, gzipSync(Buffer.alloc(1024 * 1024 * 1024, 32)), { 'Content-Encoding': 'gzip' }),
  },
  {
    name: '2 MB hookInstance on 20 drafts',
    env: { CDS_MAX_BODY: '10mb' },
    prepare: () => once(SIGN, glutamineDrafts(20, 'h'.repeat(2 * 1024 * 1024))),
  },
  {
    name: 'feedback on unknown cards from one client, 4 connections for 10 s (1 MB posts)',
    prepare: () => {
      const body = feedbackOnUnknownCards(200);
      return async (s) => {
        const results: Array<{ status: number }> = [];
        const until = performance.now() + 10_000;
        await Promise.all(
          Array.from({ length: 4 }, async (_, connection) => {
            for (let n = 0; performance.now() < until; n++) {
              results.push(await post(s.base, `${SIGN}/feedback`, body.replaceAll('"POST-', `"${connection}-${n}-`)));
            }
          }),
        );
        return statuses(results);
      };
    },
  },
  {
    name: '3,000 distinct Medication/<id> references',
    prepare: () => async (s) => {
      const fhir = await countingFhirServer();
      try {
        const res = await post(s.base, SIGN, medicationReferences(3000, fhir.url));
        return `${res.status}; FHIR: ${fhir.stats.requests} requests, ${fhir.stats.sockets} sockets, ${fhir.stats.maxInFlight} at once`;
      } finally {
        await fhir.close();
      }
    },
  },
];

/** GET /analytics/rules over an audit of `cards` cards, each with an answer, written by the checkout's own store. */
async function analyticsAttack(root: string, cards: number): Promise<Measurement> {
  const service = await startService(root);
  await stopService(service); // the schema is created; fill it with the checkout's own store code
  const { SqliteAuditStore } = (await import(join(root, 'dist', 'store', 'sqlite-store.js'))) as {
    SqliteAuditStore: new (path: string) => { recordCards(c: unknown[]): void; recordFeedback(f: unknown[]): unknown; close(): void };
  };
  const store = new SqliteAuditStore(join(service.dataDir, 'audit.sqlite'));
  const rules = ['liver-disease', 'hyperammonemia', 'kidney-disease', 'lactulose', 'active-cancer'];
  const now = Date.now();
  for (let start = 0; start < cards; start += 1000) {
    const batch = Array.from({ length: Math.min(1000, cards - start) }, (_, j) => {
      const i = start + j;
      const ruleId = rules[i % rules.length] ?? 'lactulose';
      return {
        uuid: `card-${i}`,
        ruleId,
        indicator: 'warning',
        findings: [{ ruleId, indicator: 'warning' }],
        serviceId: 'glutamine-order-sign',
        hookInstance: 'h',
        issuedAt: new Date(now - i * 20_000).toISOString(),
      };
    });
    store.recordCards(batch);
    store.recordFeedback(
      batch.map((c, j) => ({
        card: c.uuid,
        serviceId: c.serviceId,
        outcome: j % 2 ? 'accepted' : 'overridden',
        acceptedSuggestions: [],
        ...(j % 2 ? {} : { overrideReason: { system: 'urn:glutamine-cds:override-reason', code: `reason-${j % 7}` } }),
        outcomeTimestamp: c.issuedAt,
        receivedAt: c.issuedAt,
      })),
    );
  }
  store.close();
  const restarted = await startService(root, { CDS_DB_PATH: join(service.dataDir, 'audit.sqlite') });
  try {
    return await measure(`GET /analytics/rules over ${cards.toLocaleString('en')} answered cards`, restarted, async () => {
      const res = await fetch(`${restarted.base}/analytics/rules`, { headers: { Authorization: `Bearer ${ADMIN}` } });
      await res.arrayBuffer();
      return String(res.status);
    });
  } finally {
    await stopService(restarted);
  }
}

async function main(): Promise<void> {
  const { root, out, only } = options(process.argv.slice(2));
  const results: Measurement[] = [];
  for (const attack of ATTACKS.filter((a) => only === undefined || a.name.includes(only))) {
    const run = attack.prepare();
    const service = await startService(root, attack.env);
    try {
      results.push(await measure(attack.name, service, () => run(service)));
    } finally {
      await stopService(service);
    }
    console.error(JSON.stringify(results.at(-1)));
  }
  if (only === undefined || 'GET /analytics/rules'.includes(only)) {
    results.push(await analyticsAttack(root, 100_000));
    console.error(JSON.stringify(results.at(-1)));
  }

  const header = ['attack', 'answer', 'time ms', 'RSS MB before → peak', '/healthz max ms', 'stored MB', 'longest log line'];
  const rows = results.map((r) => [
    r.attack,
    r.outcome,
    String(r.ms),
    `${r.rssBeforeMb} → ${r.rssPeakMb}`,
    String(r.healthzMaxMs),
    String(r.storedMb),
    String(r.longestLogLine),
  ]);
  console.log(`Attacks against ${root}\n`);
  console.log(`| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|\n${rows.map((r) => `| ${r.join(' | ')} |`).join('\n')}`);
  writeFileSync(out, `${JSON.stringify({ root, node: process.version, at: new Date().toISOString(), results }, null, 2)}\n`);
}

await main();
