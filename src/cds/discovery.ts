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
  usageRequirements?: string;
  /** The options a request may set (Da Vinci CRD's mechanism, as the CDS Hooks 3.0 ballot points to). */
  extension: { [CONFIGURATION_OPTIONS_EXTENSION]: readonly ConfigurationOption[] };
}

/** CDS Hooks 2.0 §Discovery: every service of cards/services.json, with the shared prefetch templates. */
export function discoveryDocument(catalogue: Catalogue): { services: DiscoveryService[] } {
  const prefetch = Object.fromEntries(catalogue.data.map((d) => [d.key, d.template]));
  return {
    services: catalogue.services.map((s) => ({
      hook: s.hook,
      hookVersion: s.hookVersion,
      title: s.title,
      description: s.description,
      id: s.id,
      prefetch,
      ...(s.usageRequirements ? { usageRequirements: s.usageRequirements } : {}),
      extension: { [CONFIGURATION_OPTIONS_EXTENSION]: CONFIGURATION_OPTIONS },
    })),
  };
}
