import bytes from 'bytes';
import { z } from 'zod';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { FhirAccessPolicy } from './cds/fhir-access.js';
import { DEFAULT_INPUT_LIMITS } from './cds/input-limits.js';
import { DEFAULT_MAX_REQUESTS } from './fhir/fhir-client.js';
import type { InputLimits } from './cds/input-limits.js';
import { ConfigError } from './errors.js';
import { withoutTrailingSlashes } from './fhir/strings.js';

/** The only module that reads process.env (docs/conventions.md, convention 2). */

/** Hook calls evaluated at once by default: two per core (they are CPU-bound between fetches). */
const DEFAULT_CONCURRENT_HOOKS = 2 * availableParallelism();

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const DURATION_UNITS_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000 };

/** A duration such as `4h`, `30m` or `90s` (0 turns what it bounds off), in milliseconds. */
function duration(defaultValue: string) {
  return z
    .string()
    .trim()
    .default(defaultValue)
    .transform((value, ctx) => {
      const match = /^(\d{1,7})\s*(s|m|h)$/.exec(value);
      if (!match?.[1] || !match[2]) {
        ctx.addIssue({ code: 'custom', message: `must be a duration such as 4h, 30m or 90s (got '${value}')` });
        return z.NEVER;
      }
      return Number(match[1]) * (DURATION_UNITS_MS[match[2]] ?? 0);
    });
}

/** A switch: `true`/`false` or `1`/`0`, in any case, with surrounding spaces ignored. */
function envBoolean(defaultValue: boolean) {
  return z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return defaultValue;
      const normalized = value.trim().toLowerCase();
      if (normalized === 'true' || normalized === '1') return true;
      if (normalized === 'false' || normalized === '0') return false;
      ctx.addIssue({ code: 'custom', message: `must be true or false (or 1 or 0); got '${value}'` });
      return z.NEVER;
    });
}

