/**
 * Progress for long work (lab up/down, migrate, bench, doctor over many hosts), on stderr so stdout
 * stays the result. Passing status lines appear only for a person at a terminal (or with --verbose):
 * a log or a pipe gets the result and the notes, not a play-by-play. Notes and warnings always
 * show. Colour only on a terminal, never with NO_COLOR or TERM=dumb.
 */

export interface ProgressOptions {
  /** where lines go (default process.stderr) */
  stream?: {write(s: string): unknown; isTTY?: boolean}
  /** the environment to read NO_COLOR / TERM from (default process.env) */
  env?: Record<string, string | undefined>
  /** show passing status lines even when the stream is not a terminal (--verbose) */
  verbose?: boolean
  /** silence everything but notes (--json) */
  quiet?: boolean
  /** the clock, for tests */
  now?: () => number
}

export interface Progress {
  /** a passing status line: "provisioning nodes", "[ 4/14] n1  peer routes → host-gw" */
  step(message: string): void
  /** something worth reading even in a log: a note, a warning, a resumed run */
  note(message: string): void
  /** one callback for services that report both kinds through a single function */
  readonly report: (message: string) => void
  /** whether step lines are shown */
  readonly live: boolean
}

/** Messages that say something about the result, not just how far the work is. */
const NOTE = /^\s*(?:[\w.-]+:\s+)?(?:note|warning|resuming)\b|^--ping\b/i

export function isNote(message: string): boolean {
  return NOTE.test(message)
}

export function colorAllowed(stream: {isTTY?: boolean}, env: Record<string, string | undefined> = process.env): boolean {
  return Boolean(stream.isTTY) && !env.NO_COLOR && env.TERM !== 'dumb'
}

export function createProgress(o: ProgressOptions = {}): Progress {
  const stream = o.stream ?? process.stderr
  const env = o.env ?? process.env
  const now = o.now ?? Date.now
  const started = now()
  const color = colorAllowed(stream, env)
  const live = !o.quiet && (Boolean(stream.isTTY) || Boolean(o.verbose))
  const paint = (code: string, s: string) => (color ? `\u001B[${code}m${s}\u001B[0m` : s)
  const elapsed = () => `${((now() - started) / 1000).toFixed(1)}s`

  const step = (message: string) => {
    if (!live) return
    stream.write(`${paint('2', '›')} ${message} ${paint('2', `(${elapsed()})`)}\n`)
  }
  const note = (message: string) => {
    const warning = /\bwarning\b/i.test(message)
    stream.write(`${warning ? paint('33', message) : message}\n`)
  }
  return {step, note, live, report: (m: string) => (isNote(m) ? note(m) : step(m))}
}
