/**
 * The only place flannelctl runs programs. A Runner is real, dry-run (reads run, writes are printed)
 * or recording (tests replay what a real host printed).
 */
import {spawn, type ChildProcessWithoutNullStreams} from 'node:child_process'
import {openSync, closeSync, existsSync, readFileSync, statSync, accessSync, constants as fsConstants} from 'node:fs'
import {isAbsolute, join, resolve} from 'node:path'
import {constants as osConstants} from 'node:os'
import {FlannelctlError, ExitCode, isUserError} from '../errors.js'
import {Target, wrapForTarget, targetToString} from './target.js'
import {debug, type Debugger} from '../debug.js'
import {signalExitCode} from './stop-signals.js'
import {FrameReader, fitsHereDocument, frameEnd, framedScript, newMarker} from './shell-script.js'

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
  /**
   * For `sh -s` whose input is a framed script (shell-script.ts: every program reads a
   * here-document or /dev/null, nothing else is run): a RealRunner's shell session runs the script
   * itself instead of starting another shell for it.
   */
  framedScript?: boolean
  /** a framed script's programs, in order, as --verbose shows them instead of the script (programLine) */
  programs?: string[]
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
  /**
   * For a command that runs several programs in turn (a one-shot sync: the host read, then a batch
   * or two): run them through one shell started on the target by the first (ShellSession), so that
   * each later program costs a fork of that small shell instead of one of this process. Local and
   * netns targets only.
   */
  shellSession?: boolean
}

type Started = import('execa').ResultPromise<{stdin: 'pipe'; reject: false; stripFinalNewline: false; env: Record<string, string>}>

export class RealRunner implements Runner {
  /** batch programs started ahead (batchesReady), by their command line */
  private readonly ready = new Map<string, Started[]>()
  /** batch runs not finished yet */
  private batchesRunning = 0
  /** the batch programs run since no batch last ran, and how often each: as many are started ahead */
  private readonly runSinceIdle = new Map<string, {file: string; args: string[]; runs: number}>()
  private closed = false
  private session?: ShellSession
  private sessionRefused = false

  constructor(readonly target: Target = {kind: 'local'}, private readonly listener?: CommandListener, private readonly options: RealRunnerOptions = {}) {}

