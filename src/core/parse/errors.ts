import {ExitCode, FlannelctlError} from '../../errors.js'

/** Where the text came from and what it was captured with. */
export interface ParseOptions {
  /** file name used in error messages, e.g. `ip-route.txt` */
  source?: string
  /**
   * The `dev` filter the output was captured with (`ip neigh show dev X`), for lines and JSON
   * entries that omit `dev`. A pasted command line at the top of the text overrides it.
   */
  dev?: string
}

export interface ResolvedOptions {
  source: string
  dev?: string
}

export function resolveOptions(options: ParseOptions | string | undefined): ResolvedOptions {
  if (typeof options === 'string') return {source: options}
  return {source: options?.source ?? 'input', dev: options?.dev}
}

/**
 * Input that cannot be read as the table it claims to be. A user's error (exit 2), never a bug:
 * it names the file and line so the user can look at what they pasted.
 */
export class ParseError extends FlannelctlError {
  readonly source: string
  /** 1-based; undefined when the whole input is at fault */
  readonly line: number | undefined

  constructor(source: string, line: number | undefined, detail: string, hint = '') {
    super(line === undefined ? `${source}: ${detail}` : `${source} line ${line}: ${detail}`,
      hint || 'check that the file holds the output of the command its name says, as printed or as `-j` JSON',
      ExitCode.usage)
    this.name = 'ParseError'
    this.source = source
    this.line = line
  }
}

/** A line quoted in an error message, cut so one bad megabyte line does not flood the terminal. */
export function quote(line: string): string {
  const t = line.trim()
  return `'${t.length > 80 ? `${t.slice(0, 77)}...` : t}'`
}
