/**
 * What a token may do: a set of scopes, as Laravel Sanctum's abilities or GitHub's fine-grained
 * tokens. A scope is 1-64 characters of `a-z 0-9 _ . : -`; `*` means every scope. A token holds at
 * most 32. Stored as one text column, sorted and space-separated (`*` alone for every scope).
 */
export const EVERY_SCOPE = '*'
export const SCOPE_PATTERN = /^[a-z0-9_.:-]{1,64}$/
export const MAX_SCOPES = 32
/** The pattern as JSON Schema writes it, for the routes' schemas. */
export const SCOPE_SCHEMA_PATTERN = '^(\\*|[a-z0-9_.:-]{1,64})$'

/** The problem with a list of scopes, in words, or `undefined` when it is a valid set. */
export function scopesProblem (scopes: readonly string[]): string | undefined {
  if (scopes.length === 0) return 'at least one scope is needed'
  if (scopes.length > MAX_SCOPES) return `at most ${MAX_SCOPES} scopes`
  const bad = scopes.find((scope) => scope !== EVERY_SCOPE && !SCOPE_PATTERN.test(scope))
  if (bad !== undefined) return `${JSON.stringify(bad)} is not a scope: 1 to 64 characters of a-z 0-9 _ . : -, or *`
  return undefined
}

/** The set, sorted and without repeats; `*` absorbs the rest. */
export function normalizeScopes (scopes: readonly string[]): string[] {
  if (scopes.includes(EVERY_SCOPE)) return [EVERY_SCOPE]
  return [...new Set(scopes)].sort()
}

/** How a set is stored: `normalizeScopes`, space-separated. */
export function storedScopes (scopes: readonly string[]): string {
  return normalizeScopes(scopes).join(' ')
}

export function scopesOf (stored: string): string[] {
  return stored.split(' ')
}

/** The scopes of `required` that `granted` lacks (none when it holds `*`). */
export function missingScopes (granted: readonly string[], required: readonly string[]): string[] {
  if (granted.includes(EVERY_SCOPE)) return []
  return required.filter((scope) => !granted.includes(scope))
}

/** Parses `TESSERA_DEFAULT_SCOPES`: comma-separated; `undefined` when invalid. */
export function parseScopeList (text: string): string[] | undefined {
  const scopes = text.split(',').map((scope) => scope.trim()).filter((scope) => scope !== '')
  return scopesProblem(scopes) === undefined ? normalizeScopes(scopes) : undefined
}
