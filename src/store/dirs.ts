/**
 * Directories for the file store and the state file, and what to tell a person when the file
 * system says no.
 */
import {mkdir, rmdir, stat} from 'node:fs/promises'
import {accessSync, constants, statSync, type Stats} from 'node:fs'
import {dirname, resolve} from 'node:path'
import {errno} from './file-lock.js'

/**
 * `mkdir -p`, one level at a time. Node's recursive mkdir never ends on a file system that
 * answers ENOENT for a directory whose parent exists (/proc: mkdir("/proc/x") is ENOENT, so it
 * climbs to the parent, finds it there and tries again, forever). Here every level is tried once.
 */
export async function makeDirs(path: string, mode: number): Promise<string[]> {
  const missing: string[] = []
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    const st = await stat(dir).catch((e: unknown) => {
      if (errno(e) === 'ENOENT') return undefined
      throw e
    })
    if (st) {
      if (!st.isDirectory()) throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${dir}'`), {code: 'ENOTDIR', path: dir})
      break
    }
    missing.push(dir)
    if (dirname(dir) === dir) break
  }
  const made: string[] = []
  for (const dir of missing.reverse()) {
    await mkdir(dir, {mode}).then(() => made.push(dir), (e: unknown) => {
      // made by someone else meanwhile
      if (errno(e) !== 'EEXIST') throw e
    })
  }
  return made
}

/** Take back directories makeDirs made (its answer), deepest first, each only while it is empty. */
export async function removeEmptyDirs(made: string[]): Promise<void> {
  for (const dir of [...made].reverse()) {
    if (!await rmdir(dir).then(() => true, () => false)) return
  }
}

const REASONS: Record<string, string> = {
  ENOTDIR: 'not a directory',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EIO: 'input/output error',
  EISDIR: 'is a directory',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'file name too long',
}

/** A failed fs call as a person reads it: what went wrong and on which path, without Node's decoration. */
export function fsProblem(e: unknown): string | undefined {
  const reason = fsReason(e)
  const path = (e as NodeJS.ErrnoException).path
  return reason === undefined ? undefined : `${reason}${path ? `: ${path}` : ''}`
}

/** fsProblem without the path, for a message that names it already. */
export function fsReason(e: unknown): string | undefined {
  const code = errno(e)
  if (code === undefined) return undefined
  const err = e as NodeJS.ErrnoException
  // ENOENT from mkdir whose parent exists: the file system refuses directories there (/proc, /sys)
  if (code === 'ENOENT' && err.syscall === 'mkdir') return 'cannot create a directory there'
  return REASONS[code] ?? /^[A-Z]+: ([^,]+)/.exec(err.message)?.[1] ?? err.message
}

/**
 * Why a file could not be written at `path` (its directories made as needed), or undefined: the
 * nearest existing ancestor must be a writable directory outside /proc and /sys, and the path
 * itself no directory. Checked before a host is changed, so that a mistyped --subnet-file or
 * --cni-conf-dir is bad input and not a half-built host. `permissions: false` leaves out whether
 * this user may write there (a dry run as non-root only shows the plan).
 */
export async function writableFileProblem(path: string, o: {permissions?: boolean} = {}): Promise<string | undefined> {
  const file = resolve(path)
  // synchronous: every sync and every agent round asks this of two paths, and a hop through libuv's
  // thread pool per stat cost a round more than the system calls do (as for the state lock)
  const problemOf = (e: unknown) => fsProblem(e) ?? (e as Error).message
  for (let dir = file; ; dir = dirname(dir)) {
    let st: Stats | undefined
    try {
      st = statSync(dir)
    } catch (error) {
      // ENOTDIR: a file further up is in the way, named when the walk reaches it
      if (errno(error) !== 'ENOENT' && errno(error) !== 'ENOTDIR') return problemOf(error)
    }
    if (st) {
      if (dir === file) return st.isDirectory() ? `is a directory: ${file}` : undefined
      if (!st.isDirectory()) return `not a directory: ${dir}`
      if (/^\/(proc|sys)(\/|$)/.test(dir)) return `cannot create files there: ${dir}`
      if (o.permissions === false) return undefined
      try {
        accessSync(dir, constants.W_OK)
        return undefined
      } catch (error) {
        return problemOf(error)
      }
    }
    if (dirname(dir) === dir) return undefined
  }
}
