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
    // A bucket nats.js creates reads by direct gets, which a follower may answer without a write the leader has
    // acknowledged; openBucket and bindBucket read from the leader (libs/messaging/src/kv-bucket.ts says why).
    files: ['libs/*/src/**/*.ts', 'services/*/src/**/*.ts'],
    ignores: ['libs/messaging/src/kv-bucket.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: '@nats-io/kv', importNames: ['Kvm'], message: 'open KV buckets with openBucket or bindBucket from @halo/messaging: their gets go to the stream leader' }],
      }],
    },
  },
  {
    // Tests read untyped JSON answers and poke at internals; `any` there is a deliberate shortcut.
    files: ['test/**/*.ts', '**/test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
