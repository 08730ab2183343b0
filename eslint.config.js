// @ts-check
import eslint from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/**
 * The layers of src/ (docs/architecture.md): each may import only from the layers below it.
 * `from` lists what a layer must not import.
 */
const COMPOSITION = ['./src/main.ts', './src/app.ts', './src/cluster.ts'];
const CONFIG = './src/config.ts';
const LAYER_RULES = [
  {
    target: './src/http',
    from: ['./src/cli', CONFIG, ...COMPOSITION],
    message: 'The HTTP edge is one front end: it does not import the CLI, the configuration (it is given its values) or the composition root.',
  },
  { target: './src/cli', from: ['./src/http', ...COMPOSITION], message: 'The CLI is one front end: it does not import the HTTP edge or the composition root.' },
  {
    target: CONFIG,
    from: ['./src/http', './src/cli', './src/auth', './src/store', './src/rules', ...COMPOSITION],
    message: 'config.ts reads the environment into values of cds/ and fhir/ types: it imports nothing above them.',
  },
  {
    target: './src/auth',
    from: ['./src/http', './src/cli', './src/cds', './src/rules', './src/fhir', CONFIG, ...COMPOSITION],
    message: 'auth/ sits below the front ends and beside cds/: it imports only store/ and errors.',
  },
  {
    target: './src/cds',
    from: ['./src/http', './src/cli', './src/auth', CONFIG, ...COMPOSITION],
    message: 'cds/ (the CDS Hooks protocol) does not import front ends, auth or the composition root.',
  },
  {
    target: './src/rules',
    from: ['./src/http', './src/cli', './src/auth', './src/cds', './src/store', CONFIG, ...COMPOSITION],
    message: 'rules/ sees only fhir/ and errors: no protocol, no storage.',
  },
  {
    target: './src/fhir',
    from: ['./src/http', './src/cli', './src/auth', './src/cds', './src/rules', './src/store', CONFIG, ...COMPOSITION],
    message: 'fhir/ is the bottom layer of the clinical code.',
  },
  {
    target: './src/store',
    from: ['./src/http', './src/cli', './src/auth', './src/cds', './src/rules', './src/fhir', CONFIG, ...COMPOSITION],
    message: 'store/ imports nothing of the service.',
  },
  { target: ['./src/errors.ts', './src/logger.ts'], from: ['./src/!(errors|logger).ts', './src/*/**'], message: 'errors.ts and logger.ts are leaves.' },
];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/'] },
  eslint.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['eslint.config.js', 'bin/*.mjs', 'bench/*.mjs'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/consistent-type-imports': 'error',
      // Off outside src/: scripts and tests handle loosely typed JSON on purpose (see the src/ block).
      '@typescript-eslint/no-unnecessary-condition': 'off',
      // express recognises error handlers by their four parameters, so `_next` must stay.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // Tests assert on response bodies (typed `any` by supertest) and with asymmetric matchers
    // (expect.stringContaining … are `any`); the assertions are the type check there.
    files: ['test/**/*.ts', 'src/**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
    },
  },
  {
    // One-way layering and no cycles, for the service's own code (tests may reach anywhere).
    files: ['src/**/*.ts'],
    ignores: ['src/**/*.test.ts'],
    plugins: { 'import-x': importX },
    settings: {
      ...importX.flatConfigs.typescript.settings,
      'import-x/resolver-next': [createTypeScriptImportResolver()],
    },
    rules: {
      // On for the service's code, where FHIR from clients is typed Tolerant<T>, not as R4 promises it.
      '@typescript-eslint/no-unnecessary-condition': 'error',
      'import-x/no-cycle': 'error',
      'import-x/no-restricted-paths': ['error', { zones: LAYER_RULES }],
    },
  },
  { files: ['eslint.config.js', 'bin/*.mjs', 'bench/*.mjs'], ...tseslint.configs.disableTypeChecked },
  { files: ['bin/*.mjs', 'bench/*.mjs'], languageOptions: { globals: { console: 'readonly', process: 'readonly', URL: 'readonly' } } },
);
