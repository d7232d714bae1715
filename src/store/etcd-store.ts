/**
 * flannel's etcd v3 registry (pkg/subnet/etcd/registry.go), spoken from TypeScript:
 * `<prefix>/config` and `<prefix>/subnets/<key>`, each lease key attached to its own 24 h etcd
 * lease; a new lease is created only if the key has version 0, in one transaction, so two hosts
 * racing for one subnet cannot both win. Keys without an etcd lease are flannel "reservations"
 * and never expire.
 */
import {readFile} from 'node:fs/promises'
import {Etcd3, GRPCDeadlineExceededError, GRPCUnavailableError, type IOptions} from 'etcd3'
import {ExitCode, FlannelctlError, userError} from '../errors.js'
import {parseNetConf, type NetConf} from '../core/netconf.js'
import {pickSubnet} from '../core/ipam.js'
import {
  checkMetaKey, classifyEntries, DEFAULT_ETCD_PREFIX, keyOfSubnet, leaseFromJson, leaseLostError, leaseToJson, LEASE_TTL_SECONDS,
  takenSubnets, type AcquireRequest, type Lease, type LeaseList, type RawEntry, type Store,
} from './store.js'

export interface EtcdStoreOptions {
  /** HOST:PORT, one per cluster member */
  endpoints: string[]
  tls?: boolean
  prefix?: string
  caFile?: string
  certFile?: string
  keyFile?: string
  /** per request; default 5 s */
  timeoutMs?: number
  now?: () => number
}

/** Attempts when another host takes the subnet we picked between our read and our write. */
const ACQUIRE_ATTEMPTS = 5

