import type { Catalogue } from '../rules/load-catalogue.js';
import { CONFIGURATION_OPTIONS, CONFIGURATION_OPTIONS_EXTENSION } from './client-configuration.js';
import type { ConfigurationOption } from './client-configuration.js';

export interface DiscoveryService {
  hook: string;
  /** CDS Hooks 3.0 ballot: the hook definition's version; 2.0 clients ignore it. */
  hookVersion: string;
  title: string;
  description: string;
  id: string;
  prefetch: Record<string, string>;
  usageRequirements: string;
  /** The options a request may set (Da Vinci CRD's mechanism, as the CDS Hooks 3.0 ballot points to). */
  extension: { [CONFIGURATION_OPTIONS_EXTENSION]: readonly ConfigurationOption[] };
}

/** What the running configuration requires of a caller, stated in each service's usageRequirements. */
export interface DeploymentFacts {
  /** jwt: CDS client JWTs verified here; gateway: CDS_ALLOW_UNAUTHENTICATED (a gateway authenticates); none: a loopback development instance. */
  authentication: 'jwt' | 'gateway' | 'none';
  /** CDS_ALLOW_HTTP_FHIR: http FHIR servers are called too. */
  allowHttpFhir: boolean;
  /** CDS_FHIR_SERVER_ALLOWLIST is set: only the FHIR servers it lists are called. */
  fhirAllowlist: boolean;
}

const AUTHENTICATION_SENTENCE: Record<DeploymentFacts['authentication'], string> = {
  jwt: 'Calls are authenticated with the CDS client JWT of registered EHRs.',
  gateway: 'This service does not check CDS client JWTs itself: a gateway in front of it authenticates EHRs.',
  none: 'Calls are not authenticated: a development instance on a loopback address.',
};

/** The sentences the configuration adds to a service's usageRequirements, so discovery never claims what is not so. */
function deploymentSentences(facts: DeploymentFacts): string {
  const fhir = `FHIR servers are called over ${facts.allowHttpFhir ? 'https or http' : 'https only'}${facts.fhirAllowlist ? ', and only those this deployment lists' : ''}.`;
  return `${fhir} ${AUTHENTICATION_SENTENCE[facts.authentication]}`;
}

/** CDS Hooks 2.0 §Discovery: every service of cards/services.json, with the shared prefetch templates. */
export function discoveryDocument(catalogue: Catalogue, facts: DeploymentFacts): { services: DiscoveryService[] } {
  const prefetch = Object.fromEntries(catalogue.data.map((d) => [d.key, d.template]));
  const deployment = deploymentSentences(facts);
  return {
    services: catalogue.services.map((s) => ({
      hook: s.hook,
      hookVersion: s.hookVersion,
      title: s.title,
      description: s.description,
      id: s.id,
      prefetch,
      usageRequirements: s.usageRequirements ? `${s.usageRequirements} ${deployment}` : deployment,
      extension: { [CONFIGURATION_OPTIONS_EXTENSION]: CONFIGURATION_OPTIONS },
    })),
  };
}
