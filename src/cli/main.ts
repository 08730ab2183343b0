import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { loadCatalogue } from '../rules/load-catalogue.js';
import { check } from './check.js';
import { validateFile } from './validate.js';

const USAGE = `Usage:
  glutamine-cds check [--hook order-sign|order-select] [--url URL] [--fhir-server URL] [--now DATE] [--json] <file…>
      Runs each file — a complete hook request, or a FHIR Bundle with a Patient, their data and a
      glutamine MedicationRequest — through the rules and prints the cards.
      --now evaluates look-back windows as of DATE (the fixtures are dated 2026-11-26).
      Exit code 0, 2 when any card is critical, 1 when a file cannot be checked.
  glutamine-cds validate <file…>
      Checks each file is a structurally valid hook request or FHIR R4 resource; exit code 1 if not.`;

function wantsColor(): boolean {
  if (process.env.NO_COLOR !== undefined) return false;
  return process.env.FORCE_COLOR !== undefined || process.stdout.isTTY;
}

export async function run(argv: string[], out: (text: string) => void, err: (text: string) => void = out): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'check') {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        hook: { type: 'string', default: 'order-sign' },
        url: { type: 'string' },
        'fhir-server': { type: 'string' },
        now: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    });
    if (values.hook !== 'order-sign' && values.hook !== 'order-select') {
      err('--hook must be order-sign or order-select');
      return 1;
    }
    const now = values.now ? new Date(values.now) : undefined;
    if (now && Number.isNaN(now.getTime())) {
      err('--now must be a date such as 2026-11-26');
      return 1;
    }
    if (positionals.length === 0) {
      out(USAGE);
      return 1;
    }
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
  if (command === 'validate' && rest.length > 0) {
    let invalid = false;
    for (const file of rest) {
      const problems = await validateFile(file);
      if (problems.length === 0) out(`${file}: valid`);
      else {
        invalid = true;
        out(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`);
        for (const p of problems) out(`  - ${p}`);
      }
    }
    return invalid ? 1 : 0;
  }
  out(USAGE);
  return command === undefined || command === '--help' || command === 'help' ? 0 : 1;
}
