import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { loadCatalogue } from '../rules/load-catalogue.js';
import { check } from './check.js';
import { EXIT } from './exit-codes.js';
import { validateFile } from './validate.js';

const USAGE = `Usage:
  glutamine-cds check [--hook order-sign|order-select] [--url URL] [--fhir-server URL] [--now DATE] [--json] <file…>
      Runs each file — a complete hook request, or a FHIR Bundle with a Patient, their data and a
      glutamine MedicationRequest — through the rules and prints the cards.
      --now evaluates look-back windows as of DATE (the fixtures are dated 2026-11-26).
  glutamine-cds validate <file…>
      Checks each file is a structurally valid hook request or FHIR R4 resource.
  glutamine-cds --help

Exit codes: 0 done (no critical card), 1 a file could not be checked or is not valid,
            2 wrong usage, 3 a critical card was given.`;

/** A mistake in the command line: answered with the usage text and exit code 2, never a stack trace. */
class UsageError extends Error {}

function wantsColor(): boolean {
  if (process.env.NO_COLOR !== undefined) return false;
  return process.env.FORCE_COLOR !== undefined || process.stdout.isTTY;
}

const CHECK_OPTIONS = {
  hook: { type: 'string', default: 'order-sign' },
  url: { type: 'string' },
  'fhir-server': { type: 'string' },
  now: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** Runs a parseArgs call, turning its errors (unknown option, missing value …) into UsageError. */
function parsing<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if ((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError((error as Error).message);
    throw error;
  }
}

async function runCheck(rest: string[], out: (text: string) => void, err: (text: string) => void): Promise<number> {
  const { values, positionals } = parsing(() => parseArgs({ args: rest, allowPositionals: true, strict: true, options: CHECK_OPTIONS }));
  if (values.help) {
    out(USAGE);
    return EXIT.ok;
  }
  if (values.hook !== 'order-sign' && values.hook !== 'order-select') throw new UsageError('--hook must be order-sign or order-select');
  const now = values.now ? new Date(values.now) : undefined;
  if (now && Number.isNaN(now.getTime())) throw new UsageError('--now must be a date such as 2026-11-26');
  if (positionals.length === 0) throw new UsageError('check needs at least one file');
  const catalogue = loadCatalogue(fileURLToPath(new URL('../../cards/', import.meta.url)));
  return check(
    positionals,
    {
      hook: values.hook,
      ...(values.url ? { url: values.url } : {}),
      ...(values['fhir-server'] ? { fhirServer: values['fhir-server'] } : {}),
      json: values.json,
      color: wantsColor(),
      ...(now ? { now } : {}),
    },
    catalogue,
    out,
    err,
  );
}

async function runValidate(rest: string[], out: (text: string) => void): Promise<number> {
  const { values, positionals } = parsing(() =>
    parseArgs({ args: rest, allowPositionals: true, strict: true, options: { help: { type: 'boolean', short: 'h', default: false } } }),
  );
  if (values.help) {
    out(USAGE);
    return EXIT.ok;
  }
  if (positionals.length === 0) throw new UsageError('validate needs at least one file');
  let invalid = false;
  for (const file of positionals) {
    const problems = await validateFile(file);
    if (problems.length === 0) out(`${file}: valid`);
    else {
      invalid = true;
      out(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`);
      for (const p of problems) out(`  - ${p}`);
    }
  }
  return invalid ? EXIT.failed : EXIT.ok;
}

/** The command line; resolves to the process exit code (EXIT). */
export async function run(argv: string[], out: (text: string) => void, err: (text: string) => void = out): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'check') return await runCheck(rest, out, err);
    if (command === 'validate') return await runValidate(rest, out);
    if (command === '--help' || command === '-h' || command === 'help') {
      out(USAGE);
      return EXIT.ok;
    }
    throw new UsageError(command === undefined ? 'no command given' : `unknown command: ${command}`);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    err(`glutamine-cds: ${error.message}\n\n${USAGE}`);
    return EXIT.usage;
  }
}
