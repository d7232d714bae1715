/**
 * flannel's etcd v3 registry (pkg/subnet/etcd/registry.go), spoken from TypeScript:
 * `<prefix>/config` and `<prefix>/subnets/<key>`, each lease key attached to its own 24 h etcd
 * lease; a new lease is created only if the key has version 0, in one transaction, so two hosts
 * racing for one subnet cannot both win. Keys without an etcd lease are flannel "reservations"
 * and never expire.
 */
import {readFile} from 'node:fs/promises'
import {connect as tcpConnect} from 'node:net'
import {Etcd3, GRPCDeadlineExceededError, type IKeyValue, GRPCNotImplementedError, GRPCUnavailableError, isRecoverableError, type IOptions, type IWatchResponse, type Watcher} from 'etcd3'
import {ExitCode, FlannelctlError, userError} from '../errors.js'
import {fsReason} from './dirs.js'
import {parseNetConf, type NetConf} from '../core/netconf.js'
import {pickSubnet} from '../core/ipam.js'
import {
  checkMetaKey, classifyEntries, noNetworkConfigError, DEFAULT_ETCD_PREFIX, heldBy, heldLeaseIsCurrent, heldLeaseWanted, keyOfSubnet, leaseFromJson, leaseLostError, leaseToJson, LEASE_TTL_SECONDS, networkOfConfig,
  subnetOfKey, takenSubnets, type AcquireRequest, type Lease, type LeaseList, type RawEntry, type Store,
} from './store.js'

export interface EtcdStoreOptions {
  /** HOST:PORT, one per cluster member */
  endpoints: string[]
  tls?: boolean
  prefix?: string
  caFile?: string
  certFile?: string
  keyFile?: string
  username?: string
  password?: string
  /** per request; default 5 s */
  timeoutMs?: number
  /** for the first request, which also dials: default 3 s, so a dead endpoint fails fast */
  connectTimeoutMs?: number
  now?: () => number
}

/** Attempts when another host takes the subnet we picked between our read and our write. */
const ACQUIRE_ATTEMPTS = 5
/** Reads of the leases retried when a lease vanished between the range and its TTL lookup. */
const READ_ATTEMPTS = 3
/** A lost watch stream is re-dialled after 250 ms, doubling up to this: an agent catches up soon after etcd returns. */
const WATCH_REDIAL_MAX_MS = 2000

type FaultHandling = NonNullable<IOptions['faultHandling']>
type Policy = NonNullable<FaultHandling['global']>

/**
 * etcd3's default policies retry each call three times and then stop calling a host for 5 s
 * (a circuit breaker): 15 s before a dead endpoint is reported, and "circuit breaker is open"
 * instead of the cause afterwards. Here a call tries each endpoint once and says why it failed;
 * the agent (sync --watch) does its own retrying, with backoff.
 */
function policy(attempts: number): Policy {
  const execute = async <T>(fn: (context: {signal: AbortSignal}) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn({signal: signal ?? new AbortController().signal})
      } catch (error) {
        if (attempt >= attempts || !(error instanceof Error) || !isRecoverableError(error)) throw error
      }
    }
  }
  // etcd3 only calls execute(); the rest of cockatiel's IPolicy (events) is never used
  return {execute} as unknown as Policy
}

/** How long a member that failed a call is passed over while another member may answer. */
const SKIP_FAILED_MEMBER_MS = 30_000

interface MemberState {
  /** it has answered a call */
  answered: boolean
  /** it failed a call (down, or hung: it takes the connection and never answers) until then */
  skipUntil: number
  lastError?: Error
}

/**
 * One policy per member of a cluster. etcd3 picks a member at random for every call, so a hung
 * member would cost each call its whole deadline. Here a call goes to a member that has answered
 * and not failed since; a member that failed is passed over for SKIP_FAILED_MEMBER_MS, and one that
 * has not answered yet is tried only when no member is known to answer. Passing over throws before
 * calling, which etcd3 takes as "try the next member". Some member is always called: an agent
 * must see etcd come back at once.
 */