  async run(cmd: Command): Promise<CommandResult> {
    this.listener?.(this.target, cmd)
    if (cmd.inProcess && cmd.inProcess.paths.every(path => seesPathAsThisProcess(this.target, path))) return cmd.inProcess.run()
    runDebug ??= debug('run')
    const session = this.sessionFor(cmd)
    if (session) {
      const started = Date.now()
      const r = await session.run(cmd)
      if (r !== undefined) {
        logRun(this.target, cmd, r, started, ' (shell session)')
        return r
      }
    }
    const {file, args} = wrapForTarget(this.target, cmd.file, cmd.args)
    const {execa} = await loadExeca()
    // Not over ssh: a connection that hangs while the program waits would hang the round that uses it.
    const batch = this.options.batchesReady === true && this.target.kind !== 'ssh' && isBatch(cmd)
    const key = batch ? commandLine({file, args}) : ''
    const waiting = batch ? this.ready.get(key)?.shift() : undefined
    const started = Date.now()
    if (batch) {
      this.batchesRunning++
      const run = this.runSinceIdle.get(key)
      if (run) run.runs++
      else this.runSinceIdle.set(key, {file, args, runs: 1})
    }
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
      if (r.failed && r.exitCode === undefined && r.signal) throw stoppedBySignal(r.signal as NodeJS.Signals, cmd, this.target)
      if (r.failed && r.exitCode === undefined) throw Object.assign(new Error(r.message), {code: (r as unknown as {code?: string}).code})
      const result = {stdout: r.stdout as string, stderr: r.stderr as string, exitCode: r.exitCode ?? 1}
      logRun(this.target, cmd, result, started, ahead ? ' (started ahead)' : '')
      return result
    } catch (error) {
      if ((error as {code?: string}).code === 'ENOENT') throw notInstalled(file, this.target, cmd.file)
      throw error
    } finally {
      if (batch) {
        this.batchesRunning--
        this.keepReady(execa)
      }
    }
  }

  /**
   * Start the batch programs run since no batch last ran, each as often as it ran, with stdin left
   * open: `ip -batch -` reads its lines only when they come, so it waits without doing anything;
   * ended with no input it exits having done nothing. Started after the caller has its result
   * (setImmediate) and once no batch runs: a vxlan round runs `ip`, `bridge`, `ip`, and one
   * program started ahead per command line was replaced while the next batch ran, a fork of this
   * process (4–10 ms of its thread) inside the round; two `ip` started after it take none.
   */
  private keepReady(execa: typeof import('execa').execa): void {
    setImmediate(() => {
      // the batch running now starts them when it ends
      if (this.batchesRunning > 0 || this.closed) return
      for (const [key, {file, args, runs}] of this.runSinceIdle) {
        const list = this.ready.get(key) ?? []
        while (list.length < runs) {
          const subprocess = execa(file, args, {stdin: 'pipe', reject: false, stripFinalNewline: false, env: {LC_ALL: 'C'}})
          subprocess.catch(() => {})
          list.push(subprocess)
        }
        this.ready.set(key, list)
      }
      this.runSinceIdle.clear()
    })
  }

  /**
   * The shell session to run `cmd` in, started now if there is none yet; undefined when the
   * command needs a run of its own: its own environment, an ssh target, or the session busy with
   * another command (an input that cannot be a here-document: see ShellSession.run).
   */
  private sessionFor(cmd: Command): ShellSession | undefined {
    if (this.options.shellSession !== true || this.closed || this.target.kind === 'ssh' || cmd.env !== undefined) return undefined
    // the session's shell sees this process's /sys (sessionShell), a namespace's own is mounted by ip netns exec
    if (this.target.kind === 'netns' && cmd.args.some(a => a.startsWith('/sys/') || a === '/sys')) return undefined
    if (this.session?.ended) {
      // One that could not start (no sh, no namespace) is not tried again: each try costs a fork.
      this.sessionRefused = !this.session.started
      this.session = undefined
    }
    if (this.sessionRefused) return undefined
    if (this.session?.busy) return undefined
    this.session ??= new ShellSession(this.target)
    return this.session
  }

  /** End the batch programs started ahead and the shell session: each reads an empty stdin and exits, having changed nothing. */
  async close(): Promise<void> {
    this.closed = true
    const waiting = [...this.ready.values()].flat()
    this.ready.clear()
    for (const subprocess of waiting) subprocess.stdin.end()
    await Promise.allSettled([...waiting, this.session?.end()])
  }
}

function logRun(target: Target, cmd: Command, r: CommandResult, started: number, how: string): void {
  if (!runDebug?.enabled) return
  runDebug('[%s] %s → exit %s in %d ms, %d bytes out%s%s', targetToString(target), commandLine(cmd), r.exitCode, Date.now() - started,
    r.stdout.length, how, r.exitCode ? `: ${r.stderr.trim().split('\n').slice(-1)[0]}` : '')
}

/**
 * One `sh -s` on the target that runs programs as they come, framed as shell-script.ts says: a
 * program run through it costs a fork of that shell, not one of this process (milliseconds per
 * 100 MB of heap). One program at a time. Between programs its handles do not keep this process
 * alive; when this process ends, the shell reads the end of its stdin and exits.
 *
 * Node's spawn, not execa: execa's result is for programs that end, this one waits for more.
 */
class ShellSession {
  private readonly child: ChildProcessWithoutNullStreams
  /** what came that no program has taken yet: the start line, or anything printed after a frame */
  private stdout = ''
  private stderr = ''
  /** the shell printed its first line: from then on, programs written to it may have run */
  started = false
  private running?: {cmd: Command; output: FrameReader; done: (r: CommandResult | undefined) => void; fail: (e: Error) => void}
  ended = false

