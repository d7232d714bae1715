/**
 * What every command shares: user errors print as two lines (what is wrong, what to do) with their
 * exit code and no stack; --verbose shows the programs run; colour only on a TTY without NO_COLOR.
 */
import {Command, Flags, Errors} from '@oclif/core'
import {isUserError, ExitCode} from '../errors.js'
import {createProgress, type Progress} from '../ui/progress.js'
import {debug} from '../debug.js'

export function useColor(): boolean {
  return Boolean(process.stdout.isTTY) && !process.env.NO_COLOR && process.env.TERM !== 'dumb'
}

export abstract class BaseCommand extends Command {
  static override baseFlags = {
    verbose: Flags.boolean({description: 'show every program flannelctl runs (DEBUG=flannelctl* shows more)', helpGroup: 'GLOBAL'}),
  }

  override async init(): Promise<void> {
    await super.init()
    debug('cli')('%s %o', this.id, this.argv)
  }

  /** Progress on stderr for long work: step lines on a terminal (or with --verbose), notes always. */
  protected progress(o: {verbose?: boolean; quiet?: boolean} = {}): Progress {
    return createProgress(o)
  }

  protected out(text: string): void {
    process.stdout.write(text.endsWith('\n') ? text : text + '\n')
  }

  protected outJson(value: unknown): void {
    process.stdout.write(JSON.stringify(value, null, 2) + '\n')
  }

  protected override async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    if (isUserError(err)) {
      process.stderr.write(`Error: ${err.message}\n`)
      if (err.hint) process.stderr.write(`Hint: ${err.hint}\n`)
      process.exitCode = err.exitCode
      return
    }
    // oclif's own parse errors (unknown flag, missing arg) are usage errors: exit 2, no stack.
    if (err instanceof Errors.CLIError && !(err instanceof Errors.ExitError)) {
      process.stderr.write(`Error: ${err.message.split('\n')[0]}\n`)
      const rest = err.message.split('\n').slice(1).join(' ').trim()
      process.stderr.write(`Hint: ${rest || `see ${this.config.bin} ${this.id?.replace(/:/g, ' ') ?? ''} --help`}\n`)
      process.exitCode = ExitCode.usage
      return
    }
    return super.catch(err)
  }
}
