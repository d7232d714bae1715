/**
 * What a service needs from the outside world, handed in by the command: where to run programs,
 * whether to only plan, and where progress goes. Services never print results themselves.
 */
import {RealRunner, DryRunRunner, Runner, CommandListener, commandLine} from '../adapters/runner.js'
import {Target, targetToString} from '../adapters/target.js'
import {userError} from '../errors.js'
import {carried} from '../ui/carry.js'

export interface ServiceContext {
  runner: Runner
  dryRun: boolean
  /** progress and notes for a person (stderr) */
  progress: (msg: string) => void
}

export function makeContext(opts: {target?: Target; dryRun?: boolean; verbose?: boolean; quiet?: boolean; progress?: (m: string) => void; agent?: boolean}): ServiceContext {
  const real = commandRunner(opts.target ?? {kind: 'local'}, {agent: opts.agent, listener: commandEcho(opts.verbose)})
  return {
    runner: opts.dryRun ? new DryRunRunner(real) : real,
    dryRun: Boolean(opts.dryRun),
    progress: opts.progress ?? (opts.quiet ? () => {} : (m: string) => process.stderr.write(carried(m) + '\n')),
  }
}

/**
 * --verbose: every program run, on stderr, with where it ran and what it reads on stdin (a read
 * script's programs by name, not the script).
 */
export function commandEcho(verbose: boolean | undefined): CommandListener | undefined {
  return verbose
    ? (t, cmd) => process.stderr.write(`+ [${targetToString(t)}] ${commandLine(cmd)}${cmd.programs !== undefined ? `: ${cmd.programs.join('; ')}`
      : cmd.input ? ` <<< ${JSON.stringify(cmd.input.length > 400 ? cmd.input.slice(0, 400) + '…' : cmd.input)}` : ''}\n`)
    : undefined
}

/**
 * The runner a command runs its programs with. An agent (`sync --watch`) keeps its batch programs
 * started, as flanneld keeps its netlink socket open; a command that runs and ends runs its
 * programs through one shell.
 */
export function commandRunner(target: Target, {agent = false, listener}: {agent?: boolean; listener?: CommandListener} = {}): RealRunner {
  return new RealRunner(target, listener, agent ? {batchesReady: true} : {shellSession: true})
}

/**
 * Root, else a user error saying what needs it: a program's own EPERM ("setting the network
 * namespace failed", a mkdir's EACCES) names neither the cause nor the way on.
 */
export function requireRoot(message: string, hint: string): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw userError(message, hint)
}