  constructor(private readonly target: Target) {
    const {file, args} = sessionShell(target)
    this.child = spawn(file, args, {env: {...process.env, LC_ALL: 'C'}})
    this.child.stdout.setEncoding('utf8')
    this.child.stderr.setEncoding('utf8')
    this.child.stdout.on('data', (text: string) => {
      if (this.running && this.started) this.running.output.addStdout(text)
      else this.stdout += text
      this.heard()
    })
    this.child.stderr.on('data', (text: string) => {
      if (this.running && this.started) this.running.output.addStderr(text)
      else this.stderr += text
      this.heard()
    })
    // a shell that died: what it left unsaid is reported by 'close' (or, when it never started, 'error')
    this.child.stdin.on('error', () => {})
    this.child.on('error', () => this.closed())
    this.child.on('close', () => this.closed())
    this.child.stdin.write('echo\n')
    this.idle()
  }

  get busy(): boolean {
    return this.running !== undefined
  }

  /**
   * The program's result; undefined when nothing ran and the caller runs it by itself: its input
   * cannot be a here-document (ip/bridge batches, restores and reads all end with a newline), or
   * the shell could not be started (the fresh run then gives that error).
   */
  run(cmd: Command): Promise<CommandResult | undefined> {
    const marker = newMarker()
    if (cmd.input !== undefined && !fitsHereDocument(cmd.input, marker)) return Promise.resolve(undefined)
    return new Promise<CommandResult | undefined>((done, fail) => {
      this.running = {cmd, output: new FrameReader(marker), done, fail}
      this.takeWaiting()
      this.held()
      const inline = cmd.framedScript === true && cmd.file === 'sh' && cmd.args.length === 1 && cmd.args[0] === '-s'
      this.child.stdin.write(inline ? `${cmd.input}${frameEnd(marker)}` : framedScript(marker, [{words: [cmd.file, ...cmd.args], input: cmd.input}]))
    }).then(r => {
      // what the shell says when it finds no such program (dash: "sh: 1: NAME: not found")
      if (r?.exitCode === 127 && r.stderr.endsWith(`: ${cmd.file}: not found\n`)) throw notInstalled(cmd.file, this.target)
      return r
    })
  }

  /** End the shell: it reads the end of its stdin and exits. */
  end(): Promise<void> {
    if (this.ended) return Promise.resolve()
    return new Promise(resolve => {
      this.child.once('close', () => resolve())
      this.held()
      this.child.stdin.end()
    })
  }

  private heard(): void {
    if (!this.started) {
      const nl = this.stdout.indexOf('\n')
      if (nl < 0) return
      this.started = true
      this.stdout = this.stdout.slice(nl + 1)
      this.takeWaiting()
    }
    const running = this.running
    if (!running) return
    const frame = running.output.take()
    if (!frame) return
    this.stdout = frame.stdout
    this.stderr = frame.stderr
    this.running = undefined
    this.idle()
    running.done(frame.result)
  }

  /** Once started, what came and no program took is the running program's. */
  private takeWaiting(): void {
    if (!this.running || !this.started) return
    this.running.output.addStdout(this.stdout)
    this.running.output.addStderr(this.stderr)
    this.stdout = ''
    this.stderr = ''
  }

  private closed(): void {
    this.ended = true
    const running = this.running
    this.running = undefined
    if (!running) return
    if (!this.started) running.done(undefined)
    else running.fail(new FlannelctlError(`the shell that ran ${commandLine(running.cmd)} on ${targetToString(this.target)} ended before the program did`,
      'run the command again (every step is idempotent)', ExitCode.failed))
  }

  /** Between programs nothing here keeps this process alive. */
  private idle(): void {
    this.child.unref()
    for (const s of this.pipes()) s.unref?.()
  }

