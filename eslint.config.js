// ESLint's flat config: neostandard, the Fastify ecosystem's style, with TypeScript support.
// Build output, coverage and tap's cache are generated, not written, so they are not linted.
import neostandard from 'neostandard'

export default neostandard({
  ts: true,
  ignores: [
    'dist/**',
    'coverage/**',
    '.tap/**',
    'data/**',
    'packages/*/dist/**'
  ]
})
