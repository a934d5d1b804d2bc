/**
 * What `npm pack` puts in the tarball: exactly what a consumer needs — the compiled code of `src`
 * and `migrations` with its types and source maps, package.json, README.md and LICENSE — and
 * nothing else: no tests, benchmarks, CI scripts, examples or TypeScript sources. The package.json
 * a consumer reads points only at files the tarball holds.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { ROOT, buildOutputs, buildSources, packedTarball, staleBuild } from '../helpers/package.js'

interface PackageJson {
  name: string
  license: string
  types: string
  bin: Record<string, string>
  exports: Record<string, string | Record<string, string>>
  files: string[]
}

const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson

const stale = staleBuild()
if (stale.length > 0) throw new Error(`dist is older than ${stale.join(', ')}: run \`npm run build\` first (npm test does)`)
const packed = (await packedTarball()).result
const files = packed.files.map((file) => file.path).sort()

t.test('the package is tessera-auth, and its command is still tessera', async (t) => {
  t.equal(packed.name, 'tessera-auth')
  t.equal(manifest.name, 'tessera-auth')
  t.same(manifest.bin, { tessera: 'dist/src/cli/bin.js' })
  t.equal(manifest.license, 'MIT')
})

t.test('the tarball holds the build of every source, with its types and source map', async (t) => {
  for (const file of [
    'package.json', 'README.md', 'LICENSE',
    'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/index.js.map',
    'dist/src/client/index.js', 'dist/src/client/index.d.ts',
    'dist/src/testing/index.js', 'dist/src/testing/index.d.ts',
    'dist/src/cli/bin.js',
    'dist/migrations/index.js', 'dist/migrations/index.d.ts'
  ]) {
    t.ok(files.includes(file), `${file} is in the tarball`)
  }
  const sources = buildSources()
  t.ok(sources.some((source) => source.startsWith('migrations/') && source !== 'migrations/index.ts'), 'there are migrations to ship')
  const missing = sources.flatMap(buildOutputs).filter((output) => !files.includes(output))
  t.same(missing, [], 'every source of src/ and migrations/ is in the tarball as .js, .d.ts and .js.map')
})

t.test('the tarball holds nothing else', async (t) => {
  const forbidden = files.filter((file) =>
    /^(test|bench|\.ci|examples|src|migrations|coverage|data|node_modules|\.tap)\//.test(file) ||
    /^dist\/(test|bench)\//.test(file) ||
    (file.endsWith('.ts') && !file.endsWith('.d.ts')) ||
    /\.(db|db-wal|db-shm|tgz|tsbuildinfo)$/.test(file))
  t.same(forbidden, [], 'no tests, benchmarks, CI, examples, TypeScript sources or databases')

  // Anything else under dist is a leftover of an earlier build (a file since renamed or deleted),
  // which `npm pack` would ship as dead code.
  const expected = new Set(['package.json', 'README.md', 'LICENSE', ...buildSources().flatMap(buildOutputs)])
  const unexpected = files.filter((file) => !expected.has(file))
  t.same(unexpected, [], unexpected.length === 0
    ? 'every file is package.json, README.md, LICENSE, or the build of a source'
    : 'files without a source, left in dist by an earlier build: `rm -rf dist && npm run build` before packing')
})

t.test('package.json points only at files the tarball holds, types first', async (t) => {
  const targets: string[] = [manifest.types, ...Object.values(manifest.bin)]
  for (const [subpath, target] of Object.entries(manifest.exports)) {
    if (typeof target === 'string') {
      targets.push(target)
      continue
    }
    // TypeScript reads conditions in order and takes the first that matches: `types` must lead.
    t.equal(Object.keys(target)[0], 'types', `exports['${subpath}'] lists types first`)
    t.ok(target.types?.endsWith('.d.ts'), `exports['${subpath}'] has types`)
    targets.push(...Object.values(target))
  }
  t.same(Object.keys(manifest.exports).sort(), ['.', './client', './package.json', './testing'])
  for (const target of targets) {
    t.ok(files.includes(target.replace(/^\.\//, '')), `${target} is in the tarball`)
  }
})

t.test('LICENSE is the MIT licence of the tessera authors', async (t) => {
  const license = readFileSync(join(ROOT, 'LICENSE'), 'utf8')
  t.match(license, /^MIT License\n\nCopyright \(c\) 2026 the tessera authors\n/)
  t.match(license, /THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND/)
})

t.test('the executable in the tarball is a node script', async (t) => {
  t.ok(files.includes(manifest.bin.tessera!), 'the bin is in the tarball')
  t.match(readFileSync(join(ROOT, 'dist/src/cli/bin.js'), 'utf8'), /^#!\/usr\/bin\/env node\n/)
})
