// Flat ESLint config: typescript-eslint's recommended rules without type information, so `npm run lint` stays fast.
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['**/node_modules/**', '.tools/**', '.halo/**', 'tmp/**', 'dist/**', '**/*.d.ts'] },
  tseslint.configs.recommended,
  {
    rules: {
      // `_`-prefixed names mark parameters and destructured values that are deliberately unused.
      '@typescript-eslint/no-unused-vars': ['error', {
        argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_',
        ignoreRestSiblings: true,
      }],
    },
  },
  {
    // Tests read untyped JSON answers and poke at internals; `any` there is a deliberate shortcut.
    files: ['test/**/*.ts', '**/test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
