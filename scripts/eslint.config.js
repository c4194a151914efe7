// Lint rules: typescript-eslint's recommended set, plus the project's conventions that a tool can check.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-globals': ['error', { name: 'parseFloat', message: 'Money and quantities are Decimal.' }],
      'no-console': 'error',
    },
  },
  { files: ['src/cli/**/*.ts', 'scripts/**/*.ts'], rules: { 'no-console': 'off' } },
  { files: ['**/*.js', '**/*.cjs'], languageOptions: { globals: { process: 'readonly', module: 'writable', require: 'readonly', console: 'readonly' } } },
);
