/**
 * A short label for a session when the client did not name its device: derived from the
 * User-Agent, so that a person looking at their sessions can tell them apart
 * ("Firefox on Windows", "curl 8.5.0", "okhttp 4.12.0").
 */
export const DEVICE_MAX_LENGTH = 128

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

/** The label for a User-Agent; never holds an unprintable character, whatever the client sent. */
export function deviceFromUserAgent (userAgent: string | undefined): string {
  const label = labelOf(userAgent).replace(UNPRINTABLE, '').trim()
  return label === '' ? 'unknown device' : label
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
  // A tool or library: "curl/8.5.0", "okhttp/4.12.0", "python-requests/2.32 …" → name and version.
  const product = /^([\w.-]{1,40})(?:\/([\w.-]{1,20}))?/.exec(ua)
  if (product === null) return 'unknown device'
  return product[2] === undefined ? product[1]! : `${product[1]} ${product[2]}`
}