function memberPolicies(): () => Policy {
  const members: MemberState[] = []
  const failed = (m: MemberState, now: number) => m.lastError !== undefined && now < m.skipUntil
  const known = (m: MemberState, now: number) => m.answered && !failed(m, now)
  const preferred = (m: MemberState, now: number) => known(m, now) || (!failed(m, now) && !members.some(o => known(o, now)))
  return () => {
    const me: MemberState = {answered: false, skipUntil: 0}
    members.push(me)
    const execute = async <T>(fn: (context: {signal: AbortSignal}) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> => {
      const now = Date.now()
      if (!preferred(me, now) && members.some(o => o !== me && preferred(o, now))) {
        throw me.lastError ?? new GRPCUnavailableError('another member of the cluster answers')
      }
      try {
        const result = await fn({signal: signal ?? new AbortController().signal})
        Object.assign(me, {answered: true, skipUntil: 0, lastError: undefined})
        return result
      } catch (error) {
        if (error instanceof Error && isRecoverableError(error)) Object.assign(me, {skipUntil: Date.now() + SKIP_FAILED_MEMBER_MS, lastError: error})
        throw error
      }
    }
    return {execute} as unknown as Policy
  }
}

/** Exponential from firstMs, doubling, never above maxMs (cockatiel's IBackoff shape). */
function cappedBackoff(firstMs: number, maxMs: number): NonNullable<FaultHandling['watchBackoff']> {
  const at = (ms: number) => ({duration: ms, next: () => at(Math.min(ms * 2, maxMs))})
  return {duration: firstMs, next: () => at(firstMs)} as unknown as NonNullable<FaultHandling['watchBackoff']>
}

/**
 * grpc-js hands the endpoint to TLS as the server name, and Node warns (DEP0123) on every run when
 * it is an IP address, as etcd endpoints usually are. The certificate is still checked against the
 * IP (subjectAltName); the warning tells the user nothing they can act on, so only it is dropped.
 */
let ipServerNameWarningQuiet = false
function quietIpServerNameWarning(): void {
  if (ipServerNameWarningQuiet) return
  ipServerNameWarningQuiet = true
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const code = typeof rest[0] === 'object' && rest[0] !== null ? (rest[0] as {code?: string}).code : rest[1]
    if (code === 'DEP0123') return
    emit(warning, ...rest)
  }) as typeof process.emitWarning
}

/** The gist of a grpc/TLS failure, without grpc's status prefix, timestamps and OpenSSL file names. */
export function failureCause(error: Error): string {
  const text = error.message
  const deadline = /Deadline exceeded after ([\d.]+)s/.exec(text)
  if (deadline) return `no answer within ${Math.round(Number(deadline[1]))} s`
  let cause = /Last error: (?:Error: )?([\s\S]*)$/.exec(text)?.[1] ?? text.replace(/^\d+ [A-Z_]+: /, '')
  cause = cause.replace(/\.?\s*Resolution note:[\s\S]*$/, '').replace(/\s*\(\d{4}-\d\d-\d\dT[^)]*\)/g, '')
  // OpenSSL: "800C...:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:../deps/...:SSL alert number 42"
  const ssl = /SSL routines:[^:]*:([^:]+)/.exec(cause)
  if (ssl) cause = ssl[1]
  const refused = /connect (ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT) (\S+)/.exec(cause)
  if (refused) cause = `${ERRNO_TEXT[refused[1]]} (${refused[1]})`
  // grpc's words for a connection that went away under a call, or that the client reset after a
  // call got no answer (a hung etcd): the calls still queued on it fail with the second
  if (/^(Connection dropped|Channel closed before call started|Channel has been shut down)\.?$/i.test(cause.trim())) cause = 'the connection dropped (etcd went away or stopped answering)'
  // grpc's "No connection established. Last error: null" while it redials a member that went away
  const said = cause.replace(/\s+/g, ' ').trim().replace(/\.$/, '')
  return said === '' || said === 'null' || said === 'undefined' ? 'no connection' : said
}

const UNREACHABLE_HINT = 'check that etcd runs there and that --store names its client URL (etcd://HOST:2379); for TLS use etcds:// with --etcd-cafile, --etcd-certfile and --etcd-keyfile'

const ERRNO_TEXT: Record<string, string> = {
  ECONNREFUSED: 'connection refused', EHOSTUNREACH: 'no route to host', ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out', ENOTFOUND: 'unknown host name', EAI_AGAIN: 'host name lookup failed',
}

