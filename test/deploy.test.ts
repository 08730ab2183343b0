import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseTrustedClients } from '../src/auth/trusted-clients.js';
import { CONFIG_VARIABLES } from '../src/config.js';

/**
 * deploy/: validated as far as a machine without Docker or a cluster allows — YAML parsed, every
 * Kubernetes object checked against the Kubernetes JSON schemas (kubernetes-models, the role
 * kubeconform plays), and the pieces checked against each other and against the service.
 */

const DEPLOY = fileURLToPath(new URL('../deploy/', import.meta.url));
const yamlFile = (path: string): Record<string, unknown> => parse(readFileSync(join(DEPLOY, path), 'utf8')) as Record<string, unknown>;

interface ComposeService {
  build?: string;
  image?: string;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test: string[] };
  volumes?: string[];
}

describe('deploy/compose.yaml', () => {
  const compose = yamlFile('compose.yaml') as { services: Record<string, ComposeService> };

  it('runs two replicas of this service on one PostgreSQL, ready only when the database answers', () => {
    const replicas = Object.entries(compose.services).filter(([, s]) => s.build === '..');
    expect(replicas.map(([name]) => name)).toEqual(['cds-1', 'cds-2']);
    for (const [, service] of replicas) {
      expect(service.environment?.CDS_DATABASE_URL).toMatch(/^postgres:\/\/[^@]+@postgres:5432\//);
      for (const variable of Object.keys(service.environment ?? {})) expect(CONFIG_VARIABLES).toContain(variable);
      expect(service.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
      expect(service.healthcheck?.test.join(' ')).toContain('/readyz');
    }
    expect(compose.services.postgres?.image).toMatch(/^postgres:\d+/);
    expect(compose.services.postgres?.healthcheck?.test.join(' ')).toContain('pg_isready');
  });

  it('puts nginx in front of both replicas', () => {
    expect(compose.services.nginx?.image).toMatch(/^nginx:/);
    const conf = readFileSync(join(DEPLOY, 'nginx.conf'), 'utf8');
    expect(conf).toContain('server cds-1:3000');
    expect(conf).toContain('server cds-2:3000');
    expect(conf).toMatch(/proxy_pass http:\/\/glutamine_cds;/);
    // POSTs are never resent to the other replica: their JWT's jti may already be claimed.
    expect(conf).not.toMatch(/non_idempotent/);
  });
});

describe('deploy/k8s', () => {
  const manifests = Object.fromEntries(readdirSync(join(DEPLOY, 'k8s')).map((file) => [file, yamlFile(join('k8s', file))]));
  const deployment = new Deployment(manifests['deployment.yaml']);
  const service = new Service(manifests['service.yaml']);
  const pdb = new PodDisruptionBudget(manifests['pdb.yaml']);
  const hpa = new HorizontalPodAutoscaler(manifests['hpa.yaml'] as never);
  const configMap = new ConfigMap(manifests['configmap.yaml']);
  const secret = new Secret(manifests['secret.yaml']);

  it('holds exactly these objects, each valid against the Kubernetes schemas', () => {
    expect(Object.keys(manifests).sort()).toEqual(['configmap.yaml', 'deployment.yaml', 'hpa.yaml', 'pdb.yaml', 'secret.yaml', 'service.yaml']);
    for (const object of [deployment, service, pdb, hpa, configMap, secret])
      expect(() => {
        object.validate();
      }).not.toThrow();
  });

  it('the schema check can fail: a Deployment with replicas "two" is refused', () => {
    const broken = new Deployment({
      ...(manifests['deployment.yaml'] as object),
      spec: { ...(manifests['deployment.yaml'] as { spec: object }).spec, replicas: 'two' },
    } as never);
    expect(() => {
      broken.validate();
    }).toThrow(/replicas must be integer/);
  });

  it('probes readiness on /readyz and liveness on /healthz; the database URL comes from the Secret', () => {
    const container = deployment.spec?.template.spec?.containers[0];
    expect(container?.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(container?.livenessProbe?.httpGet?.path).toBe('/healthz');
    const database = container?.env?.find((e) => e.name === 'CDS_DATABASE_URL');
    expect(database?.valueFrom?.secretKeyRef).toEqual({ name: secret.metadata?.name, key: 'CDS_DATABASE_URL' });
    expect(Object.keys(secret.stringData ?? {})).toEqual(['CDS_DATABASE_URL']);
    for (const variable of container?.env ?? []) expect(CONFIG_VARIABLES).toContain(variable.name);
    expect(deployment.spec?.replicas).toBeGreaterThanOrEqual(2);
  });

  it('the Service, PodDisruptionBudget and autoscaler select this Deployment, and the ConfigMap is a valid trusted clients file', () => {
    const labels = deployment.spec?.template.metadata?.labels ?? {};
    expect(labels).toMatchObject(service.spec?.selector ?? { missing: true });
    expect(labels).toMatchObject(pdb.spec?.selector?.matchLabels ?? { missing: true });
    expect(hpa.spec?.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: deployment.metadata?.name });
    expect(hpa.spec?.metrics?.[0]?.resource?.name).toBe('cpu');
    const volume = deployment.spec?.template.spec?.volumes?.find((v) => v.configMap);
    expect(volume?.configMap?.name).toBe(configMap.metadata?.name);
    const clients = configMap.data?.['trusted-clients.json'] ?? '';
    expect(parseTrustedClients(JSON.parse(clients), 'configmap.yaml').map((c) => c.iss)).toEqual(['https://ehr.example.org']);
  });
});
