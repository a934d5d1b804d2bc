/**
 * A short label for a session when the client did not name its device: derived from the
 * User-Agent, so that a person looking at their sessions can tell them apart
 * ("Firefox on Windows", "curl 8.5.0", "okhttp 4.12.0").
 */
export const DEVICE_MAX_LENGTH = 128

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

export function deviceFromUserAgent (userAgent: string | undefined): string {
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
