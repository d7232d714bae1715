/**
 * The one error type users see: what is wrong, what to do, and the exit code.
 * Anything else that escapes is a bug and keeps its stack.
 */
export const ExitCode = {
  ok: 0,
  /** trace: not delivered; doctor: problems found */
  notDelivered: 1,
  /** bad input, usage, environment the tool cannot work in */
  usage: 2,
  /** a program we ran failed in a way the user did not cause */
  failed: 3,
} as const

/**
 * Reasons a caller acts on, beyond printing: `NO_STATE`: this host has no flannelctl record (never
 * set up, or reset); `NOT_INSTALLED`: a program to run is not there (an optional read is then unknown);
 * `HOST_UNREADABLE`: a host of an inventory or lab cannot be read at all (collect keeps the others).
 */
export type ErrorReason = 'NO_STATE' | 'NOT_INSTALLED' | 'HOST_UNREADABLE'

export class FlannelctlError extends Error {
  readonly hint: string
  readonly exitCode: number
  readonly reason?: ErrorReason
  constructor(message: string, hint = '', exitCode: number = ExitCode.usage, reason?: ErrorReason) {
    super(message)
    this.name = 'FlannelctlError'
    this.hint = hint
    this.exitCode = exitCode
    if (reason !== undefined) this.reason = reason
  }
}

export function userError(message: string, hint = ''): FlannelctlError {
  return new FlannelctlError(message, hint, ExitCode.usage)
}

/** By name too: a module loaded twice (ESM and CJS in tests) has two classes of the same error. */
export function isUserError(e: unknown): e is FlannelctlError {
  return e instanceof FlannelctlError || (e instanceof Error && e.name === 'FlannelctlError' && typeof (e as FlannelctlError).exitCode === 'number')
}

/**
 * A command that only reads (status, lease list, trace, doctor) and cannot read what it must judge
 * fails as bad input, exit 2: it changed nothing and there is nothing to resume. The same store
 * failing under a command that changes things stays exit 3: run it again.
 */
export function asReadFailure(e: unknown): never {
  // only a failure: a Ctrl-C or SIGTERM (130, 143) stays what the shell reports
  if (isUserError(e) && e.exitCode === ExitCode.failed) throw new FlannelctlError(e.message, e.hint, ExitCode.usage, e.reason)
  throw e
}