  /** While a program runs (or the shell ends), this process waits for it. */
  private held(): void {
    this.child.ref()
    for (const s of this.pipes()) s.ref?.()
  }

  private pipes(): {ref?: () => void; unref?: () => void}[] {
    return [this.child.stdin, this.child.stdout, this.child.stderr] as unknown as {ref?: () => void; unref?: () => void}[]
  }
}

/**
 * The session's shell on its target. A namespace is entered by `nsenter --net`, not `ip netns
 * exec`, which also unshares a mount namespace and mounts the namespace's sysfs over /sys (a few
 * tenths of a millisecond more on every start, ~1.8 ms under load). What runs in the session
 * needs neither: ip, bridge, the iptables saves and restores and nft speak netlink, sysctl and the
 * read script's sysctls use /proc/sys/net (the namespace's, whatever the mounts), the file
 * writes and reads see the paths this process sees; a command naming a /sys path is run by itself
 * (sessionFor). Where /etc/netns/NAME exists, ip netns exec also puts its files over /etc, and
 * where nsenter is missing there is nothing else: ip netns exec then.
 */
function sessionShell(target: Target): {file: string; args: string[]} {
  if (target.kind === 'netns' && !existsSync(`/etc/netns/${target.name}`) && cannotStart({kind: 'local'}, 'nsenter', process.env.PATH ?? '') === undefined) {
    return {file: 'nsenter', args: [`--net=/run/netns/${target.name}`, 'sh', '-s']}
  }
  return wrapForTarget(target, 'sh', ['-s'])
}

/** A program that takes all its work on stdin (`ip -batch -`, `bridge -batch -`, no extra environment): the kind a RealRunner can start ahead. */
function isBatch(cmd: Command): boolean {
  return cmd.input !== undefined && cmd.env === undefined && (cmd.file === 'ip' || cmd.file === 'bridge') && cmd.args.at(-2) === '-batch' && cmd.args.at(-1) === '-'
}

/**
 * A program ended by a signal. Ctrl-C on a terminal reaches the whole foreground process group,
 * so the programs flannelctl runs get it too: exit as the shell reports Ctrl-C (130) or SIGTERM
 * (143), as the commands that catch them do; any other signal (the OOM killer, a kill -9) is a
 * program that failed.
 */
export function stoppedBySignal(signal: NodeJS.Signals, cmd: Command, target: Target): FlannelctlError {
  const interrupted = signal === 'SIGINT' || signal === 'SIGTERM'
  return new FlannelctlError(`${commandLine(cmd)} on ${targetToString(target)} was stopped by ${signal}${signal === 'SIGINT' ? ' (Ctrl-C)' : ''}`,
    interrupted ? 'nothing after this program ran; run the same command again to go on from what is there now (it says what is in the way, if anything)' : 'check what killed it (dmesg for the OOM killer), then run the same command again',
    interrupted ? signalExitCode(signal) : ExitCode.failed)
}

export function notInstalled(file: string, target: Target, needed = file): FlannelctlError {
  return new FlannelctlError(`'${file}' is not installed (needed to run ${needed} on ${targetToString(target)})`,
    'install it (Debian: apt-get install iproute2 iptables procps), or run npm run bootstrap',
    ExitCode.usage, 'NOT_INSTALLED')
}

export function isNotInstalled(error: unknown): boolean {
  return isUserError(error) && error.reason === 'NOT_INSTALLED'
}

