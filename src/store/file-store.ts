/**
 * The embedded store: flannel's etcd keys as files under one directory.
 *   DIR/coreos.com/network/config
 *   DIR/coreos.com/network/subnets/10.244.1.0-24
 * A lease file holds exactly the value flanneld would put in etcd; its lifetime is kept outside the
 * value, as etcd does: the lease expires 24 h after the file's mtime, and renewing is a touch.
 * flannelctl's own keys (getMeta/putMeta) are files in DIR/coreos.com/network/flannelctl/.
 * Read-modify-write happens under DIR/flannelctl.lock; every write is temp file + rename, so a
 * reader never sees half a file.
 */
import {readFile, rename, stat, unlink, utimes, writeFile} from 'node:fs/promises'
import {closeSync, existsSync, fstatSync, statSync, openSync, readdirSync, readFileSync, readSync, watch as fsWatch, type FSWatcher} from 'node:fs'
import {basename, dirname, join, resolve} from 'node:path'
import {randomBytes} from 'node:crypto'
import {parseNetConf, type NetConf} from '../core/netconf.js'
import {pickSubnet} from '../core/ipam.js'
import {withFileLock, errno, type LockOptions} from './file-lock.js'
import {makeDirs, fsProblem, writableFileProblem} from './dirs.js'
import {FlannelctlError, ExitCode, isUserError} from '../errors.js'
import {
  checkMetaKey, classifyEntries, EntryClassifier, noNetworkConfigError, heldBy, heldLeaseIsCurrent, heldLeaseWanted, keyOfSubnet, leaseFromJson, leaseLostError, leaseToJson, LEASE_TTL_SECONDS, networkOfConfig, subnetOfKey, takenSubnets,
  type AcquireRequest, type Lease, type LeaseList, type RawEntry, type Store,
} from './store.js'

export interface FileStoreOptions {
  /** clock in ms, for tests */
  now?: () => number
  lock?: LockOptions
}

const TTL_MS = LEASE_TTL_SECONDS * 1000
/**
 * Whatever the process umask: a lease file anyone could write would let any local user add routes
 * on every node. Nothing in the store is secret, so others may read.
 */
const FILE_MODE = 0o644
const DIR_MODE = 0o755

const LEASE_BUFFER = Buffer.alloc(16 * 1024)
/** lease files read between two turns of the event loop (readEntriesSliced) */
const READ_SLICE = 100

/** One lease file: its value and lifetime from the same open file; undefined when gone or not a file. */
function readEntrySync(path: string, key: string): RawEntry | undefined {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (e) {
    // released while we were reading
    if (errno(e) === 'ENOENT') return undefined
    throw e
  }
  try {
    const st = fstatSync(fd)
    if (!st.isFile()) return undefined
    // one read into a reused buffer: a lease value is a few hundred bytes (readFileSync would fstat again)
    const n = st.size < LEASE_BUFFER.length ? readSync(fd, LEASE_BUFFER, 0, LEASE_BUFFER.length, 0) : -1
    const value = n >= 0 && n < LEASE_BUFFER.length ? LEASE_BUFFER.toString('utf8', 0, n) : readFileSync(fd, 'utf8')
    return {key, value, expiresAtMs: st.mtimeMs + TTL_MS}
  } catch (e) {
    if (errno(e) === 'EISDIR') return undefined
    throw e
  } finally {
    closeSync(fd)
  }
}

/** Lease files as last read, and the names the watch saw change since ('all': read them all again). */
interface WatchedEntries {
  entries?: Map<string, RawEntry>
  dirty: Set<string> | 'all'
  /** what each of those entries read as, kept while the entry object is */
  classifier: EntryClassifier
}

/**
 * The file store DIR lies inside when DIR is its coreos.com/network or coreos.com directory and
 * not a store itself: the store's own directory is the one given to --store.
 */
export function enclosingStore(dir: string): string | undefined {
  const abs = resolve(dir)
  if (existsSync(join(abs, 'coreos.com', 'network'))) return undefined
  const holdsNetwork = (d: string) => existsSync(join(d, 'config')) || existsSync(join(d, 'subnets'))
  if (basename(abs) === 'network' && basename(dirname(abs)) === 'coreos.com' && holdsNetwork(abs)) return dirname(dirname(abs))
  if (basename(abs) === 'coreos.com' && holdsNetwork(join(abs, 'network'))) return dirname(abs)
  return undefined
}

export class FileStore implements Store {
  readonly dir: string
  private readonly now: () => number
  private readonly lockOptions: LockOptions
  private readonly stoppers = new Set<() => void>()
  /** the lease files as the running watch() keeps track of them (listLeases({fromWatch})) */
  private watched?: WatchedEntries

  constructor(dir: string, opts: FileStoreOptions = {}) {
    this.dir = resolve(dir)
    this.now = opts.now ?? Date.now
    this.lockOptions = opts.lock ?? {}
  }

