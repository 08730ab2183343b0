import { z } from 'zod';
import { hookResponseSchema } from '../cds/card-schema.js';
import { feedbackBodySchema } from '../cds/feedback.js';
import { hookRequestSchema } from '../cds/request-schema.js';
import type { Catalogue } from '../rules/load-catalogue.js';

/**
 * The OpenAPI 3.1 description of the HTTP API, served at GET /openapi.json. Its JSON Schemas are
 * generated from the zod schemas the service itself parses requests and checks responses with (hook
 * request, feedback, hook response), plus the zod schemas below for the answers that have none
 * elsewhere — so it cannot drift: test/openapi.test.ts validates real responses against it.
 */

const nonEmpty = z.string().min(1);

const discoveryResponse = z.strictObject({
  services: z.array(
    z.strictObject({
      hook: nonEmpty,
      hookVersion: nonEmpty,
      title: nonEmpty,
      description: nonEmpty,
      id: nonEmpty,
      prefetch: z.record(z.string(), z.string()),
      usageRequirements: nonEmpty,
      extension: z.record(z.string(), z.unknown()),
    }),
  ),
});

const storedFeedback = z.strictObject({ stored: z.int().min(0), duplicates: z.int().min(0), unknownCards: z.int().min(0) });

const ruleAnalytics = z.strictObject({
  since: z.iso.datetime(),
  rules: z.array(
    z.strictObject({
      ruleId: nonEmpty,
      issued: z.int().min(0),
      accepted: z.int().min(0),
      overridden: z.int().min(0),
      overrideRate: z.number().min(0).max(1),
      topOverrideReasons: z.array(z.strictObject({ code: nonEmpty, display: nonEmpty, count: z.int().min(1) })),
      signals: z.array(z.enum(['override-rate-above-90%', 'mostly-not-applicable'])),
    }),
  ),
});

const ruleSummary = z.strictObject({
  id: nonEmpty,
  title: nonEmpty,
  description: nonEmpty,
  source: nonEmpty,
  tiers: z.array(z.strictObject({ indicator: z.enum(['critical', 'warning', 'info']), summary: nonEmpty, checks: z.array(nonEmpty) })),
  valueSets: z.array(z.strictObject({ id: nonEmpty, title: nonEmpty, codes: z.int().min(0), descendantsOf: z.array(z.string()), source: nonEmpty })),
});

const operationOutcome = z.strictObject({
  resourceType: z.literal('OperationOutcome'),
  issue: z
    .array(
      z.strictObject({
        severity: z.literal('error'),
        code: nonEmpty,
        details: z.strictObject({ coding: z.array(z.strictObject({ system: z.literal('urn:glutamine-cds:error'), code: nonEmpty })), text: nonEmpty }),
        diagnostics: nonEmpty,
        expression: z.array(z.string()).optional(),
      }),
    )
    .min(1),
});

const health = z.strictObject({ status: z.literal('ok'), rules: z.int().min(1), services: z.int().min(1) });
const readiness = z.strictObject({ status: z.enum(['ready', 'draining', 'audit database not writable']), auditQueue: z.int().min(0) });

/** Every schema of the document, by its name under components.schemas. */
const SCHEMAS = {
  HookRequest: { schema: hookRequestSchema, io: 'input' },
  HookResponse: { schema: hookResponseSchema, io: 'output' },
  Feedback: { schema: feedbackBodySchema, io: 'input' },
  StoredFeedback: { schema: storedFeedback, io: 'output' },
  Discovery: { schema: discoveryResponse, io: 'output' },
  RuleAnalytics: { schema: ruleAnalytics, io: 'output' },
  RuleSummary: { schema: ruleSummary, io: 'output' },
  RuleList: { schema: z.strictObject({ rules: z.array(ruleSummary) }), io: 'output' },
  OperationOutcome: { schema: operationOutcome, io: 'output' },
  Health: { schema: health, io: 'output' },
  Readiness: { schema: readiness, io: 'output' },
} as const;

function jsonSchema(entry: { schema: z.ZodType; io: 'input' | 'output' }): Record<string, unknown> {
  // The dialect is the document's own (OpenAPI 3.1: JSON Schema 2020-12), not repeated per schema.
  return Object.fromEntries(Object.entries(z.toJSONSchema(entry.schema, { io: entry.io, unrepresentable: 'any' })).filter(([key]) => key !== '$schema'));
}

const ref = (name: keyof typeof SCHEMAS) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: keyof typeof SCHEMAS, description: string) => ({ description, content: { 'application/json': { schema: ref(name) } } });
const outcome = (description: string) => ({ description, content: { 'application/fhir+json': { schema: ref('OperationOutcome') } } });
const REQUEST_ID = {
  'X-Request-Id': { description: "The request's id (the caller's own when it sent a valid one), as in the log", schema: { type: 'string' } },
};

