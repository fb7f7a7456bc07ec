// ESLint, as GitHub's actions/typescript-action sets it up: ESLint's and typescript-eslint's
// recommended rules, with formatting left to Prettier (eslint-config-prettier, last, turns off the
// rules that would fight it). `pnpm lint`; scripts/test.sh and CI run it before the tests.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  // dist/: ncc's bundles (scripts/check-dist.sh compares them with a rebuild). test/fixtures: apps the
  // end-to-end tests build into images as they are.
  { ignores: ['**/dist/', '**/coverage/', 'test/fixtures/'] },
  js.configs.recommended,
  // Type-aware: the TypeScript sources are linted with the types of tsconfig.json, which covers them
  // all (packages/*/src, actions/*/src, test, bench, scripts), as one program: it costs about as much
  // as `pnpm typecheck` and finds what only types show (floating promises, unsafe `any`).
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: globals.node,
      parserOptions: { project: './tsconfig.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // `const { image: _image, ...rest } = inputs` is how the code drops a key.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true, argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Test doubles implement async interfaces (Shell.run, sleep) with `async` methods that have
      // nothing to await: `async` is what makes a throw in them a rejection, as in the real ones.
      '@typescript-eslint/require-await': 'off',
    },
  },
  // JavaScript (scripts/*.mjs, test/sandbox/*.mjs, jest.config.js, this file) is outside tsconfig.json.
  { files: ['**/*.js', '**/*.mjs', '**/*.cjs'], extends: [tseslint.configs.disableTypeChecked] },
  // The example app is CommonJS: it runs in its container with no package.json beside it.
  { files: ['examples/**/*.js'], languageOptions: { sourceType: 'commonjs' }, rules: { '@typescript-eslint/no-require-imports': 'off' } },
  prettier,
);