async function readTlsFile(path: string | undefined, what: string): Promise<Buffer | undefined> {
  if (!path) return undefined
  try {
    return await readFile(path)
  } catch (e) {
    throw userError(`cannot read the etcd ${what} ${path}: ${(e as Error).message}`, `check --etcd-${what}`)
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
    const [rootCertificate, certChain, privateKey] = await Promise.all([
      readTlsFile(opts.caFile, 'cafile'), readTlsFile(opts.certFile, 'certfile'), readTlsFile(opts.keyFile, 'keyfile'),
    ])
    const tls = Boolean(opts.tls || rootCertificate || certChain)
    const timeoutMs = opts.timeoutMs ?? 5000
    const options: IOptions = {
      hosts: opts.endpoints.map((e) => `${tls ? 'https' : 'http'}://${e}`),
      dialTimeout: timeoutMs,
      // a deadline on every unary call; watch streams must stay open
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : {deadline: Date.now() + timeoutMs}),
    }
    if (tls) {
      if (!rootCertificate) {
        throw userError('etcd over TLS needs the CA certificate that signed its server certificate',
          'pass --etcd-cafile (and --etcd-certfile/--etcd-keyfile for client authentication)')
      }
      options.credentials = {rootCertificate, certChain, privateKey}
    }
    const store = new EtcdStore(new Etcd3(options), opts)
    try {
      await store.call(() => store.client.maintenance.status())
    } catch (e) {
      store.client.close()
      throw e
    }
    return store
  }

  describe(): string {
    return `etcd://${this.opts.endpoints.join(',')}${this.prefix === DEFAULT_ETCD_PREFIX ? '' : ` (prefix ${this.prefix})`}`
  }

  async getConfig(): Promise<string | undefined> {
    const value = await this.call(() => this.client.get(this.configKey).string())
    return value ?? undefined
  }

  async putConfig(json: string): Promise<void> {
    parseNetConf(json)
    await this.call(() => this.client.put(this.configKey).value(json).exec())
  }

  async listLeases(): Promise<LeaseList> {
    const [entries, config] = await Promise.all([this.readEntries(), this.getConfig()])
    let network: string | undefined
    try {
      network = config === undefined ? undefined : parseNetConf(config).network
    } catch {
      network = undefined
    }
    return classifyEntries(entries.map((e) => e.raw), network, this.now())
  }

  async acquireLease(nc: NetConf, req: AcquireRequest): Promise<Lease> {
    for (let attempt = 1; ; attempt++) {
      const entries = await this.readEntries()
      const list = classifyEntries(entries.map((e) => e.raw), nc.network, this.now())
      const pick = pickSubnet(nc, takenSubnets(list), {
        publicIP: req.publicIP, preferredSubnet: req.preferredSubnet, random: req.random,
      })
      for (const subnet of pick.discard) await this.call(() => this.client.delete().key(this.subnetKey(subnet)).exec())
      const lease: Lease = {
        subnet: pick.subnet, publicIP: req.publicIP, publicIPv6: null,
        backendType: req.backendType, backendData: req.backendData,
      }
      const key = this.subnetKey(pick.subnet)
      const value = leaseToJson(lease)
      if (pick.reason === 'reuse') {
        // flannel's updateSubnet: a plain put; a reservation (no etcd lease) stays one
        const existing = entries.find((e) => e.raw.key === keyOfSubnet(pick.subnet))
        if (existing && existing.leaseId === '0') {
          await this.call(() => this.client.put(key).value(value).exec())
          return lease
        }
        const granted = await this.grant()
        await this.call(() => this.client.put(key).value(value).lease(granted.id).exec())
        if (existing) await this.revoke(existing.leaseId)
        return {...lease, expiresAt: granted.expiresAt}
      }
      const granted = await this.grant()
      const txn = await this.call(() =>
        this.client.if(key, 'Version', '==', 0).then(this.client.put(key).value(value).lease(granted.id)).commit())
      if (txn.succeeded) return {...lease, expiresAt: granted.expiresAt}
      await this.revoke(granted.id)
      if (attempt >= ACQUIRE_ATTEMPTS) {
        throw new FlannelctlError(`could not lease a subnet in ${this.describe()}: other hosts took each one picked (${attempt} attempts)`,
          'try again', ExitCode.failed)
      }
    }
  }

  async renewLease(subnet: string): Promise<Lease> {
    const key = this.subnetKey(subnet)
    const kv = await this.call(() => this.client.get(key).exec()).then((r) => r.kvs[0])
    if (!kv) throw leaseLostError(subnet, this.describe())
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

  async releaseLease(subnet: string): Promise<void> {
    const key = this.subnetKey(subnet)
    const kv = await this.call(() => this.client.get(key).exec()).then((r) => r.kvs[0])
    if (!kv) return
    await this.call(() => this.client.delete().key(key).exec())
    await this.revoke(kv.lease)
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

  async watch(onChange: () => void): Promise<() => void> {
    const watcher = await this.call(() => this.client.watch().prefix(`${this.prefix}/`).create())
    watcher.on('data', () => onChange())
    // the client reconnects by itself; an error here must not crash the agent
    watcher.on('error', () => {})
    const stop = async () => {
      this.stoppers.delete(stop)
      await watcher.cancel().catch(() => {})
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

  private subnetKey(subnet: string): string {
    return `${this.prefix}/subnets/${keyOfSubnet(subnet)}`
  }

  private async readEntries(): Promise<{raw: RawEntry; leaseId: string}[]> {
    const dir = `${this.prefix}/subnets/`
    const res = await this.call(() => this.client.getAll().prefix(dir).exec())
    const ids = [...new Set(res.kvs.map((kv) => kv.lease).filter((id) => id !== '0'))]
    const ttls = new Map<string, number>()
    const nowMs = this.now()
    await Promise.all(ids.map(async (id) => {
      const ttl = await this.call(() => this.client.leaseClient.leaseTimeToLive({ID: id}))
      // -1: the lease expired between the range and this call
      ttls.set(id, Number(ttl.TTL) < 0 ? nowMs : nowMs + Number(ttl.TTL) * 1000)
    }))
    return res.kvs.map((kv) => ({
      leaseId: kv.lease,
      raw: {key: kv.key.toString().slice(dir.length), value: kv.value.toString(), expiresAtMs: ttls.get(kv.lease)},
    }))
  }

  private async grant(): Promise<{id: string; expiresAt: string}> {
    const res = await this.call(() => this.client.leaseClient.leaseGrant({TTL: LEASE_TTL_SECONDS}))
    return {id: res.ID, expiresAt: new Date(this.now() + Number(res.TTL) * 1000).toISOString()}
  }

  private async revoke(id: string): Promise<void> {
    if (id === '0') return
    await this.client.leaseClient.leaseRevoke({ID: id}).catch(() => {})
  }

  /** Every call goes through here so that an unreachable cluster is one clear error naming it. */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (e) {
      if (e instanceof FlannelctlError) throw e
      const where = `etcd at ${this.opts.endpoints.join(',')}`
      if (e instanceof GRPCUnavailableError || e instanceof GRPCDeadlineExceededError) {
        // grpc's text: "14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED ..."
        const cause = /Last error: (?:Error: )?(.*?)(?:\. Resolution note:.*)?$/.exec((e as Error).message)?.[1]
        throw new FlannelctlError(`${where} is unreachable: ${cause ?? (e as Error).message}`,
          'check that etcd runs there and that --store names its client URL (etcd://HOST:2379); for TLS pass --etcd-cafile, --etcd-certfile and --etcd-keyfile',
          ExitCode.failed)
      }
      throw new FlannelctlError(`${where} refused the request: ${(e as Error).message}`,
        'check the etcd credentials and that this client may use the key prefix', ExitCode.failed)
    }
  }
}
