/**
 * A short label for a session when the client did not name its device: derived from the
 * User-Agent, so that a person looking at their sessions can tell them apart
 * ("Firefox on Windows", "MyApp 2.3.1 (iOS app)", "curl 8.5.0"). And the User-Agent itself, as a
 * session keeps it.
 */
export const DEVICE_MAX_LENGTH = 128

/** Most characters of a User-Agent that a session keeps; the rest is cut off. */
export const USER_AGENT_MAX_LENGTH = 512

/**
 * The characters a stored label (or email address) may not hold, as a regular-expression class:
 * - controls (Cc): NUL, which PostgreSQL refuses; escape sequences; C1 controls;
 * - format characters (Cf): the bidirectional controls U+202A–U+202E, U+2066–U+2069, U+200E,
 *   U+200F and U+061C, which make `evil\u202Egnp.exe` print as `evilexe.png`, and the invisible
 *   U+200B–U+200D, U+2060, U+FEFF and U+00AD;
 * - the line and paragraph separators (Zl, Zp).
 * Labels are printed in session lists and terminals.
 */
export const UNPRINTABLE_CLASS = '\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}'

const UNPRINTABLE = new RegExp(`[${UNPRINTABLE_CLASS}]`, 'gu')

const BROWSERS: Array<[RegExp, string]> = [
  [/Edg(?:e|A|iOS)?\//, 'Edge'],
  [/OPR\/|Opera/, 'Opera'],
  [/Firefox\/|FxiOS\//, 'Firefox'],
  [/Chrome\/|CriOS\//, 'Chrome'],
  [/Safari\//, 'Safari']
]

const SYSTEMS: Array<[RegExp, string]> = [
  [/iPhone/, 'iPhone'],
  [/iPad/, 'iPad'],
  [/Android/, 'Android'],
  [/Windows/, 'Windows'],
  [/Mac OS X|Macintosh/, 'macOS'],
  [/CrOS/, 'ChromeOS'],
  [/Linux/, 'Linux']
]

/**
 * The HTTP libraries of native apps, by the product token they put in a User-Agent, and the kind
 * of app each means. An app usually puts its own name and version first
 * (`MyApp/2.3.1 CFNetwork/1410.0.3 Darwin/22.6.0`); the label then says both.
 */
const NATIVE_CLIENTS: Array<[RegExp, string]> = [
  [/\bokhttp\//i, 'Android app'],
  [/\bDalvik\//, 'Android app'],
  [/\bDart\//, 'Flutter app'],
  [/\bAlamofire\//, 'iOS app'],
  [/\b(?:CFNetwork|Darwin)\//, 'iOS app']
]

/** Product tokens that name an HTTP library or a system, never the app using it. */
const LIBRARY_PRODUCTS = /^(?:okhttp|dalvik|dart|alamofire|cfnetwork|darwin)$/i

/** The label for a User-Agent; never holds an unprintable character, whatever the client sent. */
export function deviceFromUserAgent (userAgent: string | undefined): string {
  const label = labelOf(userAgent).replace(UNPRINTABLE, '').trim()
  return label === '' ? 'unknown device' : label
}

/**
 * The User-Agent a session keeps: without unprintable characters, at most
 * `USER_AGENT_MAX_LENGTH` characters (cut, never refused); `null` when there is none.
 */
export function sessionUserAgent (userAgent: string | undefined): string | null {
  const cleaned = (userAgent ?? '').replace(UNPRINTABLE, '').trim()
  // Cut between two UTF-16 units of one character, a lone half would be left: drop it too.
  const kept = cleaned.slice(0, USER_AGENT_MAX_LENGTH).replace(/[\uD800-\uDBFF]$/, '')
  return kept === '' ? null : kept
}

/** The label for a User-Agent, before unprintable characters are dropped. */
function labelOf (userAgent: string | undefined): string {
  const ua = (userAgent ?? '').trim()
  if (ua === '') return 'unknown device'
  if (ua.startsWith('Mozilla/')) {
    const browser = BROWSERS.find(([pattern]) => pattern.test(ua))?.[1] ?? 'Browser'
    const system = SYSTEMS.find(([pattern]) => pattern.test(ua))?.[1]
    return system === undefined ? browser : `${browser} on ${system}`
  }
  const product = firstProduct(ua)
  const native = NATIVE_CLIENTS.find(([pattern]) => pattern.test(ua))?.[1]
  if (native !== undefined) {
    // "MyApp/2.3.1 CFNetwork/…" → "MyApp 2.3.1 (iOS app)"; "okhttp/4.12.0" alone → "Android app".
    if (product === undefined || LIBRARY_PRODUCTS.test(product.name)) return native
    return `${productLabel(product)} (${native})`
  }
  // A tool or library: "curl/8.5.0", "python-requests/2.32 …" → name and version.
  return product === undefined ? 'unknown device' : productLabel(product)
}

interface Product {
  name: string
  version: string | undefined
}

/** The User-Agent's first product token (`name/version`, the version optional), whole: up to a space, a comment or the end. */
function firstProduct (ua: string): Product | undefined {
  const match = /^([\w.%-]{1,40})(?:\/([\w.+-]{1,20}))?(?=[\s(]|$)/.exec(ua)
  if (match === null) return undefined
  return { name: decodeName(match[1]!), version: match[2] }
}

/** iOS writes an app's name percent-encoded (`My%20App/1 CFNetwork/…`). */
function decodeName (name: string): string {
  try {
    return decodeURIComponent(name)
  } catch {
    return name
  }
}

function productLabel ({ name, version }: Product): string {
  return version === undefined ? name : `${name} ${version}`
}
