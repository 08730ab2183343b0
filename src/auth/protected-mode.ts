/**
 * Without trusted clients the service cannot tell an EHR from anyone else. It then answers only on a
 * loopback address (a developer's machine), unless the operator says explicitly that another layer
 * (a gateway, mTLS) does the authentication.
 */
export type AuthMode =
  { mode: 'verify' } | { mode: 'open-loopback'; warning: string } | { mode: 'open-explicit'; warning: string } | { mode: 'refuse'; error: string };

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export function authMode(hasTrustedClients: boolean, host: string, allowUnauthenticated: boolean): AuthMode {
  if (hasTrustedClients) return { mode: 'verify' };
  if (isLoopbackHost(host)) {
    return {
      mode: 'open-loopback',
      warning: `CDS_TRUSTED_CLIENTS is not set: hook calls are NOT authenticated (accepted because HOST=${host} is a loopback address)`,
    };
  }
  if (allowUnauthenticated) {
    return { mode: 'open-explicit', warning: `CDS_TRUSTED_CLIENTS is not set and CDS_ALLOW_UNAUTHENTICATED=true: hook calls on ${host} are NOT authenticated` };
  }
  return {
    mode: 'refuse',
    error: `Refusing to start: HOST=${host} is not a loopback address and CDS_TRUSTED_CLIENTS is not set, so anyone could call the service. Set CDS_TRUSTED_CLIENTS (see trusted-clients.example.json), or CDS_ALLOW_UNAUTHENTICATED=true if a gateway in front authenticates EHRs.`,
  };
}
