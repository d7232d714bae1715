/**
 * What every command shares: user errors print as two lines (what is wrong, what to do) with their
 * exit code and no stack; --verbose shows the programs run; colour only on a TTY without NO_COLOR.
 */
import {Command, Flags, Errors, type Interfaces} from '@oclif/core'
import {isUserError, ExitCode, userError} from '../errors.js'
import {createProgress, type Progress} from '../ui/progress.js'
import {debug} from '../debug.js'
import {absolute, absoluteStore} from './flags.js'
import {CARRIED_FLAGS, type GivenFlag} from '../core/carry.js'
import {carried, carriedIn, setCarry} from '../ui/carry.js'

/** oclif's FlagOutput and ArgOutput, which its package does not export. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Parsed = {[name: string]: any}

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

  /**
   * The flags typed on this command line that a printed command may need (a hint's `flannelctl
   * init`, a fix's `flannelctl sync`) are carried into each (src/core/carry.ts); a value from the
   * environment is not: the next command, run in the same environment, gets it from there too.
   */
  protected override async parse<F extends Parsed, B extends Parsed, A extends Parsed>(
    options?: Interfaces.Input<F, B, A>, argv?: string[]): Promise<Interfaces.ParserOutput<F, B, A>> {
    const parsed = await super.parse<F, B, A>(options, argv)
    const flags = parsed.flags as Record<string, unknown>
    const given = CARRIED_FLAGS.flatMap((name): GivenFlag[] => {
      const value = flags[name]
      if (!givenOnCommandLine(parsed.raw, name) || value === undefined || value === '') return []
      if (typeof value === 'boolean') return [{name, value}]
      const text = String(value)
      return [{name, value: name === 'store' ? absoluteStore(text)! : name.endsWith('-file') || name.endsWith('-dir') ? absolute(text)! : text}]
    })
    setCarry({given, commands: Object.fromEntries(this.config.commands.map(c => [c.id.replace(/:/g, ' '), Object.keys(c.flags)]))})
    return parsed
  }

  /** Progress on stderr for long work: step lines on a terminal (or with --verbose), notes always. */
  protected progress(o: {verbose?: boolean; quiet?: boolean} = {}): Progress {
    return createProgress({...o, stream: {write: (s: string) => process.stderr.write(carried(s)), isTTY: process.stderr.isTTY}})
  }

  protected out(text: string): void {
    const shown = carried(text)
    process.stdout.write(shown.endsWith('\n') ? shown : shown + '\n')
  }

  /** A line for a person on stderr (a note, a warning, an agent's retry). */
  protected err(text: string): void {
    const shown = carried(text)
    process.stderr.write(shown.endsWith('\n') ? shown : shown + '\n')
  }

  protected outJson(value: unknown): void {
    process.stdout.write(JSON.stringify(carriedIn(value), null, 2) + '\n')
  }

  /** One object on one line (an agent's round, as log collectors read them); its strings carried before they are quoted. */
  protected outJsonLine(value: unknown): void {
    process.stdout.write(JSON.stringify(carriedIn(value)) + '\n')
  }

  protected override async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    if (isUserError(err)) {
      process.stderr.write(`Error: ${carried(err.message)}\n`)
      if (err.hint) process.stderr.write(`Hint: ${carried(err.hint)}\n`)
      process.exitCode = err.exitCode
      return
    }
    // oclif's own parse errors (unknown flag, missing arg) are usage errors: exit 2, no stack.
    if (err instanceof Errors.CLIError && !(err instanceof Errors.ExitError)) {
      const help = `see ${this.config.bin} ${this.id?.replace(/:/g, ' ') ?? ''} --help`
      const lines = err.message.split('\n').map(l => l.trim()).filter(l => l !== '' && l !== 'See more help with --help' && !/^The following errors? occurred:$/.test(l))
      // "Parsing --mtu" / "Expected an integer greater than or equal to 576 but received: 50": one line saying both
      const flag = /^Parsing (--\S+)$/.exec(lines[0] ?? '')
      if (flag && lines[1]) lines.splice(0, 2, `${flag[1]}: ${lines[1].charAt(0).toLowerCase()}${lines[1].slice(1)}`)
      const what = mergeExclusive(namedMissingArgs(lines)).reduce((text, l) => (text === '' ? l : `${text}${text.endsWith(':') ? ' ' : '; '}${l}`), '').replace(/\s{2,}/g, ' ')
      process.stderr.write(`Error: ${what || err.message}\n`)
      process.stderr.write(`Hint: ${help}\n`)
      process.exitCode = ExitCode.usage
      return
    }
    return super.catch(err)
  }
}

