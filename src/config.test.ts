import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { ConfigError } from './errors.js';

describe('loadConfig', () => {
  it('has working defaults', () => {
    expect(loadConfig({})).toEqual({
      port: 3000,
      host: '127.0.0.1',
      publicUrl: 'http://127.0.0.1:3000',
      maxBodyBytes: 5 * 1024 * 1024,
      limits: { maxDepth: 64, maxStringLength: 65536, maxDraftOrders: 500, maxPrefetchResources: 20000 },
      maxConcurrentHooks: 2 * availableParallelism(),
      feedbackPerMinute: 600,
      repeatWindowMs: 4 * 3_600_000,
      logLevel: 'info',
      fhir: { timeoutMs: 2000, budgetMs: 3000, allowHttp: false, maxPages: 10, maxRequests: 50, maxResponseBytes: 5 * 1024 * 1024 },
      allowUnauthenticated: false,
      corsOrigins: '*',
      requestTimeoutMs: 15000,
      dbPath: './data/glutamine-cds.sqlite',
      retentionDays: 365,
      storeComments: false,
      preview: false,
      shutdownGraceMs: 0,
      workers: 1,
      tracing: { enabled: false, serviceName: 'glutamine-cds' },
    });
  });

  it('reads every setting', () => {
    const config = loadConfig({
      PORT: '8080',
      HOST: '0.0.0.0',
      CDS_PUBLIC_URL: 'https://cds.example.org/base/',
      CDS_MAX_BODY: '512kb',
      CDS_MAX_DRAFT_ORDERS: '50',
      CDS_MAX_PREFETCH_RESOURCES: '1000',
      CDS_MAX_JSON_DEPTH: '32',
      CDS_MAX_STRING_LENGTH: '4096',
      CDS_MAX_CONCURRENT_HOOKS: '3',
      CDS_FEEDBACK_PER_MINUTE: '30',
      CDS_REPEAT_WINDOW: '30m',
      LOG_LEVEL: 'warn',
      CDS_FHIR_TIMEOUT_MS: '1500',
      CDS_FHIR_BUDGET_MS: '2500',
      CDS_ALLOW_HTTP_FHIR: 'true',
      CDS_FHIR_SERVER_ALLOWLIST: 'https://ehr.example.org/fhir, https://other.example.org/R4',
      CDS_FHIR_MAX_PAGES: '3',
      CDS_FHIR_MAX_REQUESTS: '20',
      CDS_FHIR_MAX_RESPONSE: '1mb',
      CDS_TRUSTED_CLIENTS: '/etc/glutamine-cds/clients.json',
      CDS_ALLOW_UNAUTHENTICATED: 'true',
      CDS_CORS_ORIGINS: 'https://ehr.example.org, https://sandbox.cds-hooks.org',
      CDS_REQUEST_TIMEOUT_MS: '5000',
      CDS_DB_PATH: '/var/lib/glutamine-cds/audit.sqlite',
      CDS_RETENTION_DAYS: '90',
      CDS_STORE_COMMENTS: 'true',
      CDS_ADMIN_TOKEN: 'a-long-admin-token-123',
      CDS_PREVIEW: 'true',
      CDS_SHUTDOWN_GRACE_MS: '5000',
      CDS_WORKERS: '3',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      OTEL_SERVICE_NAME: 'cds-prod',
    });
    expect(config).toEqual({
      port: 8080,
      host: '0.0.0.0',
      publicUrl: 'https://cds.example.org/base',
      maxBodyBytes: 512 * 1024,
      limits: { maxDepth: 32, maxStringLength: 4096, maxDraftOrders: 50, maxPrefetchResources: 1000 },
      maxConcurrentHooks: 3,
      feedbackPerMinute: 30,
      repeatWindowMs: 30 * 60_000,
      logLevel: 'warn',
      fhir: {
        timeoutMs: 1500,
        budgetMs: 2500,
        allowHttp: true,
        allowlist: ['https://ehr.example.org/fhir', 'https://other.example.org/R4'],
        maxPages: 3,
        maxRequests: 20,
        maxResponseBytes: 1024 * 1024,
      },
      trustedClientsFile: '/etc/glutamine-cds/clients.json',
      allowUnauthenticated: true,
      corsOrigins: ['https://ehr.example.org', 'https://sandbox.cds-hooks.org'],
      requestTimeoutMs: 5000,
      dbPath: '/var/lib/glutamine-cds/audit.sqlite',
      retentionDays: 90,
      storeComments: true,
      adminToken: 'a-long-admin-token-123',
      preview: true,
      shutdownGraceMs: 5000,
      workers: 3,
      tracing: { enabled: true, serviceName: 'cds-prod' },
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads CDS_WORKERS as a count, auto as one per core', () => {
    expect(loadConfig({ CDS_WORKERS: 'auto' }).workers).toBe(availableParallelism());
    expect(() => loadConfig({ CDS_WORKERS: '0' })).toThrow(/CDS_WORKERS: must be a number of worker processes from 1 to 64, or auto/);
  });

  it('turns tracing on by the standard OTEL_* variables only, and OTEL_SDK_DISABLED wins', () => {
    const on = (env: Record<string, string>) => loadConfig(env).tracing.enabled;
    expect(on({})).toBe(false);
    expect(on({ OTEL_TRACES_EXPORTER: 'otlp' })).toBe(true);
    expect(on({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector.example.org/v1/traces' })).toBe(true);
    expect(on({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_EXPORTER: 'none' })).toBe(false);
    expect(on({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' })).toBe(false);
    expect(() => loadConfig({ OTEL_TRACES_EXPORTER: 'zipkin' })).toThrow(/OTEL_TRACES_EXPORTER: must be otlp or none/);
  });

  it('derives the public URL from HOST and PORT, naming localhost for a wildcard bind', () => {
    expect(loadConfig({ HOST: '0.0.0.0', PORT: '4000' }).publicUrl).toBe('http://localhost:4000');
    expect(loadConfig({ HOST: 'cds.internal', PORT: '4000' }).publicUrl).toBe('http://cds.internal:4000');
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ PORT: '', LOG_LEVEL: '' }).port).toBe(3000);
  });

  it('lists every bad value at once', () => {
    try {
      loadConfig({ PORT: 'eighty', CDS_PUBLIC_URL: 'ftp://x', CDS_MAX_BODY: 'huge', LOG_LEVEL: 'loud' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const problems = (error as ConfigError).problems.join('\n');
      expect(problems).toMatch(/^PORT: /m);
      expect(problems).toContain('CDS_PUBLIC_URL: must be an absolute http(s) URL');
      expect(problems).toContain("CDS_MAX_BODY: must be a size such as 10mb or 512kb (got 'huge')");
      expect(problems).toMatch(/^LOG_LEVEL: /m);
    }
  });

  it('reads every switch as true/false or 1/0, in any case', () => {
    const on = loadConfig({ CDS_ALLOW_HTTP_FHIR: 'TRUE', CDS_STORE_COMMENTS: '1', CDS_PREVIEW: ' True ' });
    expect([on.fhir.allowHttp, on.storeComments, on.preview]).toEqual([true, true, true]);
    const off = loadConfig({ CDS_ALLOW_HTTP_FHIR: 'False', CDS_STORE_COMMENTS: '0', CDS_PREVIEW: 'false' });
    expect([off.fhir.allowHttp, off.storeComments, off.preview]).toEqual([false, false, false]);
    expect(loadConfig({}).preview).toBe(false);
  });

  it('reads the repeat window as a duration, and names a bad one', () => {
    expect(loadConfig({ CDS_REPEAT_WINDOW: '90s' }).repeatWindowMs).toBe(90_000);
    expect(loadConfig({ CDS_REPEAT_WINDOW: '0s' }).repeatWindowMs).toBe(0);
    expect(() => loadConfig({ CDS_REPEAT_WINDOW: '4 hours' })).toThrow("CDS_REPEAT_WINDOW: must be a duration such as 4h, 30m or 90s (got '4 hours')");
  });

  it('names bad FHIR access settings', () => {
    try {
      loadConfig({ CDS_ALLOW_HTTP_FHIR: 'yes', CDS_FHIR_SERVER_ALLOWLIST: 'https://ok.example.org, ftp://bad', CDS_FHIR_TIMEOUT_MS: '0' });
      expect.unreachable();
    } catch (error) {
      const problems = (error as ConfigError).problems.join('\n');
      expect(problems).toContain('CDS_ALLOW_HTTP_FHIR: must be true or false');
      expect(problems).toContain("CDS_FHIR_SERVER_ALLOWLIST: 'ftp://bad' is not an http(s) base URL");
      expect(problems).toMatch(/^CDS_FHIR_TIMEOUT_MS: /m);
    }
  });

  it('names a bad CORS origin', () => {
    expect(() => loadConfig({ CDS_CORS_ORIGINS: 'https://ok.example.org, https://bad.example.org/path' })).toThrow(
      "CDS_CORS_ORIGINS: 'https://bad.example.org/path' is not an origin such as https://ehr.example.org",
    );
  });

  it('refuses a short admin token', () => {
    expect(() => loadConfig({ CDS_ADMIN_TOKEN: 'short' })).toThrow('CDS_ADMIN_TOKEN: must be at least 16 characters');
  });

  it('rejects a port out of range', () => {
    expect(() => loadConfig({ PORT: '70000' })).toThrow(ConfigError);
  });
});
