/**
 * The only place flannelctl runs programs. A Runner is real, dry-run (reads run, writes are printed)
 * or recording (tests replay what a real host printed).
 */
import {spawn} from 'node:child_process'
import {openSync, closeSync, existsSync} from 'node:fs'
import {isAbsolute} from 'node:path'
import {FlannelctlError, ExitCode} from '../errors.js'
import {Target, wrapForTarget, targetToString} from './target.js'
import {debug, type Debugger} from '../debug.js'

let runDebug: Debugger | undefined

// execa and its dependencies are ~100 modules, over 100 ms to load: paid by the first program run,
// not by commands that run none (trace over a snapshot directory, help).
let execaModule: Promise<typeof import('execa')> | undefined
const loadExeca = () => (execaModule ??= import('execa'))

export interface Command {
  file: string
  args: string[]
  /** text fed to stdin (batches) */
  input?: string
  /** true when the command changes the host */
  write?: boolean
  /** extra environment (CNI plugins take their arguments this way) */
  env?: Record<string, string>
  /**
   * The same effect without a program run, for a RealRunner whose target sees these paths as this
   * process does (this host, or a namespace that does not remap them): a fork of this process costs
   * milliseconds, reading or writing a small file microseconds. Dry-run and recording runners see
   * the command as usual.
   */
  inProcess?: {paths: string[]; run: () => CommandResult}
}

export interface CommandResult {
  stdout: string
  stderr: string
  exitCode: number
}

export interface Runner {
  readonly target: Target
  run(cmd: Command): Promise<CommandResult>
}

/** The first line of a program's message, for one-line errors. */
export function firstLine(s: string): string {
  return s.trim().split('\n')[0] ?? ''
}

export function commandLine(cmd: Command): string {
  return [cmd.file, ...cmd.args].join(' ')
}

/** Called for every command that runs, so --verbose can show them. */
export type CommandListener = (target: Target, cmd: Command) => void

export interface RealRunnerOptions {
  /**
   * For a long-running agent: after each `ip -batch -` / `bridge -batch -`, start the next one at
   * once, waiting on its stdin, so that the next round's batch does not wait for a fork of this
   * process (milliseconds per 100 MB of heap) and the program's start. See keepReady(). Local and
   * netns targets only.
   */
  batchesReady?: boolean
}

type Started = import('execa').ResultPromise<{stdin: 'pipe'; reject: false; stripFinalNewline: false; env: Record<string, string>}>

export class RealRunner implements Runner {
  /** batch programs started ahead (batchesReady), by their command line */
  private readonly ready = new Map<string, Started>()
  private closed = false

  constructor(readonly target: Target = {kind: 'local'}, private readonly listener?: CommandListener, private readonly options: RealRunnerOptions = {}) {}

  async run(cmd: Command): Promise<CommandResult> {
    this.listener?.(this.target, cmd)
    if (cmd.inProcess && cmd.inProcess.paths.every(path => seesPathAsThisProcess(this.target, path))) return cmd.inProcess.run()
    const {file, args} = wrapForTarget(this.target, cmd.file, cmd.args)
    runDebug ??= debug('run')
    const {execa} = await loadExeca()
    // Not over ssh: a connection that hangs while the program waits would hang the round that uses it.
    const batch = this.options.batchesReady === true && this.target.kind !== 'ssh' && isBatch(cmd)
    const key = batch ? commandLine({file, args}) : ''
    const waiting = batch ? this.ready.get(key) : undefined
    if (waiting) this.ready.delete(key)
    const started = Date.now()
    try {
      // One that ended while waiting (its namespace gone, killed) ran nothing: start afresh.
      const ahead = waiting && waiting.exitCode === null && waiting.stdin.writable ? waiting : undefined
      if (waiting && !ahead) waiting.catch(() => {})
      const subprocess = ahead ?? execa(file, args, {stdin: 'pipe', reject: false, stripFinalNewline: false, env: {LC_ALL: 'C', ...cmd.env}})
      // Written now, not when the event loop next turns (execa's \`input\` option): a caller that
      // goes on with synchronous work (reading the store) would otherwise leave the program
      // waiting for its script. A pipe takes 64 KB at once; the rest follows as the program reads.
      subprocess.stdin.end(cmd.input ?? '')
      const r = await subprocess
      if (runDebug.enabled) {
        runDebug('[%s] %s → exit %s in %d ms, %d bytes out%s%s', targetToString(this.target), commandLine(cmd), r.exitCode, Date.now() - started,
          String(r.stdout).length, ahead ? ' (started ahead)' : '', r.exitCode ? `: ${String(r.stderr).trim().split('\n').slice(-1)[0]}` : '')
      }
      if (r.failed && r.exitCode === undefined) throw Object.assign(new Error(r.message), {code: (r as unknown as {code?: string}).code})
      return {stdout: r.stdout as string, stderr: r.stderr as string, exitCode: r.exitCode ?? 1}
    } catch (error) {
      if ((error as {code?: string}).code === 'ENOENT') throw notInstalled(file, this.target, cmd.file)
      throw error
    } finally {
      if (batch && !this.ready.has(key)) this.keepReady(key, file, args, execa)
    }
  }