/**
 * oclif refuses two exclusive flags once from each side ("--lab=demo cannot also be provided when
 * using --snapshot", then the reverse): one line a pair says it.
 */
export function mergeExclusive(lines: string[]): string[] {
  const pairs = new Set<string>()
  return lines.flatMap(line => {
    const m = /^(--[\w-]+)(?:=.*?)? cannot also be provided when using (--[\w-]+)$/.exec(line)
    if (!m) return [line]
    const pair = [m[1], m[2]].sort().join(' and ')
    if (pairs.has(pair)) return []
    pairs.add(pair)
    return [`${m[1]} and ${m[2]} cannot be given together`]
  })
}

/**
 * oclif lists missing arguments as "name  description" under "Missing 2 required args:", which
 * joined on one line reads "src source: pod name, …": each becomes "SRC (source: pod name, …)",
 * named as the usage line names it.
 */
export function namedMissingArgs(lines: string[]): string[] {
  if (!/^Missing \d+ required args?:$/.test(lines[0] ?? '')) return lines
  return [lines[0], ...lines.slice(1).map(line => {
    const m = /^(\S+)\s{2,}(?:\([^)]*\) )?(.*)$/.exec(line)
    return m ? `${m[1].toUpperCase()} (${m[2]})` : line
  })]
}

/** Whether `flag` was given on the command line: oclif's raw tokens hold argv alone, not a value taken from the flag's env. */
export function givenOnCommandLine(raw: Interfaces.ParserOutput['raw'], flag: string): boolean {
  return raw.some(t => t.type === 'flag' && t.flag === flag)
}

/**
 * --lab names the lab's store: a store flag typed beside it would be ignored, so it is refused. Not
 * from the env: inside a lab node lab exec sets FLANNELCTL_STORE and FLANNELCTL_STATE_FILE.
 */
export function refuseStoreFlagsWithLab(raw: Interfaces.ParserOutput['raw'], lab: string | undefined, storeFlagNames: string[], use: 'read' | 'write'): void {
  const typed = lab === undefined ? undefined : storeFlagNames.find(f => givenOnCommandLine(raw, f))
  if (typed !== undefined) throw userError(`--${typed} names a store, and --lab the lab's: give one of them`, `drop --${typed} to ${use} lab ${lab}'s store, or --lab to ${use} that one`)
}

/**
 * The flags that describe this host when it is read alone: its name, its record, its conflist's
 * directory, its store's password. With hosts named elsewhere (a lab, an inventory, a snapshot)
 * they would be ignored, so typed they are refused. From their env alone (lab exec sets
 * FLANNELCTL_NODE_NAME, FLANNELCTL_STATE_FILE and FLANNELCTL_CNI_CONF_DIR inside a node) they stay
 * quiet: a command run there may read a lab or an inventory as well.
 */
const THIS_HOST_FLAGS: Record<string, string> = {
  'node-name': 'its name',
  'state-file': 'its record',
  'cni-conf-dir': 'its conflist\'s directory',
  'etcd-password': 'the password of the store its record names',
}

export function refuseThisHostFlagsWithHosts(raw: Interfaces.ParserOutput['raw'], sources: Record<string, string | undefined>): void {
  const source = Object.entries(sources).find(([, v]) => v !== undefined)?.[0]
  const flag = source === undefined ? undefined : Object.keys(THIS_HOST_FLAGS).find(f => givenOnCommandLine(raw, f))
  if (source === undefined || flag === undefined) return
  throw userError(`--${flag} is for this host read alone (${THIS_HOST_FLAGS[flag]}); with --${source} the hosts come from the ${source}`,
    `drop --${flag} (or drop --${source} to read this host alone)`)
}
