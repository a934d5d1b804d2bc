/**
 * The CLI checks a username, password, email or device with the very schemas of the API
 * (`POST /auth/register`, a session's device), so that it refuses exactly what the API refuses.
 * Each check returns the problem in words, or `undefined`.
 */
import { Value } from 'typebox/value'
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../users/builtin/passwords.js'
import { RegisterBody, USERNAME_MAX_LENGTH } from '../http/schemas.js'

export { deviceProblem } from '../http/schemas.js'

const { username, password, email } = RegisterBody.properties

export function usernameProblem (text: string): string | undefined {
  return Value.Check(username, text) ? undefined : `expected 1 to ${USERNAME_MAX_LENGTH} letters, digits and @ . + - _`
}

export function passwordProblem (text: string): string | undefined {
  return Value.Check(password, text) ? undefined : `the password must be ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters`
}

export function isEmail (text: string): boolean {
  return Value.Check(email, text)
}
