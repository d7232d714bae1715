/** The store's view: config and leases, the same for every store kind. */
import {noNetworkConfigError, openStore, parseStoredNetConf, Lease, InvalidEntry, type StoreOptions} from '../store/store.js'
import {parseNetConf, NetConf} from '../core/netconf.js'
import {subnetMisfit} from '../core/ipam.js'
import {asReadFailure, isUserError, userError} from '../errors.js'
import {HostAdapter} from '../adapters/host.js'
import {RealRunner} from '../adapters/runner.js'
import {loadRecord, storeOptions, type NodeRecord} from './node.js'
import {MIGRATION_META_KEY, parseMigrationRecord, migrationLabels, migrateFlags, type MigrationRecord} from '../core/migrate-plan.js'
import {isDeepStrictEqual} from 'node:util'

/**
 * What doctor compares the hosts with, as `lease list --json` tells it (and collect saves beside a
 * snapshot): `configProblem` is why the network config does not parse (no node can sync).
 */
export interface StoreSummary {
  /** the store's spec */
  store: string
  /** the net-conf's Network (null: no config, or one that does not parse; absent: saved by an older collect) */
  network?: string | null
  leases: Lease[]
  backend: NetConf['backend'] | null
  enableNFTables?: boolean | null
  configProblem?: string | null
  /**
   * Why some leases no longer fit the network config (a SubnetLen, SubnetMin or SubnetMax edited
   * under the nodes): their nodes keep those subnets and go on syncing their peers.
   */
  offConfig?: string | null
  migration: UnfinishedMigration | null
  /**
   * This host's static peers (`peer add`, the hand-run flanneld), from its record, when the store is
   * the one init recorded here: its peers as much as the leases are. A lab's: each node's, `node`
   * naming it (the others route none of them). Absent: none, or not this host's.
   */
  staticPeers?: {subnet: string; publicIP: string; vtepMAC?: string; node?: string}[]
}

/** A migration that has not finished, as `lease list --json` and doctor tell it. */
export interface UnfinishedMigration {
  from: string
  to: string
  /** steps finished, of `total` */
  done: number
  total: number
  /** the command that finishes it (with the --lab or --inventory it was started with) */
  finish: string
  /** a --rollback that stopped (absent in a snapshot of an older flannelctl) */
  rollback?: boolean
  /** past the net-conf's commit: every node forwards the new way, the clean-up is what is left */
  committed?: boolean
}

function unfinished(text: string | undefined): UnfinishedMigration | undefined {
  let record
  try {
    record = parseMigrationRecord(text)
  } catch {
    return undefined // a record this flannelctl cannot read: migrate itself says so
  }
  if (record?.state !== 'running') return undefined
  return {...migrationLabels(record), done: record.done, total: record.steps.length, finish: finishCommand(record), rollback: record.rollbackOf !== undefined,
    committed: record.steps.some((step, i) => step.kind === 'commit-config' && i < record.done)}
}

function finishCommand(record: MigrationRecord): string {
  return record.rollbackOf ? 'flannelctl migrate --rollback --yes' : `flannelctl migrate ${migrateFlags(record.to, record.from)} --yes`
}

/** Which migration stopped where. */
export function migrationStopped(m: UnfinishedMigration): string {
  return `a ${m.rollback === true ? 'rollback' : 'migration'} ${m.from} → ${m.to} stopped after step ${m.done} of ${m.total}: ${m.committed === true
    ? 'every node forwards the new way; what only the old way needed, and any rp_filter it loosened, stay until it finishes'
    : 'nodes forward in a mixed state until it finishes'}`
}

/** One line: which migration stopped where, and what finishes it. */
export function migrationNote(m: UnfinishedMigration): string {
  return `${migrationStopped(m)} (${m.finish}, with the --lab or --inventory it was started with)`
}

/** The store's view as `lease list --json` says it and collect saves it beside a snapshot (StoreSummary without its spec). */
export function storeSummary(r: Awaited<ReturnType<typeof listLeases>>): Omit<StoreSummary, 'store'> {
  return {network: r.netConf?.network ?? null, backend: r.netConf?.backend ?? null, enableNFTables: r.netConf === undefined ? null : r.netConf.enableNFTables === true,
    configProblem: r.configProblem ?? null, offConfig: r.offConfig ?? null, leases: r.leases, migration: r.migration ?? null}
}

/** What `lease list` shows, of a store or a lab's (`lease list --json` prints it as is). */
export type LeaseView = StoreSummary & {invalid: InvalidEntry[]}

export async function leaseView(storeSpec: string, opts: Parameters<typeof openStore>[1] = {}): Promise<LeaseView> {
  const r = await listLeases(storeSpec, opts)
  return {store: r.store, ...storeSummary(r), invalid: r.invalid}
}

