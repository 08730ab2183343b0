/**
 * README's own examples, read from README.md itself, so that CI (.ci/run) and the tests run exactly
 * what a new user copies: the set-up and start command, the test command, the curl example and the
 * card it shows. Node built-ins only, so `node scripts/readme-examples.ts` runs it without a build:
 *
 *   node scripts/readme-examples.ts start                  prints the set-up and start command
 *   node scripts/readme-examples.ts test                   prints the test command
 *   node scripts/readme-examples.ts curl <base URL>        prints the curl example, aimed at <base URL>
 *   node scripts/readme-examples.ts check <response file>  exit 1 unless the response holds the card shown
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** The base URL README's examples call; `curlFor` points them at another. */
export const README_BASE_URL = 'http://127.0.0.1:3000';

export interface ShownCard {
  summary: string;
  indicator: string;
  ruleId: string;
  resourceId: string;
}

export interface ReadmeExamples {
  startCommand: string;
  testCommand: string;
  /** The curl command exactly as README shows it (continuation lines included). */
  curl: string;
  shownCard: ShownCard;
}

/** The ```sh blocks of a markdown text, in order. */
function shellBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? '');
}

/** The command of a one-line shell block, without its trailing comment. */
function commandOf(block: string): string {
  return (block.split('\n')[0] ?? '').replace(/\s+#.*$/, '').trim();
}

function field(json: string, name: string): string {
  const value = new RegExp(`"${name}": "([^"]+)"`).exec(json)?.[1];
  if (value === undefined) throw new Error(`README's example response shows no "${name}"`);
  return value;
}

export function readmeExamples(readme: string): ReadmeExamples {
  const blocks = shellBlocks(readme);
  const startCommand = blocks.map(commandOf).find((c) => c.endsWith('npm start'));
  const testCommand = blocks.map(commandOf).find((c) => c === 'npm test');
  const curl = blocks.find((b) => b.startsWith(`curl -s -X POST ${README_BASE_URL}/cds-services/`))?.trimEnd();
  // The first response shown after the curl example ("It returns one critical card …").
  const shown = /```json\n(\{\n {2}"cards"[\s\S]*?)```/.exec(readme)?.[1];
  if (!startCommand || !testCommand || !curl || !shown) throw new Error('README.md lacks its start command, test command, curl example or example response');
  const topic = /"topic": \{[^}]*\}/.exec(shown)?.[0] ?? '';
  return {
    startCommand,
    testCommand,
    curl,
    shownCard: { summary: field(shown, 'summary'), indicator: field(shown, 'indicator'), ruleId: field(topic, 'code'), resourceId: field(shown, 'resourceId') },
  };
}

/** The curl example aimed at another base URL (CI and the tests run the service on a free port). */
export function curlFor(curl: string, baseUrl: string): string {
  return curl.replaceAll(README_BASE_URL, baseUrl);
}

interface CardLike {
  summary?: unknown;
  indicator?: unknown;
  source?: { topic?: { code?: unknown } };
  suggestions?: Array<{ actions?: Array<{ resourceId?: unknown }> }>;
}

/** What differs between a hook response and the card README shows; empty when it holds that card. */
export function shownCardProblems(response: unknown, shown: ShownCard): string[] {
  const cards = (response as { cards?: CardLike[] } | null)?.cards;
  if (!Array.isArray(cards)) return ['the response has no cards array'];
  const card = cards.find((c) => c.source?.topic?.code === shown.ruleId);
  if (!card) return [`no ${shown.ruleId} card (got ${cards.map((c) => String(c.source?.topic?.code)).join(', ') || 'none'})`];
  const problems: string[] = [];
  if (card.summary !== shown.summary) problems.push(`summary is ${JSON.stringify(card.summary)}, README shows ${JSON.stringify(shown.summary)}`);
  if (card.indicator !== shown.indicator) problems.push(`indicator is ${String(card.indicator)}, README shows ${shown.indicator}`);
  const resourceIds = (card.suggestions ?? []).flatMap((s) => s.actions ?? []).map((a) => a.resourceId);
  if (!resourceIds.includes(shown.resourceId)) problems.push(`no suggestion acts on ${shown.resourceId}`);
  return problems;
}

function cli(args: string[]): number {
  const examples = readmeExamples(readFileSync(new URL('../README.md', import.meta.url), 'utf8'));
  const [command, argument] = args;
  if (command === 'start') console.log(examples.startCommand);
  else if (command === 'test') console.log(examples.testCommand);
  else if (command === 'curl' && argument) console.log(curlFor(examples.curl, argument));
  else if (command === 'check' && argument) {
    const problems = shownCardProblems(JSON.parse(readFileSync(argument, 'utf8')) as unknown, examples.shownCard);
    for (const problem of problems) console.error(`README's example: ${problem}`);
    return problems.length === 0 ? 0 : 1;
  } else {
    console.error('usage: node scripts/readme-examples.ts start | test | curl <base URL> | check <response file>');
    return 2;
  }
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = cli(process.argv.slice(2));
