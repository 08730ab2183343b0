/** The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1; the scheme in any case). */
export function bearerToken(authorization: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
}