/**
 * A plain TCP connect to one endpoint, destroyed at the deadline; resolves to why it failed, or
 * undefined. grpc leaves a connect it gave up on running until the kernel gives up (seconds more
 * for an address nobody answers ARP for), and that keeps a one-shot command from exiting.
 */
function probe(endpoint: string, timeoutMs: number): Promise<string | undefined> {
  const colon = endpoint.lastIndexOf(':')
  const host = endpoint.slice(0, colon).replace(/^\[(.*)\]$/, '$1')
  return new Promise((resolve) => {
    const socket = tcpConnect({host, port: Number(endpoint.slice(colon + 1))})
    const done = (cause: string | undefined) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(cause)
    }
    const timer = setTimeout(() => done(`no answer within ${Math.round(timeoutMs / 1000)} s`), timeoutMs)
    socket.once('connect', () => done(undefined))
    socket.once('error', (e: NodeJS.ErrnoException) => done(e.code && ERRNO_TEXT[e.code] ? `${ERRNO_TEXT[e.code]} (${e.code})` : e.message))
  })
}

/** TLS failures are the user's to fix (wrong CA, certificate or scheme): exit 2, and what to pass instead. */
function tlsFailure(where: string, cause: string, opts: EtcdStoreOptions, handshake: boolean): FlannelctlError | undefined {
  if (/alert (bad certificate|certificate required|unknown ca|certificate unknown|handshake failure)/i.test(cause)) {
    return userError(`${where} rejected this client's certificate (${opts.certFile ? `--etcd-certfile ${opts.certFile}` : 'none given'}): ${cause}`,
      'pass --etcd-certfile and --etcd-keyfile with a client certificate signed by the CA etcd trusts (its --trusted-ca-file)')
  }
  if (/certificate|self.signed|unable to (verify|get)|altnames/i.test(cause)) {
    const ca = opts.caFile ? `the CA in --etcd-cafile ${opts.caFile}` : 'the CA given'
    return /altnames/i.test(cause)
      ? userError(`${where} presented a certificate that is not valid for that address: ${cause}`,
        'use the address (or name) its certificate lists, or reissue the certificate with this one in subjectAltName')
      : userError(`${where} presented a server certificate that ${ca} does not verify: ${cause}`,
        'pass with --etcd-cafile the CA that signed etcd\'s server certificate (its --cert-file)')
  }
  // a plain etcd drops a TLS hello (reset or closed): only then, during the first handshake, is a reset a TLS matter
  const tlsHandshake = handshake && (opts.tls || opts.caFile) && /ECONNRESET|socket hang up/.test(cause)
  if (tlsHandshake || /wrong version number|packet length too long|unknown protocol|record layer failure|disconnected before secure TLS connection/i.test(cause)) {
    return userError(`${where} does not answer TLS (${cause})`, 'when etcd serves plain HTTP there, use etcd://HOST:PORT without --etcd-cafile; else check its --cert-file/--key-file')
  }
  return undefined
}

async function readTlsFile(path: string | undefined, what: string): Promise<Buffer | undefined> {
  if (!path) return undefined
  try {
    return await readFile(path)
  } catch (e) {
    throw userError(`cannot read the etcd ${what} ${path}: ${fsReason(e) ?? (e as Error).message}`, `check --etcd-${what}`)
  }
}

export class EtcdStore implements Store {
  private readonly prefix: string
  private readonly now: () => number
  private readonly stoppers = new Set<() => Promise<void>>()

  private constructor(private readonly client: Etcd3, private readonly opts: EtcdStoreOptions) {
    this.prefix = (opts.prefix ?? DEFAULT_ETCD_PREFIX).replace(/\/+$/, '')
    this.now = opts.now ?? Date.now
  }

