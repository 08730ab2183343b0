#!/usr/bin/env node
// The glutamine-cds command line. Runs the compiled CLI when there is one (npm run build), else the
// TypeScript sources through tsx (a dev dependency), so it works straight after npm ci in the repo.
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/cli/main.js', import.meta.url);
let cli;
if (existsSync(compiled)) {
  cli = await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
const code = await cli.run(
  process.argv.slice(2),
  (text) => console.log(text),
  (text) => console.error(text),
);
process.exitCode = code;
