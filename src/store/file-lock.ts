/**
 * A lock file for read-modify-write on a store shared by processes of one machine (lab hosts share
 * one filesystem). Created with O_EXCL, it holds the owner's pid, host and start time. A lock whose
 * process is gone, or that is older than `staleMs`, is stolen: a crashed flannelctl must not wedge
 * every later run.
 *
 * Stealing is itself guarded by a second O_EXCL file and re-checks that the lock is still the one
 * judged stale, so two processes that both see a stale lock cannot remove each other's fresh one.
 */
import {open, readFile, stat, unlink} from 'node:fs/promises'
import {closeSync, openSync, readFileSync, unlinkSync, writeFileSync} from 'node:fs'
import {hostname} from 'node:os'
import {randomUUID} from 'node:crypto'
import {FlannelctlError, ExitCode} from '../errors.js'

export interface LockOptions {
  /** a lock older than this is stolen even when its process lives; default 30 s */
  staleMs?: number
  /** give up waiting after this long; default 60 s */
  timeoutMs?: number
  /** what the lock guards, for the error when it stays taken; default "the store" */
  what?: string
}

interface LockOwner {
  pid: number
  host: string
  time: number
  token: string
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** The errno code of a failed fs call (ENOENT, EEXIST, ...). */
export function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException)?.code
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return errno(e) === 'EPERM'
  }
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const o = JSON.parse(text)
    return typeof o?.pid === 'number' && typeof o?.time === 'number' ? o : undefined
  } catch {
    return undefined
  }
}

export async function withFileLock<T>(lockPath: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const owner = await acquire(lockPath, opts.staleMs ?? 30_000, opts.timeoutMs ?? 60_000, opts.what ?? 'the store')
  try {
    return await fn()
  } finally {
    await release(lockPath, owner)
  }
}

async function acquire(lockPath: string, staleMs: number, timeoutMs: number, what: string): Promise<LockOwner> {
  const started = Date.now()
  const owner: LockOwner = {pid: process.pid, host: hostname(), time: 0, token: randomUUID()}
  for (;;) {
    owner.time = Date.now()
    // Synchronous: three small calls, where the promise API would queue each through libuv's
    // thread pool (an agent takes this lock on every round).
    try {
      const fd = openSync(lockPath, 'wx', 0o644)
      try {
        writeFileSync(fd, JSON.stringify(owner))
      } finally {
        closeSync(fd)
      }
      return owner
    } catch (e) {
      if (errno(e) !== 'EEXIST') throw e
    }
    const held = await readHolder(lockPath)
    if (held && isStale(held, staleMs)) {
      await steal(lockPath, held, staleMs)
      continue
    }
    if (Date.now() - started > timeoutMs) {
      const who = held?.owner ? `pid ${held.owner.pid} on ${held.owner.host} since ${new Date(held.owner.time).toISOString()}` : 'another process'
      throw new FlannelctlError(`${what} is locked by ${who}: ${lockPath}`,
        `if no flannelctl is running, remove ${lockPath}`, ExitCode.failed)
    }
    await sleep(5 + Math.random() * 20)
  }
}

interface Holder {
  text: string
  ino: number
  mtimeMs: number
  owner?: LockOwner
}

async function readHolder(lockPath: string): Promise<Holder | undefined> {
  try {
    const [text, st] = await Promise.all([readFile(lockPath, 'utf8'), stat(lockPath)])
    return {text, ino: st.ino, mtimeMs: st.mtimeMs, owner: parseOwner(text)}
  } catch (e) {
    if (errno(e) === 'ENOENT') return undefined
    throw e
  }
}

function isStale(held: Holder, staleMs: number): boolean {
  // A lock without readable content is being written right now, unless it has been so for long.
  const since = held.owner?.time ?? held.mtimeMs
  if (Date.now() - since > staleMs) return true
  return held.owner !== undefined && held.owner.host === hostname() && !processAlive(held.owner.pid)
}

async function steal(lockPath: string, judged: Holder, staleMs: number): Promise<void> {
  const guard = `${lockPath}.steal`
  let fh
  try {
    fh = await open(guard, 'wx')
  } catch (e) {
    if (errno(e) !== 'EEXIST') throw e
    // someone else is stealing; a guard left by a crash mid-steal is removed once old
    const st = await stat(guard).catch(() => undefined)
    if (st && Date.now() - st.mtimeMs > staleMs) await unlink(guard).catch(() => {})
    await sleep(5)
    return
  }
  try {
    const now = await readHolder(lockPath)
    if (now && now.text === judged.text && now.ino === judged.ino) await unlink(lockPath).catch(() => {})
  } finally {
    await fh.close()
    await unlink(guard).catch(() => {})
  }
}

async function release(lockPath: string, owner: LockOwner): Promise<void> {
  let text: string
  try {
    text = readFileSync(lockPath, 'utf8')
  } catch {
    return
  }
  // Our lock may have been stolen after 30 s; then it is someone else's now and stays.
  if (parseOwner(text)?.token === owner.token) {
    try {
      unlinkSync(lockPath)
    } catch {}
  }
}

export interface PidFileHolder {
  pid: number
  since: string
}

/**
 * A file naming the process that plays a role for its whole life (the agent of one host). Unlike
 * the lock above it is never waited for: the caller learns whether another live process holds the
 * role (same host, its pid alive and its command line still naming `marks`, so a recycled pid does
 * not count) and the file is then left to it; otherwise this process takes it, and the file goes
 * when this process exits. One left by a process killed with SIGKILL is taken over. `claimed` is
 * false when the file could not be made (its directory does not exist yet): the caller may try again.
 */
export function claimPidFile(path: string, marks: string[]): {claimed: boolean; holder?: PidFileHolder} {
  for (let attempt = 1; attempt <= 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644)
      const token = randomUUID()
      try {
        writeFileSync(fd, JSON.stringify({pid: process.pid, host: hostname(), time: Date.now(), token}))
      } finally {
        closeSync(fd)
      }
      process.once('exit', () => {
        try {
          if (parseOwner(readFileSync(path, 'utf8'))?.token === token) unlinkSync(path)
        } catch {}
      })
      return {claimed: true}
    } catch (e) {
      // no directory yet, or one this process cannot write: nobody holds the role, nor do we
      if (errno(e) !== 'EEXIST') return {claimed: false}
    }
    let owner: LockOwner | undefined
    try {
      owner = parseOwner(readFileSync(path, 'utf8'))
    } catch {}
    if (owner && owner.host === hostname() && owner.pid !== process.pid && runs(owner.pid, marks)) {
      return {claimed: false, holder: {pid: owner.pid, since: new Date(owner.time).toISOString()}}
    }
    try {
      unlinkSync(path)
    } catch {}
  }
  return {claimed: false}
}

function runs(pid: number, marks: string[]): boolean {
  if (!processAlive(pid)) return false
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    return marks.every(m => args.includes(m))
  } catch {
    // no /proc to ask: a live pid is taken at its word
    return true
  }
}
