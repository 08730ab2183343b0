import bytes from 'bytes';
import { z } from 'zod';
import { ConfigError } from './errors.js';

/** The only module that reads process.env (conventions §2). */

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().trim().min(1).default('127.0.0.1'),
  CDS_PUBLIC_URL: z
    .url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL' })
    .optional(),
  CDS_MAX_BODY: z
    .string()
    .default('10mb')
    .transform((value, ctx) => {
      const parsed = bytes.parse(value);
      if (parsed === null || !Number.isFinite(parsed) || parsed <= 0) {
        ctx.addIssue({ code: 'custom', message: `must be a size such as 10mb or 512kb (got '${value}')` });
        return z.NEVER;
      }
      return parsed;
    }),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
});

export interface Config {
  port: number;
  host: string;
  /** The base URL the EHR calls, without trailing slash: card links, and later JWT `aud` checks. */
  publicUrl: string;
  maxBodyBytes: number;
  logLevel: (typeof LOG_LEVELS)[number];
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
  const { PORT, HOST, CDS_PUBLIC_URL, CDS_MAX_BODY, LOG_LEVEL } = result.data;
  return Object.freeze({
    port: PORT,
    host: HOST,
    publicUrl: (CDS_PUBLIC_URL ?? defaultPublicUrl(HOST, PORT)).replace(/\/+$/, ''),
    maxBodyBytes: CDS_MAX_BODY,
    logLevel: LOG_LEVEL,
  });
}
