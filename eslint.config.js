// ESLint's flat config: neostandard, the Fastify ecosystem's style, with TypeScript support.
// Build output, coverage and tap's cache are generated, not written, so they are not linted.
import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: [
      'dist/**',
      'coverage/**',
      '.tap/**',
      'data/**',
      'packages/*/dist/**'
    ]
  }),
  {
    rules: {
      // `void promise;` marks a promise deliberately not awaited (a fire-and-forget write, a
      // listener that only reports). As a statement it says so; `void` inside an expression,
      // where it would stand for `undefined`, stays forbidden.
      'no-void': ['error', { allowAsStatement: true }]
    }
  }
]