  get networkDir(): string {
    return join(this.dir, 'coreos.com', 'network')
  }

  get configPath(): string {
    return join(this.networkDir, 'config')
  }

  get subnetsDir(): string {
    return join(this.networkDir, 'subnets')
  }

  get metaDir(): string {
    return join(this.networkDir, 'flannelctl')
  }

  get lockPath(): string {
    return join(this.dir, 'flannelctl.lock')
  }

  describe(): string {
    return `file:${this.dir}`
  }

  configLocation(): string {
    return `the file ${this.configPath}`
  }

  async absence(): Promise<string | undefined> {
    try {
      statSync(this.dir)
      return undefined
    } catch (e) {
      // anything but "not there" (a file in the path, no permission) is the store's to report as unusable
      return errno(e) === 'ENOENT' ? `${this.dir} does not exist` : undefined
    }
  }

  async checkConfigWritable(): Promise<void> {
    const problem = await writableFileProblem(this.configPath)
    if (problem !== undefined) throw this.notUsable(problem)
  }

  async getConfig(): Promise<string | undefined> {
    return this.usable(async () => {
      try {
        // small local files, read on every round: synchronous, not through libuv's thread pool
        return readFileSync(this.configPath, 'utf8')
      } catch (e) {
        if (errno(e) === 'ENOENT') return undefined
        throw e
      }
    })
  }

  async putConfig(json: string, {ifAbsent = false} = {}): Promise<boolean> {
    return this.usable(async () => {
      parseNetConf(json)
      const path = this.configPath
      const write = async () => {
        if (ifAbsent && existsSync(path)) return false
        await makeDirs(this.networkDir, DIR_MODE)
        await this.writeAtomic(path, json)
        return true
      }
      return ifAbsent ? this.locked(write) : write()
    })
  }

  async listLeases({fromWatch = false, network: given, config}: {fromWatch?: boolean; network?: string; config?: Promise<string | undefined>} = {}): Promise<LeaseList> {
    return this.usable(async () => {
      const network = given ?? networkOfConfig(await (config ?? this.getConfig()))
      const w = this.watched
      return w ? w.classifier.classify(await this.entriesFromWatch(w, fromWatch), network, this.now()) : classifyEntries(await this.readEntriesSliced(), network, this.now())
    })
  }

  /**
   * The lease files as last read, with those the watch saw change read again: at 1000 leases a
   * store event then costs a few file reads instead of a thousand. The first call, one after an
   * event without a name, and every call that does not trust the watch read them all.
   */
  private async entriesFromWatch(w: WatchedEntries, trustWatch: boolean): Promise<RawEntry[]> {
    // A full read also heals what the watch may have missed (events dropped, the directory recreated).
    if (!trustWatch || w.entries === undefined || w.dirty === 'all') {
      w.dirty = new Set()
      const entries = await this.readEntriesSliced()
      // the watch may have seen changes meanwhile: those files are read again next time
      w.entries = new Map(entries.map(e => [e.key, e]))
    } else {
      const dir = this.subnetsDir
      for (const key of w.dirty) {
        // A known name that changed is often a removal, where a failed open costs an exception:
        // look first. A new name is a new lease: open it at once.
        const path = `${dir}/${key}`
        const entry = !w.entries.has(key) || existsSync(path) ? readEntrySync(path, key) : undefined
        if (entry) w.entries.set(key, entry)
        else w.entries.delete(key)
      }
      w.dirty.clear()
    }
    return [...w.entries.values()]
  }

  async acquireLease(nc: NetConf, req: AcquireRequest): Promise<Lease> {
    return this.usable(async () => {
      // Reading needs no lock (every write is a rename): a held lease that is current is the common case.
      const current = this.readHeld(nc, req, this.now())
      if (current?.current) return current.lease
      return this.locked(async () => {
        // As the etcd store does: a lease is written only while the network config is there (a
        // store directory emptied, or its config removed, after this round read the config).
        if (!existsSync(this.configPath)) throw noNetworkConfigError(this.describe())
        const nowMs = this.now()
        const held = this.readHeld(nc, req, nowMs)
        if (held?.current) return held.lease
        if (held) {
          await this.writeAtomic(this.leasePath(held.lease.subnet), leaseToJson(held.lease), nowMs)
          return {...held.lease, expiresAt: new Date(nowMs + TTL_MS).toISOString()}
        }
        const entries = this.readEntriesSync()
        // what etcd would have done by itself: forget leases whose lifetime is over
        for (const e of entries) if (e.expiresAtMs !== undefined && e.expiresAtMs <= nowMs) await this.removeKey(e.key)
        const list = classifyEntries(entries, nc.network, nowMs)
        const pick = pickSubnet(nc, takenSubnets(list), {
          publicIP: req.publicIP, preferredSubnet: req.preferredSubnet, keep: req.keep, random: req.random,
        })
        // this host's entries of a subnet: under its key, or under flanneld's dual-stack form of it
        const mine = (subnet: string) => entries.filter((e) => subnetOfKey(e.key) === subnet && heldBy(subnet, e.value, req.publicIP)).map((e) => e.key)
        for (const key of pick.discard.flatMap(mine)) await this.removeKey(key)
        const lease: Lease = {
          subnet: pick.subnet,
          publicIP: req.publicIP,
          publicIPv6: null,
          backendType: req.backendType,
          backendData: req.backendData,
          expiresAt: new Date(nowMs + TTL_MS).toISOString(),
        }
        await this.writeAtomic(this.leasePath(pick.subnet), leaseToJson(lease), nowMs)
        // This host announces no IPv6 subnet: a lease it held under the dual-stack key now lives
        // under the IPv4 one alone, never two entries for one subnet.
        if (pick.reason === 'reuse') for (const key of mine(pick.subnet)) if (key !== keyOfSubnet(pick.subnet)) await this.removeKey(key)
        return lease
      })
    })
  }

