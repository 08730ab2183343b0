import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { loadConfig, packageVersion } from '../config.js';
import type { Config } from '../config.js';
import { ConfigError } from '../errors.js';
import { loadCatalogue } from '../rules/load-catalogue.js';
import { check } from './check.js';
import { KeyFileError, clientTokenSigner } from './client-token.js';
import type { TokenFor } from './client-token.js';
import { EXIT } from './exit-codes.js';
import { isExpectedFile, jsonFilesIn } from './expectations.js';
import { ReportError, report } from './report.js';
import { ValidatorUnavailable, validateFile } from './validate.js';

const EXIT_CODES = `Exit codes: 0 done (no critical card), 1 a file could not be checked or is not valid,
            2 wrong usage, 3 a critical card was given.`;

const CHECK_USAGE = `Usage: glutamine-cds check [options] <file or folder…>
  Runs each file — a complete hook request, or a FHIR Bundle with a Patient, their data and a
  glutamine MedicationRequest — through the rules and prints the cards. A folder stands for its
  *.json files; *.expected.json files are never checked as requests.

  --hook order-sign|order-select   the hook of requests built from Bundles (default order-sign)
  --now DATE                       evaluate look-back windows as of DATE (the fixtures are dated 2026-11-26)
  --expect                         compare each file's cards with its <name>.expected.json; exit 1 on a difference
  --json                           print the responses as JSON
  --fhir-server URL                the request's fhirServer (fills a FHIR_SERVER placeholder)
  --fhir-timeout MS, --fhir-budget MS
                                   FHIR fetch timeout and budget (default CDS_FHIR_TIMEOUT_MS, CDS_FHIR_BUDGET_MS: 2000, 3000)
  --url URL                        call a running service at URL instead of running the rules here
  --token TOKEN                    with --url: the bearer token to send
  --sign-with KEY --iss ISS [--kid KID]
                                   with --url: sign a CDS client JWT per call with KEY (a private JWK or PEM file)

${EXIT_CODES}`;

const VALIDATE_USAGE = `Usage: glutamine-cds validate <file or folder…>
  Checks each file is a structurally valid hook request or FHIR R4 resource (Medplum's R4 validator;
  it needs the development dependencies, so run it in a checkout after npm ci).

Exit codes: 0 all valid, 1 a file is not valid, 2 wrong usage.`;

const REPORT_USAGE = `Usage: glutamine-cds report [--since DATE] [--json]
  How clinicians respond to each rule, from the service's audit store: CDS_DATABASE_URL when set, else
  CDS_DB_PATH (default ./data/glutamine-cds.sqlite). --since defaults to CDS_RETENTION_DAYS ago;
  --json prints what GET /analytics/rules answers.

Exit codes: 0 printed, 1 the database is missing or cannot be read, 2 wrong usage.`;

const USAGE = `Usage: glutamine-cds <command> [options]

Commands:
  check      run fixtures or your own requests through the rules and print the cards
  validate   check files are valid hook requests or FHIR R4 resources
  report     accept and override rates per rule, from the audit database

  glutamine-cds <command> --help   the options of a command
  glutamine-cds --version          the version

${EXIT_CODES}`;

/** A mistake in the command line: answered with the usage text and exit code 2, never a stack trace. */
class UsageError extends Error {
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message);
  }
}

type Output = (text: string) => void;
type Env = Record<string, string | undefined>;

function wantsColor(env: Env): boolean {
  if (env.NO_COLOR !== undefined) return false;
  return env.FORCE_COLOR !== undefined || process.stdout.isTTY;
}

/** The service's configuration (the CLI reads the same variables), a bad variable being a usage error. */
function configFrom(env: Env, usage: string): Readonly<Config> {
  try {
    return loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message, usage);
    throw error;
  }
}

/** Runs a parseArgs call, turning its errors (unknown option, missing value …) into UsageError. */
function parsing<T>(usage: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if ((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError((error as Error).message, usage);
    throw error;
  }
}

/** The files to work on: each file named, and the *.json files of each folder named (never *.expected.json). */
function inputFiles(paths: readonly string[], usage: string): string[] {
  return paths.flatMap((path) => {
    let isFolder: boolean;
    try {
      isFolder = statSync(path).isDirectory();
    } catch {
      return [path]; // named as given; reading it reports what is wrong
    }
    if (!isFolder) return isExpectedFile(path) ? [] : [path];
    const files = jsonFilesIn(path);
    if (files.length === 0) throw new UsageError(`${path} holds no .json files`, usage);
    return files;
  });
}

function milliseconds(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms < 1 || ms > 120_000) throw new UsageError(`${flag} must be a number of milliseconds from 1 to 120000`, CHECK_USAGE);
  return ms;
}

