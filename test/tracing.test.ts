import { once } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startLocalFhirServer } from '../scripts/local-fhir-server.js';
import { FIXTURES_DIR } from './helpers.js';
import { startService } from './service-process.js';

/** OpenTelemetry, on by the standard OTEL_* variables: spans exported over OTLP/HTTP, carrying no patient data. */

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes?: Array<{ key: string; value: Record<string, unknown> }>;
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

describe('OpenTelemetry tracing', () => {
  it('exports the hook call, its stages and each FHIR request under the caller’s trace, and sends the FHIR server the fetch span', async () => {
    // A stand-in OTLP/HTTP collector.
    const exported: string[] = [];
    const collector = createServer((req, res) => {
      void body(req).then((text) => {
        if (req.url === '/v1/traces') exported.push(text);
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    const address = collector.address();
    const collectorUrl = `http://127.0.0.1:${String(typeof address === 'object' && address ? address.port : 0)}`;

    const scenario = JSON.parse(readFileSync(join(FIXTURES_DIR, 'scenarios', 'cirrhosis-order-sign.json'), 'utf8')) as Record<string, unknown>;
    const fhir = await startLocalFhirServer({ resources: Object.values(scenario.prefetch as Record<string, unknown>).filter((v) => v !== null) });

    const service = startService({
      PORT: '0',
      CDS_ALLOW_HTTP_FHIR: 'true',
      OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl,
      OTEL_SERVICE_NAME: 'glutamine-cds-test',
    });
    try {
      const { port } = await service.listening();
      const request: Record<string, unknown> = { ...scenario, fhirServer: fhir.baseUrl };
      delete request.prefetch;
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      const res = await fetch(`http://127.0.0.1:${String(port)}/cds-services/glutamine-order-sign`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
        body: JSON.stringify(request),
      });
      expect(res.status).toBe(200);
      service.child.kill('SIGTERM'); // the batch is exported on shutdown
      await once(service.child, 'exit');

      const spans = exported.flatMap((text) =>
        (JSON.parse(text) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }> }).resourceSpans.flatMap((r) =>
          r.scopeSpans.flatMap((s) => s.spans),
        ),
      );
      const hook = spans.find((s) => s.name === 'POST /cds-services/:serviceId');
      expect(hook).toMatchObject({ traceId, parentSpanId: '00f067aa0ba902b7' });
      const names = spans.map((s) => s.name);
      for (const stage of ['parse', 'data', 'rules', 'render']) expect(names).toContain(`hook ${stage}`);
      const fetches = spans.filter((s) => s.name.startsWith('FHIR GET '));
      expect(fetches.map((s) => s.name)).toEqual(expect.arrayContaining(['FHIR GET Condition', 'FHIR GET Observation']));
      for (const span of [...fetches, ...spans.filter((s) => s.name.startsWith('hook '))]) expect(span).toMatchObject({ traceId, parentSpanId: hook?.spanId });
      // Each FHIR request carried its own span as the parent: the EHR's trace goes on into its FHIR server.
      const fhirTraceparents = fhir.requests.map((r) => r.traceparent);
      expect(fhirTraceparents.length).toBe(fetches.length);
      for (const header of fhirTraceparents) expect(fetches.map((s) => `00-${traceId}-${s.spanId}-01`)).toContain(header);
      // Ids and outcomes only: no patient id, no query, no card text.
      const text = exported.join('\n');
      for (const secret of ['pat-1001', 'patient=', 'Cirrhosis', '19943007', 'Avoid glutamine']) expect(text).not.toContain(secret);
      expect(text).toContain('glutamine-cds-test');
    } finally {
      if (service.child.exitCode === null) service.child.kill('SIGKILL');
      await fhir.close();
      collector.closeAllConnections();
      await new Promise((resolve) => collector.close(resolve));
    }
  }, 30000);
});