export function openApiDocument(catalogue: Catalogue, version: string, publicUrl: string): Record<string, unknown> {
  const serviceIds = catalogue.services.map((s) => s.id);
  const serviceParam = { name: 'serviceId', in: 'path', required: true, schema: { type: 'string', enum: serviceIds } };
  const bearer = [{ cdsClientJwt: [] }];
  return {
    openapi: '3.1.0',
    info: {
      title: 'glutamine-cds',
      version,
      description: 'CDS Hooks 2.0 service that checks L-glutamine orders against clinical safety rules.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: publicUrl }],
    paths: {
      '/cds-services': {
        get: {
          summary: 'CDS Hooks discovery',
          operationId: 'discovery',
          responses: { 200: json('Discovery', 'The services, their prefetch templates and options') },
        },
      },
      '/cds-services/{serviceId}': {
        post: {
          summary: 'A hook call',
          operationId: 'callHook',
          parameters: [serviceParam, { name: 'traceparent', in: 'header', required: false, schema: { type: 'string' } }],
          security: bearer,
          requestBody: { required: true, content: { 'application/json': { schema: ref('HookRequest') } } },
          responses: {
            200: { ...json('HookResponse', 'The cards'), headers: REQUEST_ID },
            400: outcome('The request is not a valid hook call; each problem named'),
            401: outcome('No valid CDS client JWT'),
            404: outcome('No such service'),
            412: outcome('No patient data could be had: neither prefetch nor fhirServer'),
            413: outcome('The request is larger than CDS_MAX_BODY'),
            503: outcome('Too many hook calls at once; Retry-After says when to try again'),
          },
        },
      },
      '/cds-services/{serviceId}/feedback': {
        post: {
          summary: 'CDS Hooks feedback on cards',
          operationId: 'feedback',
          parameters: [serviceParam],
          security: bearer,
          requestBody: { required: true, content: { 'application/json': { schema: ref('Feedback') } } },
          responses: {
            200: json('StoredFeedback', 'What was stored'),
            400: outcome('Not valid feedback'),
            401: outcome('No valid CDS client JWT'),
            429: outcome('More feedback per minute than CDS_FEEDBACK_PER_MINUTE'),
            503: outcome('The audit store could not commit it; send it again (Retry-After)'),
          },
        },
      },
      '/analytics/rules': {
        get: {
          summary: 'Accept and override rates per rule (with CDS_ADMIN_TOKEN)',
          operationId: 'ruleAnalytics',
          parameters: [{ name: 'since', in: 'query', required: false, schema: { type: 'string' } }],
          security: [{ adminToken: [] }],
          responses: { 200: json('RuleAnalytics', 'Counts per rule'), 400: outcome('since is not a date'), 401: outcome('No or wrong admin token') },
        },
      },
      '/rules': { get: { summary: 'What each rule checks', operationId: 'rules', responses: { 200: json('RuleList', 'Every rule') } } },
      '/rules/{ruleId}': {
        get: {
          summary: 'What one rule checks (HTML for browsers, JSON with Accept: application/json)',
          operationId: 'rule',
          parameters: [{ name: 'ruleId', in: 'path', required: true, schema: { type: 'string', enum: catalogue.rules.map((r) => r.id) } }],
          responses: { 200: json('RuleSummary', 'The rule'), 404: outcome('No such rule') },
        },
      },
      '/healthz': { get: { summary: 'Liveness', operationId: 'health', responses: { 200: json('Health', 'The process answers') } } },
      '/readyz': {
        get: {
          summary: 'Readiness: the audit store takes a write, and the process is not draining',
          operationId: 'readiness',
          responses: { 200: json('Readiness', 'Ready'), 503: json('Readiness', 'Not ready: draining, or the audit store is not writable') },
        },
      },
      '/metrics': {
        get: {
          summary: 'Prometheus metrics',
          operationId: 'metrics',
          responses: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } } },
        },
      },
      '/openapi.json': {
        get: {
          summary: 'This document',
          operationId: 'openapi',
          responses: { 200: { description: 'OpenAPI 3.1', content: { 'application/json': { schema: { type: 'object' } } } } },
        },
      },
    },
    components: {
      schemas: Object.fromEntries(Object.entries(SCHEMAS).map(([name, entry]) => [name, jsonSchema(entry)])),
      securitySchemes: {
        cdsClientJwt: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'CDS Hooks 2.0 client JWT (when CDS_TRUSTED_CLIENTS is set)' },
        adminToken: { type: 'http', scheme: 'bearer', description: 'CDS_ADMIN_TOKEN' },
      },
    },
  };
}