  /** Connects and checks that a member answers, so a wrong endpoint fails here, clearly. */
  static async connect(opts: EtcdStoreOptions): Promise<EtcdStore> {
    const connectTimeoutMs = opts.connectTimeoutMs ?? 3000
    const [rootCertificate, certChain, privateKey] = await Promise.all([
      readTlsFile(opts.caFile, 'cafile'), readTlsFile(opts.certFile, 'certfile'), readTlsFile(opts.keyFile, 'keyfile'),
    ])
    const tls = Boolean(opts.tls || rootCertificate || certChain)
    const timeoutMs = opts.timeoutMs ?? 5000
    // the first call's deadline is per member tried: a hung first pick leaves time for the next
    let firstContact = true
    const options: IOptions = {
      hosts: opts.endpoints.map((e) => `${tls ? 'https' : 'http'}://${e}`),
      dialTimeout: timeoutMs,
      // a deadline on every unary call; watch streams must stay open
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : {deadline: Date.now() + (firstContact ? connectTimeoutMs : timeoutMs)}),
      faultHandling: {
        host: memberPolicies(),
        global: policy(opts.endpoints.length),
        watchBackoff: cappedBackoff(250, WATCH_REDIAL_MAX_MS),
      },
      grpcOptions: {
        // re-dial soon after etcd returns, not after grpc's default of up to 2 minutes
        'grpc.initial_reconnect_backoff_ms': 250,
        'grpc.max_reconnect_backoff_ms': WATCH_REDIAL_MAX_MS,
        // a watch on a host that vanished without closing its connections (power loss, partition) is
        // noticed by pings; etcd accepts one every 5 s or slower while a stream is open
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5000,
      },
    }
    if (tls) {
      if (!rootCertificate) {
        throw userError('etcd over TLS needs the CA certificate that signed its server certificate',
          'pass --etcd-cafile (and --etcd-certfile/--etcd-keyfile for client authentication)')
      }
      if (Boolean(certChain) !== Boolean(privateKey)) {
        throw userError(`etcd client authentication needs both a certificate and its key (got only --etcd-${certChain ? 'certfile' : 'keyfile'})`,
          'pass --etcd-certfile and --etcd-keyfile together')
      }
      options.credentials = {rootCertificate, certChain, privateKey}
      quietIpServerNameWarning()
    }
    if (opts.username !== undefined || opts.password !== undefined) {
      if (!opts.username) throw userError('--etcd-password was given without --etcd-username', 'pass both (or FLANNELD_ETCD_USERNAME and FLANNELD_ETCD_PASSWORD), as for flanneld')
      if (opts.password === undefined) {
        throw userError(`etcd user ${opts.username} needs its password`,
          'pass --etcd-password or set FLANNELD_ETCD_PASSWORD (flannelctl never records it; init records only the user name); for an etcd without authentication, forget the user init recorded: flannelctl sync --etcd-username \'\'')
      }
      options.auth = {username: opts.username, password: opts.password}
    }
    let client: Etcd3
    try {
      client = new Etcd3(options)
    } catch (e) {
      // OpenSSL's reason only: never the files' contents, which may hold a private key
      const reason = ((e as Error).message.split(':').pop() ?? '').trim()
      throw userError(`cannot use the etcd TLS files (--etcd-cafile ${opts.caFile ?? '-'}, --etcd-certfile ${opts.certFile ?? '-'}, --etcd-keyfile ${opts.keyFile ?? '-'}): ${reason}`,
        'pass PEM files: --etcd-cafile the CA certificate, --etcd-certfile this client\'s certificate, --etcd-keyfile the private key of that certificate')
    }
    const store = new EtcdStore(client, {...opts, tls})
    try {
      const failed = await Promise.all(opts.endpoints.map((e) => probe(e, connectTimeoutMs)))
      if (failed.every(Boolean)) {
        const causes = opts.endpoints.length === 1 ? failed[0] : opts.endpoints.map((e, i) => `${e} ${failed[i]}`).join('; ')
        throw new FlannelctlError(`etcd at ${opts.endpoints.join(',')} is unreachable: ${causes}`, UNREACHABLE_HINT, ExitCode.failed)
      }
      await store.call(() => store.client.maintenance.status(), true)
      firstContact = false
    } catch (e) {
      store.client.close()
      throw e
    }
    return store
  }

  configLocation(): string {
    return `the etcd key ${this.configKey}`
  }

  describe(): string {
    // etcds:// is how --store names a TLS store: what is printed can be passed back
    return `${this.opts.tls ? 'etcds' : 'etcd'}://${this.opts.endpoints.join(',')}${this.prefix === DEFAULT_ETCD_PREFIX ? '' : ` (prefix ${this.prefix})`}`
  }

  async getConfig(): Promise<string | undefined> {
    const value = await this.call(() => this.client.get(this.configKey).string())
    return value ?? undefined
  }

  async putConfig(json: string, {ifAbsent = false} = {}): Promise<boolean> {
    parseNetConf(json)
    const put = this.client.put(this.configKey).value(json)
    if (!ifAbsent) {
      await this.call(() => put.exec())
      return true
    }
    return (await this.call(() => this.client.if(this.configKey, 'Version', '==', 0).then(put).commit())).succeeded
  }

  async listLeases({network: given, config}: {network?: string; config?: Promise<string | undefined>} = {}): Promise<LeaseList> {
    const [entries, configText] = await Promise.all([this.readEntries(), given === undefined ? config ?? this.getConfig() : undefined])
    return classifyEntries(entries.map((e) => e.raw), given ?? networkOfConfig(configText), this.now())
  }

  async acquireLease(nc: NetConf, req: AcquireRequest): Promise<Lease> {
    const current = await this.heldIfCurrent(nc, req)
    if (current) return current
    for (let attempt = 1; ; attempt++) {
      const entries = await this.readEntries()
      const list = classifyEntries(entries.map((e) => e.raw), nc.network, this.now())
      const pick = pickSubnet(nc, takenSubnets(list), {
        publicIP: req.publicIP, preferredSubnet: req.preferredSubnet, keep: req.keep, random: req.random,
      })
      // this host's entries of a subnet: under its key, or under flanneld's dual-stack form of it
      const mine = (subnet: string) => entries.filter((e) => subnetOfKey(e.raw.key) === subnet && heldBy(subnet, e.raw.value, req.publicIP))
      for (const e of pick.discard.flatMap(mine)) {
        await this.call(() => this.client.delete().key(this.subnetsDir + e.raw.key).exec())
      }
      const lease: Lease = {
        subnet: pick.subnet, publicIP: req.publicIP, publicIPv6: null,
        backendType: req.backendType, backendData: req.backendData,
      }
      const key = this.subnetKey(pick.subnet)
      const value = leaseToJson(lease)
      if (pick.reason === 'reuse') {
        // flannel's updateSubnet: a put (here only while the config is there); a reservation (no etcd lease) stays one
        const existing = mine(pick.subnet)
        const granted = existing.some((e) => e.leaseId === '0') ? undefined : await this.grant()
        const put = this.client.put(key).value(value)
        if (granted) put.lease(granted.id)
        // flanneld on a dual-stack network keys a lease 10.244.1.0-24&fc00::-64. This host announces
        // no IPv6 subnet: its lease moves to the IPv4 key in one transaction, never two entries
        // for one subnet (the next round would find its own lease overlapped).
        const others = existing.filter((e) => this.subnetsDir + e.raw.key !== key)
        const written = (await this.call(() => this.andUnchanged(this.whileConfigured(), others.map((e) => ({key: this.subnetsDir + e.raw.key, modRevision: e.modRevision})))
          .then(put, ...others.map((e) => this.client.delete().key(this.subnetsDir + e.raw.key)))
          .commit())).succeeded
        if (written) {
          for (const e of existing) if (e.leaseId !== granted?.id) await this.revoke(e.leaseId)
          return granted ? {...lease, expiresAt: granted.expiresAt} : lease
        }
        if (granted) await this.revoke(granted.id)
        await this.requireConfig()
      } else {
        const granted = await this.grant()
        const txn = await this.call(() =>
          this.whileConfigured().and(key, 'Version', '==', 0).then(this.client.put(key).value(value).lease(granted.id)).commit())
        if (txn.succeeded) return {...lease, expiresAt: granted.expiresAt}
        await this.revoke(granted.id)
        await this.requireConfig()
      }
      if (attempt >= ACQUIRE_ATTEMPTS) {
        throw new FlannelctlError(`could not lease a subnet in ${this.describe()}: other hosts took each one picked (${attempt} attempts)`,
          'try again', ExitCode.failed)
      }
    }
  }

  /**
   * The held lease when nothing about it needs writing: the key still holds exactly the value asked
   * for, renewed within LEASE_RENEW_AFTER_MS. Renewing grants a new etcd lease and revokes the old
   * one; doing that on every round would churn etcd and wake every watching node for nothing.
   */
  private async heldIfCurrent(nc: NetConf, req: AcquireRequest): Promise<Lease | undefined> {
    const wanted = heldLeaseWanted(nc, req)
    if (!wanted) return undefined
    const kv = await this.call(() => this.client.get(this.subnetKey(wanted.subnet)).exec()).then((r) => r.kvs[0])
    if (!kv) return undefined
    // a reservation (no etcd lease) never needs renewing
    if (kv.lease === '0') return heldLeaseIsCurrent(kv.value.toString(), wanted, 0) ? wanted : undefined
    const ttl = Number((await this.call(() => this.client.leaseClient.leaseTimeToLive({ID: kv.lease}))).TTL)
    if (ttl < 0 || !heldLeaseIsCurrent(kv.value.toString(), wanted, LEASE_TTL_SECONDS * 1000 - ttl * 1000)) return undefined
    return {...wanted, expiresAt: new Date(this.now() + ttl * 1000).toISOString()}
  }

  /**
   * A lease is written only while the network config is there (in the same transaction): an etcd
   * restarted empty, or a config deleted, between this round's read of the config and its write
   * must not get a lease for a network nobody configured (the agents wait for the config instead).
   */
  private async requireConfig(): Promise<void> {
    if (await this.getConfig() === undefined) throw noNetworkConfigError(this.describe())
  }

  async renewLease(subnet: string): Promise<Lease> {
    const kv = (await this.subnetKvs(subnet))[0]
    if (!kv) throw leaseLostError(subnet, this.describe())
    const key = kv.key.toString()
    const value = kv.value.toString()
    if (kv.lease === '0') return leaseFromJson(subnet, value)
    const granted = await this.grant()
    // only if nobody changed the key since we read it: never revive a lease another host now holds
    const txn = await this.call(() =>
      this.client.if(key, 'Mod', '==', kv.mod_revision).then(this.client.put(key).value(value).lease(granted.id)).commit())
    if (!txn.succeeded) {
      await this.revoke(granted.id)
      throw leaseLostError(subnet, this.describe())
    }
    await this.revoke(kv.lease)
    return leaseFromJson(subnet, value, granted.expiresAt)
  }

  async releaseLease(subnet: string, holder?: string): Promise<boolean> {
    const kvs = (await this.subnetKvs(subnet)).filter((kv) => heldBy(subnet, kv.value.toString(), holder))
    if (kvs.length === 0) return false
    // deleted only if nobody wrote the keys since they were read
    const txn = await this.call(() => this.ifUnchanged(kvs.map((kv) => ({key: kv.key.toString(), modRevision: kv.mod_revision})))
      .then(...kvs.map((kv) => this.client.delete().key(kv.key)))
      .commit())
    if (!txn.succeeded) return false
    for (const kv of kvs) await this.revoke(kv.lease)
    return true
  }

  async getMeta(key: string): Promise<string | undefined> {
    const value = await this.call(() => this.client.get(this.metaKey(key)).string())
    return value ?? undefined
  }

  async putMeta(key: string, value: string | undefined): Promise<void> {
    const k = this.metaKey(key)
    if (value === undefined) await this.call(() => this.client.delete().key(k).exec())
    else await this.call(() => this.client.put(k).value(value).exec())
  }

  async swapMeta(key: string, expected: string | undefined, value: string): Promise<boolean> {
    const k = this.metaKey(key)
    const txn = await this.call(() => (expected === undefined ? this.client.if(k, 'Version', '==', 0) : this.client.if(k, 'Value', '==', expected))
      .then(this.client.put(k).value(value)).commit())
    return txn.succeeded
  }

  /**
   * Also calls onChange when a lost stream is back (events may have been missed meanwhile), and
   * starts a fresh watch when etcd ends ours (e.g. its revision was compacted) or when the cluster's
   * revision went backwards: an etcd restarted empty would otherwise be watched from a revision it
   * reaches only after as many writes, and the agent would hear nothing until then.
   */
  async watch(onChange: () => void, onLost: () => void = () => {}): Promise<() => void> {
    let stopped = false
    let watcher: Watcher | undefined
    let retry: NodeJS.Timeout | undefined
    const open = async (): Promise<void> => {
      const w = await this.call(() => this.client.watch().prefix(`${this.prefix}/`).create())
      if (stopped) {
        await w.cancel().catch(() => {})
        return
      }
      watcher = w
      let lost = false
      let seen = 0n
      w.on('data', (res: IWatchResponse) => {
        seen = BigInt(res.header.revision)
        onChange()
      })
      w.on('disconnected', () => {
        // said once a loss, not once a redial
        if (!lost) onLost()
        lost = true
      })
      w.on('connected', (res: IWatchResponse) => {
        const revision = BigInt(res.header.revision)
        const wentBack = revision < seen
        seen = revision
        if (!lost) return
        lost = false
        if (wentBack) void restart()
        else onChange()
      })
      w.on('error', () => void restart())
    }
    const reopen = async (): Promise<void> => {
      try {
        await open()
        onChange()
      } catch {
        // unreachable right now: try again later, as the client does for a stream it keeps
        if (!stopped) retry = setTimeout(() => void reopen(), WATCH_REDIAL_MAX_MS)
      }
    }
    const restart = async (): Promise<void> => {
      const old = watcher
      watcher = undefined
      if (stopped || !old) return
      await old.cancel().catch(() => {})
      await reopen()
    }
    await open()
    const stop = async () => {
      stopped = true
      clearTimeout(retry)
      this.stoppers.delete(stop)
      await watcher?.cancel().catch(() => {})
    }
    this.stoppers.add(stop)
    return () => void stop()
  }

  async close(): Promise<void> {
    await Promise.all([...this.stoppers].map((stop) => stop()))
    this.client.close()
  }

  private get configKey(): string {
    return `${this.prefix}/config`
  }

  /** beside flannel's config and subnets, where flanneld never looks */
  private metaKey(key: string): string {
    return `${this.prefix}/flannelctl/${checkMetaKey(key)}`
  }

  private get subnetsDir(): string {
    return `${this.prefix}/subnets/`
  }

  private subnetKey(subnet: string): string {
    return this.subnetsDir + keyOfSubnet(subnet)
  }

  /** A transaction that goes through only while none of these keys was written since it was read. */
  private ifUnchanged([first, ...rest]: {key: string; modRevision: string}[]) {
    return this.andUnchanged(this.client.if(first.key, 'Mod', '==', first.modRevision), rest)
  }

  /** `txn`, and none of `entries` written since it was read */
  private andUnchanged(txn: ReturnType<Etcd3['if']>, entries: {key: string; modRevision: string}[]) {
    return entries.reduce((t, e) => t.and(e.key, 'Mod', '==', e.modRevision), txn)
  }

  /** A transaction that writes only while the network config is there (see requireConfig) */
  private whileConfigured() {
    return this.client.if(this.configKey, 'Version', '>', 0)
  }

  /** The entries of one subnet: under its key, or under flanneld's dual-stack form of it (10.244.1.0-24&fc00::-64). */
  private async subnetKvs(subnet: string): Promise<IKeyValue[]> {
    const res = await this.call(() => this.client.getAll().prefix(this.subnetKey(subnet)).exec())
    return res.kvs.filter((kv) => subnetOfKey(kv.key.toString().slice(this.subnetsDir.length)) === subnet)
  }

  private async readEntries(): Promise<{raw: RawEntry; leaseId: string; modRevision: string}[]> {
    const dir = this.subnetsDir
    for (let attempt = 1; ; attempt++) {
      const res = await this.call(() => this.client.getAll().prefix(dir).exec())
      const ids = [...new Set(res.kvs.map((kv) => kv.lease).filter((id) => id !== '0'))]
      const ttls = new Map<string, number>()
      const nowMs = this.now()
      let gone = false
      await Promise.all(ids.map(async (id) => {
        const ttl = Number((await this.call(() => this.client.leaseClient.leaseTimeToLive({ID: id}))).TTL)
        gone ||= ttl < 0
        ttls.set(id, ttl < 0 ? nowMs : nowMs + ttl * 1000)
      }))
      // A lease gone between the range and its TTL: expired (etcd deletes its keys) or replaced by a
      // host renewing its lease (the key now has another one). Read again rather than drop a live host.
      if (gone && attempt < READ_ATTEMPTS) continue
      return res.kvs.map((kv) => ({
        leaseId: kv.lease,
        modRevision: kv.mod_revision,
        raw: {key: kv.key.toString().slice(dir.length), value: kv.value.toString(), expiresAtMs: ttls.get(kv.lease)},
      }))
    }
  }

  private async grant(): Promise<{id: string; expiresAt: string}> {
    const res = await this.call(() => this.client.leaseClient.leaseGrant({TTL: LEASE_TTL_SECONDS}))
    return {id: res.ID, expiresAt: new Date(this.now() + Number(res.TTL) * 1000).toISOString()}
  }

  /**
   * Ends an etcd lease this store stopped using, unless a key is still attached to it: entries
   * written by hand (etcdctl put --lease) may share one lease, and revoking it would delete another
   * host's entry with it. A lease left so expires by itself.
   */
  private async revoke(id: string): Promise<void> {
    if (id === '0') return
    try {
      const attached = await this.client.leaseClient.leaseTimeToLive({ID: id, keys: true})
      if ((attached.keys ?? []).length > 0) return
      await this.client.leaseClient.leaseRevoke({ID: id})
    } catch {
      // gone already, or etcd unreachable: the lease expires by itself
    }
  }

  /** Every call goes through here so that an unreachable cluster is one clear error naming it. */
  private async call<T>(fn: () => Promise<T>, firstContact = false): Promise<T> {
    try {
      return await fn()
    } catch (e) {
      if (e instanceof FlannelctlError) throw e
      const where = `etcd at ${this.opts.endpoints.join(',')}`
      if (e instanceof GRPCUnavailableError || e instanceof GRPCDeadlineExceededError || (e instanceof Error && isRecoverableError(e))) {
        // grpc's text: "14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED ..."
        const cause = failureCause(e as Error)
        throw tlsFailure(where, cause, this.opts, firstContact) ?? new FlannelctlError(`${where} is unreachable: ${cause}`, UNREACHABLE_HINT, ExitCode.failed)
      }
      // What an HTTP server that is not etcd v3's gRPC answers (another service on the port, a proxy):
      // "12 UNIMPLEMENTED: Received HTTP status code 404"
      if (e instanceof GRPCNotImplementedError) {
        throw new FlannelctlError(`${where} does not answer as an etcd v3 server: ${(e as Error).message}`,
          'check the address and port: flannelctl speaks the etcd v3 API (etcd 3.x, client port 2379 by default), as flanneld does', ExitCode.failed)
      }
      const message = (e as Error).message
      // etcd with auth enabled: a user and password (as flanneld's --etcd-username/--etcd-password),
      // or a client certificate whose CN etcd takes as the user name
      if (/user name is empty|authentication failed|invalid auth token/.test(message)) {
        const reason = message.replace(/^\d+ [A-Z_]+: (etcdserver: )?/, '')
        if (this.opts.username !== undefined) {
          throw userError(`${where} did not accept etcd user ${this.opts.username}: ${reason}`, 'check --etcd-username and --etcd-password (FLANNELD_ETCD_USERNAME, FLANNELD_ETCD_PASSWORD)')
        }
        throw userError(`${where} requires authentication: ${reason}`,
          'pass --etcd-username and --etcd-password (or FLANNELD_ETCD_USERNAME and FLANNELD_ETCD_PASSWORD), as for flanneld, or --etcd-cafile, --etcd-certfile and --etcd-keyfile with a client certificate whose CN is an etcd user')
      }
      // a user and password given to an etcd that does not use authentication (a user init recorded, auth disabled since)
      if (/authentication is not enabled/.test(message)) {
        throw userError(`${where} does not use authentication, and this client logs in as etcd user ${this.opts.username}`,
          'drop --etcd-username and --etcd-password; a user init recorded on this host is forgotten by flannelctl sync --etcd-username \'\'')
      }
      if (/permission denied/.test(message)) {
        throw userError(`${where} denied this client access to ${this.prefix}/: ${message.replace(/^\d+ [A-Z_]+: (etcdserver: )?/, '')}`,
          `give its etcd user a role with readwrite on the prefix: etcdctl role grant-permission ROLE --prefix=true readwrite ${this.prefix}/ (or pass the --etcd-prefix it may use)`)
      }
      throw new FlannelctlError(`${where} refused the request: ${message}`,
        'check the etcd credentials and that this client may use the key prefix', ExitCode.failed)
    }
  }
}
