// Lint rules. The import restrictions keep the layers of ARCHITECTURE.md pointing one way.
import tseslint from 'typescript-eslint';

const coreMessage =
  'src/core must stay free of DOM, React and IndexedDB so it runs in Node and in any page: put this in src/storage, src/embed or src/react instead.';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'models/**', 'scratch/**', 'test-results/**', 'playwright-report/**', '.cache/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/**/*.ts', 'src/**/*.tsx'],
    rules: {
      'no-restricted-properties': [
        'error',
        ...['dataSync', 'arraySync'].map((property) => ({
          property,
          message:
            'Read tensors with await t.data() / t.array(): a synchronous GPU readback stalls the page, and on WebGPU in Chromium it returns wrong values and loses the device.',
        })),
      ],
    },
  },
  {
    files: ['src/core/**/*.ts'],
    languageOptions: {
      globals: {},
    },
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['react', 'react-dom', 'react/*', 'react-dom/*'], message: coreMessage },
            { group: ['idb', 'idb/*'], message: coreMessage },
            {
              group: ['../storage/*', '../embed/*', '../react/*', '../demo/*', '../cli/*', '../storage', '../embed', '../react', '../demo'],
              message: coreMessage,
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        ...['window', 'document', 'indexedDB', 'localStorage', 'sessionStorage', 'HTMLElement', 'IDBKeyRange', 'BroadcastChannel'].map(
          (name) => ({
            name,
            message: coreMessage,
          }),
        ),
      ],
    },
  },
  {
    files: ['src/storage/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['react', 'react-dom', 'react/*'], message: 'src/storage sits below React: it may use the core and idb only.' },
            {
              group: ['../embed/*', '../react/*', '../demo/*', '../cli/*'],
              message: 'src/storage may import the core and idb only (layers point down).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/embed/**/*.ts', 'src/react/**/*.ts', 'src/react/**/*.tsx'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [{ group: ['../demo/*', '../cli/*'], message: 'Adapters may import the core and storage only (layers point down).' }],
        },
      ],
    },
  },
  {
    files: ['src/vite/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../core/*', '../storage/*', '../embed/*', '../react/*', '../demo/*', '../cli/*'],
              message:
                'The Vite plugin runs in the build, not in the page: it serves and copies files and imports no layer of the library.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/cli/**/*.ts', 'src/bench/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../react/*', '../demo/*', '../embed/*', '../../react/*', '../../demo/*', '../../embed/*', 'react', 'react-dom'],
              message: 'Tools use the core, never UI code.',
            },
          ],
        },
      ],
    },
  },
);