  /**
   * The entry of the subnet this host holds (AcquireRequest.heldSubnet) while it still carries its
   * PublicIP, as the lease asked for; `current` when nothing about it needs writing. Rewriting only
   * on a change or after LEASE_RENEW_AFTER_MS matters: every write wakes every watching node, and an
   * agent syncs every few seconds. Undefined: take the full path.
   */
  private readHeld(nc: NetConf, req: AcquireRequest, nowMs: number): {lease: Lease; current: boolean} | undefined {
    const wanted = heldLeaseWanted(nc, req)
    if (!wanted) return undefined
    const entry = readEntrySync(this.leasePath(wanted.subnet), keyOfSubnet(wanted.subnet))
    if (!entry || entry.expiresAtMs === undefined || entry.expiresAtMs <= nowMs) return undefined
    try {
      if (leaseFromJson(wanted.subnet, entry.value).publicIP !== req.publicIP) return undefined
    } catch {
      return undefined
    }
    const current = heldLeaseIsCurrent(entry.value, wanted, nowMs - (entry.expiresAtMs - TTL_MS))
    return {lease: current ? {...wanted, expiresAt: new Date(entry.expiresAtMs).toISOString()} : wanted, current}
  }

  async renewLease(subnet: string): Promise<Lease> {
    return this.usable(async () => {
      const path = this.leasePath(subnet)
      return this.locked(async () => {
        const nowMs = this.now()
        let value: string
        try {
          const st = await stat(path)
          if (st.mtimeMs + TTL_MS <= nowMs) throw leaseLostError(subnet, this.describe())
          value = await readFile(path, 'utf8')
        } catch (e) {
          if (errno(e) === 'ENOENT') throw leaseLostError(subnet, this.describe())
          throw e
        }
        await utimes(path, nowMs / 1000, nowMs / 1000)
        return leaseFromJson(subnet, value, new Date(nowMs + TTL_MS).toISOString())
      })
    })
  }

  async releaseLease(subnet: string, holder?: string): Promise<boolean> {
    return this.usable(async () => {
      return this.locked(async () => {
        const held = this.readEntriesSync().filter((e) => subnetOfKey(e.key) === subnet && heldBy(subnet, e.value, holder))
        for (const e of held) await this.removeKey(e.key)
        return held.length > 0
      })
    })
  }

  async getMeta(key: string): Promise<string | undefined> {
    return this.usable(async () => {
      try {
        return readFileSync(join(this.metaDir, checkMetaKey(key)), 'utf8')
      } catch (e) {
        if (errno(e) === 'ENOENT') return undefined
        throw e
      }
    })
  }

  async putMeta(key: string, value: string | undefined): Promise<void> {
    return this.usable(async () => {
      const path = join(this.metaDir, checkMetaKey(key))
      if (value === undefined) {
        await unlink(path).catch((e) => {
          if (errno(e) !== 'ENOENT') throw e
        })
        return
      }
      await makeDirs(this.metaDir, DIR_MODE)
      await this.writeAtomic(path, value)
    })
  }

  async swapMeta(key: string, expected: string | undefined, value: string): Promise<boolean> {
    return this.usable(async () => {
      const path = join(this.metaDir, checkMetaKey(key))
      return this.locked(async () => {
        let now: string | undefined
        try {
          now = readFileSync(path, 'utf8')
        } catch (e) {
          if (errno(e) !== 'ENOENT') throw e
        }
        if (now !== expected) return false
        await makeDirs(this.metaDir, DIR_MODE)
        await this.writeAtomic(path, value)
        return true
      })
    })
  }

