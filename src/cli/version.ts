/** The installed package's version, for `tessera --version`. */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The `version` of the package.json above this module: the package root, whether this runs
 * compiled (`dist/src/cli/`) or from its sources (`src/cli/`).
 */
export function packageVersion (): string {
  let directory = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const file = join(directory, 'package.json')
    if (existsSync(file)) {
      const manifest = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown, version?: unknown }
      if (manifest.name === 'tessera-auth' && typeof manifest.version === 'string') return manifest.version
    }
    const parent = dirname(directory)
    if (parent === directory) throw new Error('cannot find the package.json of tessera-auth')
    directory = parent
  }
}