  /**
   * Start `file args` now with stdin left open: `ip -batch -` reads its lines only when they come,
   * so it waits without doing anything; ended with no input it exits having done nothing. Started
   * after the caller has its result (setImmediate), off the path from a store event to a converged host.
   */
  private keepReady(key: string, file: string, args: string[], execa: typeof import('execa').execa): void {
    setImmediate(() => {
      if (this.ready.has(key) || this.closed) return
      const subprocess = execa(file, args, {stdin: 'pipe', reject: false, stripFinalNewline: false, env: {LC_ALL: 'C'}})
      subprocess.catch(() => {})
      this.ready.set(key, subprocess)
    })
  }

  /** End the batch programs started ahead: each reads an empty stdin and exits, having changed nothing. */
  async close(): Promise<void> {
    this.closed = true
    const waiting = [...this.ready.values()]
    this.ready.clear()
    for (const subprocess of waiting) subprocess.stdin.end()
    await Promise.allSettled(waiting)
  }
}

/** A program that takes all its work on stdin (`ip -batch -`, `bridge -batch -`, no extra environment): the kind a RealRunner can start ahead. */
function isBatch(cmd: Command): boolean {
  return cmd.input !== undefined && cmd.env === undefined && (cmd.file === 'ip' || cmd.file === 'bridge') && cmd.args.at(-2) === '-batch' && cmd.args.at(-1) === '-'
}

export function notInstalled(file: string, target: Target, needed = file): FlannelctlError {
  return new FlannelctlError(`'${file}' is not installed (needed to run ${needed} on ${targetToString(target)})`,
    'install it (Debian: apt-get install iproute2 iptables procps), or run npm run bootstrap',
    ExitCode.usage)
}

/**
 * `ip netns exec` gives the program a mount namespace of its own in which only /sys (remounted)
 * and, when /etc/netns/NAME exists, files under /etc differ from this process's view.
 */
export function seesPathAsThisProcess(target: Target, path: string): boolean {
  if (target.kind === 'local') return true
  if (target.kind === 'ssh') return false
  if (!isAbsolute(path) || path.startsWith('/sys/') || path.startsWith('/proc/')) return false
  return !path.startsWith('/etc/') || !existsSync(`/etc/netns/${target.name}`)
}

/** Reads go to the inner runner; writes are collected (and shown) instead of run. */
export class DryRunRunner implements Runner {
  readonly planned: Command[] = []
  constructor(private readonly inner: Runner) {}
  get target(): Target {
    return this.inner.target
  }

  async run(cmd: Command): Promise<CommandResult> {
    if (!cmd.write) return this.inner.run(cmd)
    this.planned.push(cmd)
    return {stdout: '', stderr: '', exitCode: 0}
  }
}

export interface Recording {
  command: string
  input?: string
  result: CommandResult
}

/**
 * Records what an inner runner returned, or replays a recording (no inner runner).
 * Replay matches on the command line and input, in order of first unused match.
 */
export class RecordingRunner implements Runner {
  readonly recordings: Recording[]
  private readonly used = new Set<number>()
  constructor(readonly target: Target, private readonly inner?: Runner, recordings: Recording[] = []) {
    this.recordings = recordings
  }

  async run(cmd: Command): Promise<CommandResult> {
    const command = commandLine(cmd)
    if (this.inner) {
      const result = await this.inner.run(cmd)
      this.recordings.push({command, input: cmd.input, result})
      return result
    }
    const i = this.recordings.findIndex((r, idx) => !this.used.has(idx) && r.command === command && (r.input ?? '') === (cmd.input ?? ''))
    if (i < 0) {
      if (cmd.write) {
        this.recordings.push({command, input: cmd.input, result: {stdout: '', stderr: '', exitCode: 0}})
        this.used.add(this.recordings.length - 1)
        return {stdout: '', stderr: '', exitCode: 0}
      }
      throw new Error(`no recording for: ${command}`)
    }
    this.used.add(i)
    return this.recordings[i].result
  }
}

/** Run a program with the terminal attached (lab exec); returns its exit code. */
export async function runAttached(target: Target, file: string, args: string[], env: Record<string, string> = {}): Promise<number> {
  const w = wrapForTarget(target, file, args)
  const {execa} = await loadExeca()
  const r = await execa(w.file, w.args, {stdio: 'inherit', reject: false, env})
  if (r.exitCode === undefined) throw new FlannelctlError(`cannot run ${file}: ${r.message}`, 'check the command name', ExitCode.usage)
  return r.exitCode
}

/**
 * Start a long-running program on the target and leave it running (the lab's etcd).
 * Its output goes to `logFile`; the caller keeps the pid to stop it.
 */
export function spawnDetached(target: Target, file: string, args: string[], logFile: string): number {
  const w = wrapForTarget(target, file, args)
  // Plain file descriptors, not streams: nothing may keep this process's event loop alive.
  const fd = openSync(logFile, 'a')
  try {
    // execa wraps file stdio in streams that keep this process alive; a daemon needs node's bare spawn.
    const child = spawn(w.file, w.args, {detached: true, stdio: ['ignore', fd, fd]})
    child.unref()
    if (child.pid === undefined) throw new FlannelctlError(`cannot start ${file}`, 'check that it is installed (npm run bootstrap)', ExitCode.usage)
    return child.pid
  } finally {
    closeSync(fd)
  }
}