/** A size such as `10mb` or `512kb`, read with `bytes` (the parser body-parser itself uses). */
function byteSize(defaultValue: string) {
  return z
    .string()
    .default(defaultValue)
    .transform((value, ctx) => {
      const parsed = bytes.parse(value);
      if (parsed === null || !Number.isFinite(parsed) || parsed <= 0) {
        ctx.addIssue({ code: 'custom', message: `must be a size such as 10mb or 512kb (got '${value}')` });
        return z.NEVER;
      }
      return parsed;
    });
}

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().trim().min(1).default('127.0.0.1'),
  CDS_PUBLIC_URL: z.url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL' }).optional(),
  CDS_MAX_BODY: byteSize('5mb'),
  CDS_MAX_DRAFT_ORDERS: z.coerce.number().int().min(1).max(100_000).default(DEFAULT_INPUT_LIMITS.maxDraftOrders),
  CDS_MAX_PREFETCH_RESOURCES: z.coerce.number().int().min(1).max(10_000_000).default(DEFAULT_INPUT_LIMITS.maxPrefetchResources),
  CDS_MAX_JSON_DEPTH: z.coerce.number().int().min(8).max(10_000).default(DEFAULT_INPUT_LIMITS.maxDepth),
  CDS_MAX_STRING_LENGTH: z.coerce.number().int().min(1024).max(100_000_000).default(DEFAULT_INPUT_LIMITS.maxStringLength),
  CDS_MAX_CONCURRENT_HOOKS: z.coerce.number().int().min(1).max(1024).default(DEFAULT_CONCURRENT_HOOKS),
  CDS_FEEDBACK_PER_MINUTE: z.coerce.number().int().min(1).max(1_000_000).default(600),
  CDS_REPEAT_WINDOW: duration('4h'),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  CDS_FHIR_TIMEOUT_MS: z.coerce.number().int().min(1).max(60000).default(2000),
  CDS_FHIR_BUDGET_MS: z.coerce.number().int().min(1).max(120000).default(3000),
  CDS_ALLOW_HTTP_FHIR: envBoolean(false),
  CDS_FHIR_SERVER_ALLOWLIST: z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return undefined;
      const urls = value
        .split(',')
        .map((u) => u.trim())
        .filter((u) => u !== '');
      for (const url of urls) {
        if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
          ctx.addIssue({ code: 'custom', message: `'${url}' is not an http(s) base URL` });
          return z.NEVER;
        }
      }
      return urls;
    }),
  CDS_FHIR_MAX_PAGES: z.coerce.number().int().min(1).max(100).default(10),
  CDS_FHIR_MAX_REQUESTS: z.coerce.number().int().min(1).max(10_000).default(DEFAULT_MAX_REQUESTS),
  CDS_TRUSTED_CLIENTS: z.string().trim().min(1).optional(),
  CDS_ALLOW_UNAUTHENTICATED: envBoolean(false),
  CDS_CORS_ORIGINS: z
    .string()
    .default('*')
    .transform((value, ctx) => {
      if (value.trim() === '*') return '*' as const;
      const origins = value
        .split(',')
        .map((o) => o.trim())
        .filter((o) => o !== '');
      for (const origin of origins) {
        if (!URL.canParse(origin) || new URL(origin).origin !== origin) {
          ctx.addIssue({ code: 'custom', message: `'${origin}' is not an origin such as https://ehr.example.org` });
          return z.NEVER;
        }
      }
      return origins;
    }),
  CDS_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(1000).max(600000).default(15000),
  CDS_DB_PATH: z.string().trim().min(1).default('./data/glutamine-cds.sqlite'),
  CDS_DATABASE_URL: z
    .string()
    .trim()
    .refine((value) => /^postgres(?:ql)?:\/\//.test(value), { error: 'must be a postgres:// URL' })
    .optional(),
  CDS_RETENTION_DAYS: z.coerce.number().int().min(1).max(36500).default(365),
  CDS_STORE_COMMENTS: envBoolean(false),
  CDS_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  CDS_PREVIEW: envBoolean(false),
  CDS_FHIR_MAX_RESPONSE: byteSize('5mb'),
  CDS_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(600_000).default(0),
  CDS_WORKERS: z
    .string()
    .trim()
    .default('1')
    .transform((value, ctx) => {
      if (value === 'auto') return availableParallelism();
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1 || n > 64) {
        ctx.addIssue({ code: 'custom', message: `must be a number of worker processes from 1 to 64, or auto (got '${value}')` });
        return z.NEVER;
      }
      return n;
    }),
  // OpenTelemetry's own variables: these decide whether tracing is on; the exporter reads the rest
  // (OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT …) itself.
  OTEL_SDK_DISABLED: envBoolean(false),
  OTEL_TRACES_EXPORTER: z.enum(['otlp', 'none'], { error: 'must be otlp or none (the exporter this service ships)' }).optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  OTEL_SERVICE_NAME: z.string().trim().min(1).default('glutamine-cds'),
});

/** The package version (package.json sits one folder above src/ and dist/, in a checkout and in the image). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** Every environment variable the service reads (the README's configuration table lists them all). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

export interface Config {
  port: number;
  host: string;
  /** The base URL the EHR calls, without trailing slash: card links, and later JWT `aud` checks. */
  publicUrl: string;
  maxBodyBytes: number;
  /** Most drafts, prefetched resources, nesting and string length one request may hold. */
  limits: InputLimits;
  /** Hook calls evaluated at once; more wait in a short queue, then get 503. */
  maxConcurrentHooks: number;
  /** Feedback posts one client may make per minute; beyond, 429. */
  feedbackPerMinute: number;
  /** How long a card shown stays a repeat (repeat suppression between order-select and order-sign), ms. */
  repeatWindowMs: number;
  logLevel: (typeof LOG_LEVELS)[number];
  /** How hook calls may fetch from the EHR's FHIR server. */
  fhir: FhirAccessPolicy;
  /** Path of the trusted CDS clients file; without it hook calls are not authenticated (protected mode). */
  trustedClientsFile?: string;
  allowUnauthenticated: boolean;
  corsOrigins: '*' | readonly string[];
  /** Longest time a client may take to send a whole request. */
  requestTimeoutMs: number;
  /** SQLite file of the card audit and feedback. */
  dbPath: string;
  /** A PostgreSQL URL: the store shared by replicas. Without it, SQLite at dbPath. */
  databaseUrl?: string;
  retentionDays: number;
  /** Whether feedback free text (which may name the patient) is kept. */
  storeComments: boolean;
  /** Enables GET /analytics/rules for callers presenting it. */
  adminToken?: string;
  /** Serves GET /preview (the fixture library rendered as cards); for integrators, off by default. */
  preview: boolean;
  /** Worker processes sharing the port (CDS_WORKERS; auto = one per core); 1 runs the service in this process. */
  workers: number;
  /** After SIGTERM: how long /readyz answers 503 (draining) while requests are still served, before the listener closes. */
  shutdownGraceMs: number;
  /** OpenTelemetry tracing: on when an OTLP endpoint or OTEL_TRACES_EXPORTER=otlp is set, unless OTEL_SDK_DISABLED. */
  tracing: { enabled: boolean; serviceName: string };
}

