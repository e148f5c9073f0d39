// ESLint: rules that catch defects, not style (formatting is left to review). Type-aware: the
// projectService reads tsconfig.json, so promises nobody awaits or catches are found; the whole
// run takes about 40 s of CPU on this repository.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**'] },
  {
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'demo/**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommendedTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // tap awaits its own subtests: `t.test(...)` left unawaited is how tap is written.
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafePromises: [{ from: 'package', name: 'PromiseWithSubtest', package: '@tapjs/core' }],
      }],
      // fastify plugins are async functions by contract, and fakes implement async interfaces:
      // an async function without await is not a defect here.
      '@typescript-eslint/require-await': 'off',
      // Passing a caught `unknown` on to reject() is not a defect; rejecting with a string is.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // Off: errors here keep only the first line of what they wrap on purpose (a YAML error quotes
      // the kubeconfig it failed on), and pino's err serializer would print a `cause` in full.
      'preserve-caught-error': 'off',
    },
  },
  {
    files: ['src/**/*.ts', 'demo/**/*.ts'],
    // Core max-len (deprecated for @stylistic's, still in ESLint 10): long lines hide code in review.
    rules: { 'max-len': ['error', { code: 160, ignoreUrls: true }] },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests read replies with JSON.parse and assert on the result: an `any` there fails the assertion, not production.
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
);