const CHECK_OPTIONS = {
  hook: { type: 'string', default: 'order-sign' },
  url: { type: 'string' },
  token: { type: 'string' },
  'sign-with': { type: 'string' },
  iss: { type: 'string' },
  kid: { type: 'string' },
  'fhir-server': { type: 'string' },
  'fhir-timeout': { type: 'string' },
  'fhir-budget': { type: 'string' },
  now: { type: 'string' },
  expect: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** The bearer token for --url calls, from --token or --sign-with/--iss; undefined when neither is given. */
function tokenOption(values: { url?: string; token?: string; 'sign-with'?: string; iss?: string; kid?: string }): TokenFor | undefined {
  const signWith = values['sign-with'];
  if (values.token === undefined && signWith === undefined) {
    if (values.iss !== undefined || values.kid !== undefined) throw new UsageError('--iss and --kid go with --sign-with', CHECK_USAGE);
    return undefined;
  }
  if (values.url === undefined) throw new UsageError('--token and --sign-with are for calling a service with --url', CHECK_USAGE);
  if (values.token !== undefined && signWith !== undefined) throw new UsageError('give --token or --sign-with, not both', CHECK_USAGE);
  const token = values.token;
  if (token !== undefined) return () => token;
  if (values.iss === undefined || signWith === undefined) throw new UsageError('--sign-with needs --iss, the issuer the service trusts', CHECK_USAGE);
  try {
    return clientTokenSigner(signWith, values.iss, values.kid);
  } catch (error) {
    if (error instanceof KeyFileError) throw new UsageError(error.message, CHECK_USAGE);
    throw error;
  }
}

async function runCheck(rest: string[], env: Env, out: Output, err: Output): Promise<number> {
  const { values, positionals } = parsing(CHECK_USAGE, () => parseArgs({ args: rest, allowPositionals: true, strict: true, options: CHECK_OPTIONS }));
  if (values.help) {
    out(CHECK_USAGE);
    return EXIT.ok;
  }
  if (values.hook !== 'order-sign' && values.hook !== 'order-select') throw new UsageError('--hook must be order-sign or order-select', CHECK_USAGE);
  const now = values.now ? new Date(values.now) : undefined;
  if (now && Number.isNaN(now.getTime())) throw new UsageError('--now must be a date such as 2026-11-26', CHECK_USAGE);
  if (positionals.length === 0) throw new UsageError('check needs at least one file', CHECK_USAGE);
  const tokenFor = tokenOption(values);
  const files = inputFiles(positionals, CHECK_USAGE);
  if (files.length === 0) throw new UsageError('nothing to check: only *.expected.json files were given (check the requests beside them)', CHECK_USAGE);
  // The service's own FHIR limits (CDS_FHIR_*), so a run here matches the service's; http allowed for local servers.
  const configured = configFrom(env, CHECK_USAGE).fhir;
  const timeoutMs = milliseconds(values['fhir-timeout'], '--fhir-timeout') ?? configured.timeoutMs;
  const budgetMs = milliseconds(values['fhir-budget'], '--fhir-budget') ?? configured.budgetMs;
  const catalogue = loadCatalogue(fileURLToPath(new URL('../../cards/', import.meta.url)));
  return check(
    files,
    {
      hook: values.hook,
      ...(values.url ? { url: values.url } : {}),
      ...(tokenFor ? { tokenFor } : {}),
      ...(values['fhir-server'] ? { fhirServer: values['fhir-server'] } : {}),
      fhir: { ...configured, timeoutMs, budgetMs, allowHttp: true },
      expect: values.expect,
      json: values.json,
      color: wantsColor(env),
      ...(now ? { now } : {}),
    },
    catalogue,
    out,
    err,
  );
}

async function runValidate(rest: string[], out: Output, err: Output): Promise<number> {
  const { values, positionals } = parsing(VALIDATE_USAGE, () =>
    parseArgs({ args: rest, allowPositionals: true, strict: true, options: { help: { type: 'boolean', short: 'h', default: false } } }),
  );
  if (values.help) {
    out(VALIDATE_USAGE);
    return EXIT.ok;
  }
  if (positionals.length === 0) throw new UsageError('validate needs at least one file', VALIDATE_USAGE);
  const files = inputFiles(positionals, VALIDATE_USAGE);
  // Loading the R4 definitions takes seconds: say so, on stderr, so stdout stays the results.
  err(`validate: loading the FHIR R4 definitions, then checking ${String(files.length)} file${files.length === 1 ? '' : 's'}…`);
  let invalid = false;
  for (const file of files) {
    let problems: string[];
    try {
      problems = await validateFile(file);
    } catch (error) {
      if (!(error instanceof ValidatorUnavailable)) throw error;
      err(`glutamine-cds validate: ${error.message}`);
      return EXIT.failed;
    }
    if (problems.length === 0) out(`${file}: valid`);
    else {
      invalid = true;
      out(`${file}: ${String(problems.length)} problem${problems.length === 1 ? '' : 's'}`);
      for (const p of problems) out(`  - ${p}`);
    }
  }
  return invalid ? EXIT.failed : EXIT.ok;
}

async function runReport(rest: string[], env: Env, out: Output, err: Output): Promise<number> {
  const { values } = parsing(REPORT_USAGE, () =>
    parseArgs({
      args: rest,
      allowPositionals: false,
      strict: true,
      options: { since: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
    }),
  );
  if (values.help) {
    out(REPORT_USAGE);
    return EXIT.ok;
  }
  try {
    out(await report(configFrom(env, REPORT_USAGE), { ...(values.since === undefined ? {} : { since: values.since }), json: values.json }, new Date()));
    return EXIT.ok;
  } catch (error) {
    if (!(error instanceof ReportError)) throw error;
    err(`glutamine-cds report: ${error.message}`);
    return EXIT.failed;
  }
}

/** The command line; resolves to the process exit code (EXIT). */
export async function run(argv: string[], out: Output, err: Output = out, env: Env = process.env): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'check') return await runCheck(rest, env, out, err);
    if (command === 'validate') return await runValidate(rest, out, err);
    if (command === 'report') return await runReport(rest, env, out, err);
    if (command === '--help' || command === '-h' || command === 'help') {
      out(USAGE);
      return EXIT.ok;
    }
    if (command === '--version' || command === '-V') {
      out(packageVersion());
      return EXIT.ok;
    }
    throw new UsageError(command === undefined ? 'no command given' : `unknown command: ${command}`, USAGE);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    err(`glutamine-cds: ${error.message}\n\n${error.usage}`);
    return EXIT.usage;
  }
}