/**
 * `ip netns exec` gives the program a mount namespace of its own in which only /sys (remounted)
 * and, when /etc/netns/NAME exists, files under /etc differ from this process's view. A shell
 * session's `nsenter --net` (only where /etc/netns/NAME does not exist) keeps this process's mounts,
 * so /etc is the same there too, and /sys, its view of the root namespace, is never read through it.
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
  const unstartable = cannotStart(target, file, env.PATH ?? process.env.PATH ?? '')
  if (unstartable) throw unstartable
  const w = wrapForTarget(target, file, args)
  const {execa} = await loadExeca()
  const child = execa(w.file, w.args, {stdio: 'inherit', reject: false, env, cleanup: false})
  // As a shell does while a foreground program runs: Ctrl-C at the terminal reaches the program too
  // (it decides how to stop, e.g. migrate between steps), so this process waits for it; passing it on
  // would be a second Ctrl-C, which stops at once. A SIGINT sent to this process alone (a script's
  // kill -INT, timeout -s INT, no terminal) and a SIGTERM are passed on.
  const passOn = (signal: NodeJS.Signals) => child.kill(signal)
  const onInterrupt = (signal: NodeJS.Signals) => {
    if (!inTerminalForeground()) passOn(signal)
  }
  process.on('SIGINT', onInterrupt)
  process.on('SIGTERM', passOn)
  let r: Awaited<typeof child>
  try {
    r = await child
  } finally {
    process.off('SIGINT', onInterrupt)
    process.off('SIGTERM', passOn)
  }
  // Ended by a signal (Ctrl-C, a kill): exit as a shell reports it, 128 + the signal's number.
  if (r.exitCode === undefined && r.signal) return 128 + (osConstants.signals[r.signal as NodeJS.Signals] ?? 0)
  if (r.exitCode === undefined) throw new FlannelctlError(`cannot run ${file}: ${r.message}`, 'check the command name', ExitCode.usage)
  return r.exitCode
}

/**
 * A program the target cannot start, answered as a shell does: 127 when PATH has no such program,
 * 126 when it is there but cannot be run. `ip netns exec` alone says `exec of "X" failed` and exits
 * 1, which reads as the program's own failure. Only where this process sees the files the target
 * would run (not over ssh, not a path the namespace's mount namespace changes); elsewhere the
 * program is left to fail as it does.
 */
export function cannotStart(target: Target, file: string, searchPath: string): FlannelctlError | undefined {
  if (target.kind === 'ssh') return undefined
  const candidates = file.includes('/') ? [resolve(file)] : searchPath.split(':').map(dir => resolve(join(dir || '.', file)))
  if (candidates.some(path => !seesPathAsThisProcess(target, path))) return undefined
  let notRunnable: string | undefined
  for (const path of candidates) {
    try {
      // no exception for a PATH directory without it (most of them): ~15 µs a search, not ~200
      const found = statSync(path, {throwIfNoEntry: false})
      if (found === undefined) continue
      if (!found.isFile()) {
        notRunnable ??= path
        continue
      }
      accessSync(path, fsConstants.X_OK)
      return undefined
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') notRunnable ??= path
    }
  }
  const where = targetToString(target)
  if (notRunnable !== undefined) {
    return new FlannelctlError(`${file}: cannot run ${notRunnable} on ${where}: not an executable file`,
      `make it executable (chmod +x ${notRunnable}) or name another program`, exitCannotRun)
  }
  return new FlannelctlError(file.includes('/') ? `${file}: no such file on ${where}` : `${file}: command not found on ${where}`,
    file.includes('/') ? 'check the path' : 'check its name, or give its full path: it is looked up in the PATH of the shell you run flannelctl from', exitNotFound)
}

/** A shell's exit codes for a command it could not find (127) or could not run (126). */
const exitNotFound = 127
const exitCannotRun = 126

/**
 * Whether this process is in its terminal's foreground process group, the one a Ctrl-C there reaches
 * as a whole (/proc/self/stat: pgrp and tpgid, the terminal's foreground group, -1 without one).
 */
function inTerminalForeground(): boolean {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8')
    // after "pid (comm) ": state ppid pgrp session tty_nr tpgid; comm may hold spaces and parentheses
    const [, , pgrp, , , tpgid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(tpgid) > 0 && tpgid === pgrp
  } catch {
    return false
  }
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