function defaultPublicUrl(host: string, port: number): string {
  // A wildcard bind address is not something a browser can call; name the local host instead.
  const name = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${name}:${port}`;
}

/** Parses the environment once; throws ConfigError listing every bad variable. */
export function loadConfig(env: Record<string, string | undefined>): Readonly<Config> {
  // Empty strings mean "not set", as in most process managers.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = envSchema.safeParse(present);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  }
  const settings = result.data;
  return Object.freeze({
    port: settings.PORT,
    host: settings.HOST,
    publicUrl: withoutTrailingSlashes(settings.CDS_PUBLIC_URL ?? defaultPublicUrl(settings.HOST, settings.PORT)),
    maxBodyBytes: settings.CDS_MAX_BODY,
    limits: Object.freeze({
      maxDepth: settings.CDS_MAX_JSON_DEPTH,
      maxStringLength: settings.CDS_MAX_STRING_LENGTH,
      maxDraftOrders: settings.CDS_MAX_DRAFT_ORDERS,
      maxPrefetchResources: settings.CDS_MAX_PREFETCH_RESOURCES,
    }),
    maxConcurrentHooks: settings.CDS_MAX_CONCURRENT_HOOKS,
    feedbackPerMinute: settings.CDS_FEEDBACK_PER_MINUTE,
    repeatWindowMs: settings.CDS_REPEAT_WINDOW,
    logLevel: settings.LOG_LEVEL,
    fhir: Object.freeze({
      timeoutMs: settings.CDS_FHIR_TIMEOUT_MS,
      budgetMs: settings.CDS_FHIR_BUDGET_MS,
      allowHttp: settings.CDS_ALLOW_HTTP_FHIR,
      ...(settings.CDS_FHIR_SERVER_ALLOWLIST ? { allowlist: Object.freeze(settings.CDS_FHIR_SERVER_ALLOWLIST) } : {}),
      maxPages: settings.CDS_FHIR_MAX_PAGES,
      maxRequests: settings.CDS_FHIR_MAX_REQUESTS,
      maxResponseBytes: settings.CDS_FHIR_MAX_RESPONSE,
    }),
    ...(settings.CDS_TRUSTED_CLIENTS ? { trustedClientsFile: settings.CDS_TRUSTED_CLIENTS } : {}),
    allowUnauthenticated: settings.CDS_ALLOW_UNAUTHENTICATED,
    corsOrigins: settings.CDS_CORS_ORIGINS === '*' ? '*' : Object.freeze([...settings.CDS_CORS_ORIGINS]),
    requestTimeoutMs: settings.CDS_REQUEST_TIMEOUT_MS,
    dbPath: settings.CDS_DB_PATH,
    ...(settings.CDS_DATABASE_URL ? { databaseUrl: settings.CDS_DATABASE_URL } : {}),
    retentionDays: settings.CDS_RETENTION_DAYS,
    storeComments: settings.CDS_STORE_COMMENTS,
    ...(settings.CDS_ADMIN_TOKEN ? { adminToken: settings.CDS_ADMIN_TOKEN } : {}),
    preview: settings.CDS_PREVIEW,
    shutdownGraceMs: settings.CDS_SHUTDOWN_GRACE_MS,
    workers: settings.CDS_WORKERS,
    tracing: Object.freeze({
      enabled:
        !settings.OTEL_SDK_DISABLED &&
        settings.OTEL_TRACES_EXPORTER !== 'none' &&
        (settings.OTEL_TRACES_EXPORTER === 'otlp' ||
          settings.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined ||
          settings.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined),
      serviceName: settings.OTEL_SERVICE_NAME,
    }),
  });
}
