#!/usr/bin/env node
// The glutamine-cds command line. In a checkout (src/ beside bin/) it runs the TypeScript sources
// through tsx, so it never runs a dist/ older than the code; an installed package, which ships only
// dist/, runs the compiled CLI.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const sources = new URL('../src/cli/main.ts', import.meta.url);
const compiled = new URL('../dist/cli/main.js', import.meta.url);

/** The newest modification time under a folder (0 for none). */
function newest(folder) {
  return readdirSync(folder, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .reduce((latest, entry) => Math.max(latest, statSync(`${entry.parentPath}/${entry.name}`).mtimeMs), 0);
}

async function loadCli() {
  if (existsSync(sources)) {
    try {
      const { register } = await import('tsx/esm/api');
      register();
      return await import(sources.href);
    } catch (error) {
      if (error?.code !== 'ERR_MODULE_NOT_FOUND') throw error;
      // A checkout installed without dev dependencies: dist/ only if it is at least as new as src/.
      const srcDir = fileURLToPath(new URL('../src/', import.meta.url));
      if (!existsSync(compiled) || statSync(compiled).mtimeMs < newest(srcDir)) {
        console.error('glutamine-cds: dist/ is missing or older than src/, and tsx is not installed: run npm ci && npm run build');
        process.exit(1);
      }
    }
  }
  return import(compiled.href);
}

const cli = await loadCli();
process.exitCode = await cli.run(
  process.argv.slice(2),
  (text) => console.log(text),
  (text) => console.error(text),
);