export async function listLeases(storeSpec: string, opts: Parameters<typeof openStore>[1] = {}): Promise<{netConf?: NetConf; configProblem?: string; offConfig?: string; leases: Lease[]; invalid: InvalidEntry[]; store: string; migration?: UnfinishedMigration}> {
  const store = await openStore(storeSpec, opts).catch(asReadFailure)
  try {
    const absence = await store.absence?.()
    if (absence !== undefined) throw userError(`there is no store at ${store.describe()}: ${absence}`, 'check --store and FLANNELCTL_STORE, or give --state-file of a host init set up with one (its store is recorded there); init creates a file store, lease list only reads one')
    const raw = await store.getConfig()
    const {leases, invalid} = await store.listLeases()
    const migration = unfinished(await store.getMeta(MIGRATION_META_KEY))
    // A config that does not parse stops every node's sync: the leases are what one looks at then.
    let netConf: NetConf | undefined
    let configProblem: string | undefined
    try {
      netConf = raw === undefined ? undefined : parseStoredNetConf(store, raw)
    } catch (e) {
      if (!isUserError(e)) throw e
      configProblem = `${e.message}; no node can sync until it is fixed${e.hint ? ` (${e.hint})` : ''}`
    }
    // SubnetLen, SubnetMin or SubnetMax edited under the nodes: each keeps its subnet (another would
    // strand its pods) and goes on syncing its peers; only their own subnets are off the config.
    const misfits = netConf === undefined ? [] : leases.flatMap(l => {
      const why = subnetMisfit(netConf!, l.subnet)
      return why === undefined ? [] : [{subnet: l.subnet, why}]
    })
    const offConfig = misfits.length === 0 ? undefined
      : `${misfits.length === leases.length ? 'no lease fits' : `${misfits.length} of ${leases.length} leases do not fit`} the network config (${misfits[0].subnet}: ${misfits[0].why}): their nodes keep these subnets, with their pods, and go on syncing their peers (new nodes lease at the config's size); if the config was edited by mistake, put it back; to resize on purpose, move each node (flannelctl reset --release, flannelctl init, re-create its pods)`
    return {netConf, configProblem, ...(offConfig ? {offConfig} : {}), leases: leases.sort((a, b) => a.subnet.localeCompare(b.subnet, 'en', {numeric: true})), invalid, store: store.describe(), ...(migration ? {migration} : {})}
  } catch (e) {
    return asReadFailure(e)
  } finally {
    await store.close()
  }
}

/**
 * `byMigration`: the write is a migration's own commit step. Anyone else is refused while a
 * migration runs: its nodes follow the migration, not the net-conf, and its commit step would
 * overwrite the change.
 */
export async function setBackend(storeSpec: string, opts: Parameters<typeof openStore>[1], backend: {type: string; directRouting?: boolean; vni?: number; port?: number},
  {dryRun = false, byMigration = false} = {}): Promise<{before: NetConf; after: NetConf; config: string; changed: boolean}> {
  const run = writeBackend(storeSpec, opts, backend, {dryRun, byMigration})
  // a --dry-run only reads: a store that does not answer is exit 2, as init and sync --dry-run
  return dryRun ? run.catch(asReadFailure) : run
}

async function writeBackend(storeSpec: string, opts: Parameters<typeof openStore>[1], backend: Parameters<typeof setBackend>[2],
  {dryRun, byMigration}: {dryRun: boolean; byMigration: boolean}): Promise<Awaited<ReturnType<typeof setBackend>>> {
  const store = await openStore(storeSpec, opts)
  try {
    const raw = await store.getConfig()
    if (raw === undefined) throw noNetworkConfigError(store.describe())
    const migration = byMigration ? undefined : parseMigrationRecord(await store.getMeta(MIGRATION_META_KEY))
    if (migration?.state === 'running') {
      const labels = migrationLabels(migration)
      throw userError(`a migration ${labels.from} → ${labels.to} across ${migration.nodes.map(n => n.name).join(', ')} is in progress (step ${migration.done} of ${migration.steps.length}): its nodes follow it, not the net-conf, and it would overwrite this`,
        `nothing was changed; finish it first: ${finishCommand(migration)} with the --lab or --inventory it was started with, then set the backend`)
    }
    const before = parseStoredNetConf(store, raw)
    const conf = JSON.parse(raw) as Record<string, unknown>
    const key = Object.keys(conf).find(k => k.toLowerCase() === 'backend') ?? 'Backend'
    // The same type keeps every setting not named (Port, MTU, GBP…): a dropped Port would move every node's dstport.
    const b: Record<string, unknown> = before.backend.type === backend.type ? {...(conf[key] as Record<string, unknown> | undefined)} : {}
    const set = (name: string, value: unknown): void => {
      for (const k of Object.keys(b)) if (k.toLowerCase() === name.toLowerCase()) delete b[k]
      b[name] = value
    }
    set('Type', backend.type)
    if (backend.type === 'vxlan') {
      if (backend.vni !== undefined || before.backend.type !== 'vxlan') set('VNI', backend.vni ?? 1)
      if (backend.port !== undefined) set('Port', backend.port)
      if (backend.directRouting !== undefined) set('DirectRouting', backend.directRouting)
    }
    conf[key] = b
    const json = JSON.stringify(conf)
    const after = parseNetConf(json)
    // the backend it already has: no write, so no agent wakes for a store event that changes nothing
    const changed = !isDeepStrictEqual(JSON.parse(raw), conf)
    if (!dryRun && changed) await store.putConfig(json)
    return {before, after, config: json, changed}
  } finally {
    await store.close()
  }
}

export interface RecordedStore {spec: string; options: StoreOptions; staticPeers: NodeRecord['staticPeers']}

/** The store to read when none is named: the one `init` recorded on this host, else the default. */
export async function recordedStore(stateFile: string | undefined, etcdPassword?: string): Promise<RecordedStore | undefined> {
  const {rec} = await loadRecord(new HostAdapter(new RealRunner()), {stateFile}, true)
  return rec ? storeOfRecord(rec, etcdPassword) : undefined
}

/** The store a record of this host names, for a caller that has read the record already. */
export function storeOfRecord(rec: NodeRecord, etcdPassword?: string): RecordedStore {
  return {spec: rec.store, options: storeOptions(rec, {etcdPassword}), staticPeers: rec.staticPeers ?? []}
}