  async watch(onChange: () => void): Promise<() => void> {
    return this.usable(async () => {
      await makeDirs(this.subnetsDir, DIR_MODE)
      await makeDirs(this.metaDir, DIR_MODE)
      let timer: NodeJS.Timeout | undefined
      // one callback for a burst of events (a write is a create + rename)
      const poke = (_event: string, name: string | Buffer | null) => {
        if (name && String(name).startsWith('.')) return
        if (timer) clearTimeout(timer)
        timer = setTimeout(onChange, 50)
      }
      const watched: WatchedEntries = {dirty: 'all', classifier: new EntryClassifier()}
      this.watched = watched
      const leaseChanged = (event: string, name: string | Buffer | null) => {
        // a write's temp file (.KEY.PID.RAND.tmp) is no lease, as in a full read
        if (name && String(name).startsWith('.')) return
        if (watched.dirty !== 'all') {
          if (name === null) watched.dirty = 'all'
          else watched.dirty.add(String(name))
        }
        poke(event, name)
      }
      const watchers: FSWatcher[] = [fsWatch(this.networkDir, poke), fsWatch(this.subnetsDir, leaseChanged), fsWatch(this.metaDir, poke)]
      // A watcher that fails (its directory removed with the store) leaves the cache unknowable.
      for (const w of watchers) w.on('error', () => (watched.dirty = 'all'))
      const stop = () => {
        if (timer) clearTimeout(timer)
        for (const w of watchers) w.close()
        if (this.watched === watched) this.watched = undefined
        this.stoppers.delete(stop)
      }
      this.stoppers.add(stop)
      return stop
    })
  }

  async close(): Promise<void> {
    for (const stop of [...this.stoppers]) stop()
  }

  /**
   * A file system that refuses (a file where a directory should be, read-only, /proc, full) is the
   * user's to fix: one error naming the store and the reason, not an errno with a stack.
   */
  private async usable<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (e) {
      const problem = isUserError(e) ? undefined : fsProblem(e)
      if (problem === undefined) throw e
      throw this.notUsable(problem)
    }
  }

  private notUsable(problem: string): FlannelctlError {
    return new FlannelctlError(`store ${this.describe()} is not usable: ${problem}`,
      'point --store file:DIR at a directory on a local, writable file system (default file:/var/lib/flannelctl/store), or fix that path', ExitCode.usage)
  }

  private leasePath(subnet: string): string {
    return join(this.subnetsDir, keyOfSubnet(subnet))
  }

  private async locked<T>(fn: () => Promise<T>): Promise<T> {
    await makeDirs(this.subnetsDir, DIR_MODE)
    return withFileLock(this.lockPath, fn, this.lockOptions)
  }

  private readEntriesSync(): RawEntry[] {
    const entries: RawEntry[] = []
    for (const slice of this.entrySlices()) entries.push(...slice)
    return entries
  }

  /**
   * The same, letting the event loop run between slices: a sync reads the host (a program whose
   * output outgrows a pipe at a few thousand entries) while it reads the store, and that program
   * waits whenever this process does not drain its output.
   */
  private async readEntriesSliced(): Promise<RawEntry[]> {
    const entries: RawEntry[] = []
    let first = true
    for (const slice of this.entrySlices()) {
      if (!first) await new Promise(resolve => setImmediate(resolve))
      first = false
      entries.push(...slice)
    }
    return entries
  }

  /**
   * Lease files in slices of READ_SLICE. Synchronous reads on purpose: a few small local files each,
   * where the promise API queues every open/fstat/read/close through libuv's thread pool (70 ms
   * for 1000 leases against ~10 ms).
   */
  private *entrySlices(): Generator<RawEntry[]> {
    let names: string[]
    try {
      names = readdirSync(this.subnetsDir)
    } catch (e) {
      if (errno(e) === 'ENOENT') return
      throw e
    }
    const dir = this.subnetsDir
    let slice: RawEntry[] = []
    for (const key of names) {
      if (key.startsWith('.')) continue
      const entry = readEntrySync(`${dir}/${key}`, key)
      if (entry) slice.push(entry)
      if (slice.length === READ_SLICE) {
        yield slice
        slice = []
      }
    }
    if (slice.length > 0) yield slice
  }

  private async removeKey(key: string): Promise<void> {
    await unlink(join(this.subnetsDir, key)).catch((e) => {
      if (errno(e) !== 'ENOENT') throw e
    })
  }

  private async writeAtomic(path: string, data: string, mtimeMs?: number): Promise<void> {
    const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
    try {
      await writeFile(tmp, data, {mode: FILE_MODE})
      if (mtimeMs !== undefined) await utimes(tmp, mtimeMs / 1000, mtimeMs / 1000)
      await rename(tmp, path)
    } catch (e) {
      await unlink(tmp).catch(() => {})
      throw e
    }
  }
}
