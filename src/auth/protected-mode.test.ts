import { describe, expect, it } from 'vitest';
import { authMode, isLoopbackHost } from './protected-mode.js';

describe('protected mode', () => {
  it.each(['127.0.0.1', '127.1.2.3', '::1', 'localhost'])('%s is loopback', (host) => {
    expect(isLoopbackHost(host)).toBe(true);
  });
  it.each(['0.0.0.0', '::', '10.0.0.5', 'cds.example.org', '128.0.0.1'])('%s is not loopback', (host) => {
    expect(isLoopbackHost(host)).toBe(false);
  });

  it('verifies tokens whenever trusted clients are configured', () => {
    expect(authMode(true, '0.0.0.0', false)).toEqual({ mode: 'verify' });
  });

  it('without trusted clients: open on loopback with a warning, refused elsewhere unless explicitly allowed', () => {
    expect(authMode(false, '127.0.0.1', false)).toMatchObject({ mode: 'open-loopback', warning: expect.stringContaining('NOT authenticated') });
    expect(authMode(false, '0.0.0.0', false)).toMatchObject({ mode: 'refuse', error: expect.stringContaining('Refusing to start') });
    expect(authMode(false, '0.0.0.0', true)).toMatchObject({ mode: 'open-explicit', warning: expect.stringContaining('CDS_ALLOW_UNAUTHENTICATED=true') });
  });
});
