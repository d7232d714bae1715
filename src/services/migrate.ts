/**
 * migrate: change the backend of a running network without losing a packet. The steps come from
 * core/migrate-plan.ts; this file reads the nodes, checks what the target needs before touching
 * anything, and runs each step on its node, keeping the migration record in the store so a run
 * killed midway resumes (or rolls back) where it stopped.
 *
 * A node's network changes only through `reconcile`, which reads the record and builds that node's
 * transitional state, so this process and an agent's `sync --watch` always build the same thing.
 * rp_filter is the one thing changed outside reconcile: it is not flannel's, we only lend it.
 */
import {join} from 'node:path'
import {randomBytes} from 'node:crypto'
import {userError, isUserError, FlannelctlError, ExitCode, asReadFailure} from '../errors.js'
import {HostAdapter} from '../adapters/host.js'
import {parseTarget} from '../adapters/target.js'
import type {Runner} from '../adapters/runner.js'
import type {HostSnapshot} from '../core/model.js'
import {readInventory} from './collect.js'
import {DEFAULT_VXLAN_PORT, type NetConf} from '../core/netconf.js'
import {stableVtepMac, vxlanDeviceName} from '../core/flannel.js'
import {
  MIGRATION_META_KEY, beginMigration, reverseMigration, withStepState, withStepDone, parseMigrationRecord, sameBackend,
  backendLabel, backendLabelInFull, migrationLabels, migrateFlags, describeSteps, offLinkPairs, offLinkRefusal, hostChecks, loosenWrites, restoreWrites, rpFilterKey,
  type MigrationBackend, type MigrationRecord, type HostCheck, type StepView, type RouteGetAnswer,
  type PlanContext,
} from '../core/migrate-plan.js'
import {noNetworkConfigError, openStore, parseStoredNetConf, type Store, type Lease} from '../store/store.js'
import {reconcile, storeOptions, DEFAULT_STATE_FILE, type NodeOptions, type NodeRecord, type ReconcileResult} from './node.js'
import {setBackend} from './lease.js'
import {loadLab, requireLabRoot} from './lab.js'
import {makeContext, type ServiceContext} from './context.js'
import {StopSignals, signalExitCode} from '../adapters/stop-signals.js'

/** Hidden test hook: SIGKILL this process right after step N (1-based) changed its node, before it is recorded as done. */
export const KILL_AFTER_ENV = 'FLANNELCTL_MIGRATE_KILL_AFTER'

export interface MigrateRequest {
  backend?: 'vxlan' | 'host-gw'
  directRouting?: boolean
  /** a new VNI (vxlan): alone it keeps the backend type and DirectRouting as they are */
  vni?: number
  /** a new UDP port (vxlan), with a new VNI: two devices of one VNI would have one name */
  port?: number
  rollback?: boolean
  /** cluster targets; neither means this host only */
  lab?: string
  inventory?: string
  /** this host's node flags (local mode); `store` also overrides the store in cluster mode */
  node: NodeOptions
  /** --yes: run the steps; else only plan */
  apply: boolean
  verbose?: boolean
}

export interface MigrateResult {
  mode: 'cluster' | 'local'
  from: string
  to: string
  /** a migration already in the store was picked up where it stopped */
  resumed: boolean
  /** the step (1-based) a resumed migration continued at */
  resumedAt?: number
  nothingToDo: boolean
  applied: boolean
  /** cluster mode: the nodes, in the record's order (also when there is nothing to do and so no record) */
  nodes?: string[]
  record?: MigrationRecord
  steps: StepView[]
  checks: HostCheck[]
  notes: string[]
  /** local mode: this host's reconcile */
  reconcile?: ReconcileResult
}

interface ClusterNode {
  name: string
  runner: Runner
  host: HostAdapter
  options: NodeOptions
  record: NodeRecord
  snap: HostSnapshot
  /** rp_filter per device now */
  rpFilter: Record<string, string>
}

/** rp_filter of `all` and the devices the migration involves; devices that do not exist are left out. */
async function readRpFilter(host: HostAdapter, devices: string[]): Promise<Record<string, string>> {
  const key = (d: string) => `net.ipv4.conf.${d}.rp_filter`
  // `default`: what a device made during the migration (flannel.1) starts with
  const values = await host.sysctls(['all', 'default', ...devices].map(key))
  const out: Record<string, string> = {}
  for (const d of ['all', 'default', ...devices]) if (/^\d+$/.test(values[key(d)] ?? '')) out[d] = values[key(d)]
  return out
}

function involvedDevices(rec: NodeRecord, ...vnis: number[]): string[] {
  return [rec.iface, rec.bridge, ...new Set(vnis.map(vxlanDeviceName))]
}

/** The first flag that names a target, if any. */
function targetFlag(req: MigrateRequest): string | undefined {
  return req.backend ? '--backend' : req.vni !== undefined ? '--vni' : req.port !== undefined ? '--port' : undefined
}

/** Where the flags point, from `current`: --backend (with --directrouting), --vni (with --port), or both. */
function migrationTarget(current: MigrationBackend, req: MigrateRequest): MigrationBackend {
  if (!req.backend && current.type !== 'vxlan') {
    throw userError(`the network uses ${current.type}; --vni and --port are settings of vxlan`, `migrate to vxlan: flannelctl migrate --backend vxlan${req.vni === undefined ? '' : ` --vni ${req.vni}`}${req.port === undefined ? '' : ` --port ${req.port}`} ...`)
  }
  const type = req.backend ?? current.type
  const to = {...current, type, vni: req.vni ?? current.vni, port: req.port ?? current.port,
    directRouting: type === 'vxlan' && (Boolean(req.directRouting) || (!req.backend && current.directRouting))}
  if (current.type === 'vxlan' && to.type === 'vxlan' && to.port !== current.port && to.vni === current.vni) {
    throw userError(`a new port alone cannot be changed without loss: the device on port ${to.port} would be ${vxlanDeviceName(to.vni)} too, the name of the one on port ${current.port}, so no node could have both while the nodes switch`,
      `change the VNI with it: flannelctl migrate --vni ${current.vni === 1 ? 2 : current.vni + 1} --port ${to.port} ...; to keep VNI ${current.vni}, migrate back to it after that (flannelctl migrate --vni ${current.vni} ...: the port stays ${to.port}), without loss either; or set it with flannelctl backend set vxlan --port ${to.port}, and pods lose traffic between nodes on either side until every node has synced`)
  }
  return to
}


function toMigrationBackend(nc: NetConf): MigrationBackend {
  if (nc.backend.type === 'udp') throw userError('the network uses the udp backend, which flannelctl does not build', 'set it with: flannelctl backend set vxlan')
  return {type: nc.backend.type, vni: nc.backend.vni, port: nc.backend.port, directRouting: nc.backend.type === 'vxlan' && nc.backend.directRouting}
}

/**
 * `name` undefined: the host migrate runs on, without --lab or --inventory (which may just have been forgotten).
 * `inventory`: the file that named the node, where its own stateFile: goes when init wrote it elsewhere.
 */
async function readNodeRecord(host: HostAdapter, name: string | undefined, path: string, inventory?: string): Promise<NodeRecord> {
  const text = await host.readFile(path)
  const subject = name === undefined ? 'this host' : `node ${name}`
  const initThere = name === undefined ? 'here' : `on ${name}`
  if (text === undefined) {
    const elsewhere = name === undefined ? ', or name the nodes to migrate: --lab NAME or --inventory FILE'
      : inventory !== undefined ? `; if it keeps its state file elsewhere, give it \`stateFile: PATH\` in ${inventory} (or --state-file, for every node)` : ''
    throw userError(`${subject} has no flannelctl state at ${path}`, `run flannelctl init ${initThere} first${elsewhere}`)
  }
  try {
    const rec = JSON.parse(text) as NodeRecord
    if (!rec.subnet) throw new Error('no subnet')
    return rec
  } catch {
    throw userError(`${subject}: ${path} is not a flannelctl node record`, `run flannelctl init ${initThere} again`)
  }
}

async function clusterNodes(req: MigrateRequest): Promise<{nodes: ClusterNode[]; storeSpec?: string}> {
  let specs: {name: string; runner: Runner; options: NodeOptions}[]
  let storeSpec = req.node.store
  const runnerFor = (target: ReturnType<typeof parseTarget>) => makeContext({target, verbose: req.verbose}).runner
  if (req.lab) {
    const lab = await loadLab(req.lab, '--lab')
    requireLabRoot(lab.name, 'migrate --lab')
    storeSpec ??= lab.store
    specs = lab.nodes.map(n => ({
      name: n.name,
      runner: runnerFor({kind: 'netns', name: n.netns}),
      options: {store: lab.store, subnetFile: join(n.dir, 'subnet.env'), cniConfDir: join(n.dir, 'cni'), cniIpamDir: join(n.dir, 'ipam'), stateFile: join(n.dir, 'node.json')},
    }))
  } else {
    const inv = await readInventory(req.inventory!)
    // Node flags (--state-file, --subnet-file, ...) say where things are on every host, unless the
    // inventory names a node's own (hosts sharing one filesystem).
    specs = inv.nodes.map(({name, exec, ...files}) => ({name, runner: runnerFor(parseTarget(exec ?? 'local')), options: {...req.node, ...files}}))
  }
  const nodes = await Promise.all(specs.map(async (s): Promise<ClusterNode> => {
    const host = new HostAdapter(s.runner, s.name)
    const record = await readNodeRecord(host, s.name, s.options.stateFile ?? DEFAULT_STATE_FILE, req.inventory)
    const snap = await host.snapshot()
    const rpFilter = await readRpFilter(host, involvedDevices(record, record.vni ?? 1, ...req.vni === undefined ? [] : [req.vni]))
    return {...s, host, record, snap, rpFilter}
  }))
  const byPublicIP = new Map<string, string>()
  for (const n of nodes) {
    const other = byPublicIP.get(n.record.publicIP)
    if (other !== undefined) {
      throw userError(`nodes ${other} and ${n.name} both have the record of public IP ${n.record.publicIP}`,
        `either two nodes were set up with one --public-ip (give each its own), or they read one state file: hosts sharing a filesystem (network namespaces) need a state file each${req.inventory ? ', given in the inventory (stateFile:, and subnetFile: and cniConfDir: when those differ too)' : ''}`)
    }
    byPublicIP.set(n.record.publicIP, n.name)
  }
  return {nodes, storeSpec: storeSpec ?? nodes[0]?.record.store}
}

/** `ip route get PEER` on every node for every other node. */
async function routeGets(nodes: ClusterNode[]): Promise<RouteGetAnswer[]> {
  const pairs = nodes.flatMap(a => nodes.filter(b => b !== a).map(b => ({a, b})))
  return Promise.all(pairs.map(async ({a, b}) => {
    const r = await a.host.routeGet(b.record.publicIP)
    return {from: a.name, to: b.name, toIP: b.record.publicIP, gateway: r?.gateway, dev: r?.dev, failed: r === undefined}
  }))
}

function refuseOffLink(off: RouteGetAnswer[], total: number, from: MigrationBackend, nodes: string): never {
  const {message, hint} = offLinkRefusal(off, total, from, nodes)
  throw userError(message, hint)
}

function vtepMacOf(lease: Lease | undefined, rec: NodeRecord, vni: number): string {
  const mac = lease?.backendData?.VtepMAC
  return typeof mac === 'string' ? mac : stableVtepMac(rec.publicIP, vni)
}

function planContext(nodes: ClusterNode[], leases: Lease[], answers: RouteGetAnswer[], vni: number): PlanContext {
  const ctx: PlanContext = {rpFilterNow: {}, vtepMACs: {}, onLink: {}}
  for (const n of nodes) {
    const ip = n.record.publicIP
    ctx.rpFilterNow[ip] = n.rpFilter
    ctx.vtepMACs[ip] = vtepMacOf(leases.find(l => l.publicIP === ip), n.record, vni)
    ctx.onLink[ip] = answers.filter(a => a.from === n.name && !a.failed && a.gateway === undefined).map(a => a.toIP)
  }
  return ctx
}

/**
 * Every lease must belong to a node we migrate: a host left behind would stay on the old backend.
 * Continuing a migration already running, the leases of other hosts are returned instead (they
 * joined after it began).
 */
function checkCoverage(nodes: ClusterNode[], leases: Lease[], store: Store, continuing: boolean): Lease[] {
  for (const n of nodes) {
    const lease = leases.find(l => l.subnet === n.record.subnet)
    if (!lease || lease.publicIP !== n.record.publicIP) {
      throw userError(`node ${n.name} (${n.record.publicIP}) holds no lease for ${n.record.subnet} in ${store.describe()}`,
        `run flannelctl sync on ${n.name} first, or check that every node uses the same --store`)
    }
  }
  const known = new Set(nodes.map(n => n.record.publicIP))
  const strangers = leases.filter(l => !known.has(l.publicIP))
  if (strangers.length && !continuing) {
    throw userError(`the store holds leases of hosts that are not being migrated: ${strangers.map(l => `${l.subnet} (${l.publicIP})`).join(', ')}`,
      'add those hosts to the inventory (or release their leases) so no host is left on the old backend')
  }
  return strangers
}

function nodesFlag(req: MigrateRequest): string {
  return req.lab ? `--lab ${req.lab}` : `--inventory ${req.inventory}`
}

/** flannel's config leaves the default port out; so do we, but for a port changed back to it (left out, the old Port would stay). */
function explicitPort(to: MigrationBackend, from: MigrationBackend): number | undefined {
  return to.port === DEFAULT_VXLAN_PORT && from.port === DEFAULT_VXLAN_PORT ? undefined : to.port
}

function newId(): string {
  return `${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`
}

export async function migrate(ctx: ServiceContext, req: MigrateRequest): Promise<MigrateResult> {
  const target = targetFlag(req)
  if (!req.rollback && target === undefined) throw userError('say which backend (or VNI) to migrate to', 'e.g. flannelctl migrate --backend host-gw --plan, --vni 2 --plan, or --rollback')
  if (req.rollback && target) throw userError(`--rollback returns to the backend the last migration left; it takes no ${target}`, `drop ${target}`)
  if (req.directRouting && req.backend === 'host-gw') throw userError('--directrouting is a vxlan option', 'use --backend vxlan --directrouting')
  if ((req.vni !== undefined || req.port !== undefined) && req.backend === 'host-gw') throw userError(`${req.vni !== undefined ? '--vni' : '--port'} is a vxlan setting: host-gw has no VNI or port`, `drop it, or use --backend vxlan`)
  if (req.lab && req.inventory) throw userError('--lab and --inventory both name the nodes', 'pass one of them')
  const run = req.lab || req.inventory ? migrateCluster(ctx, req) : migrateThisHost(ctx, req)
  // a plan (--plan, or no --yes) only reads: a store that does not answer is exit 2, as every dry run;
  // with --yes it stays exit 3, the run to repeat, which resumes
  return req.apply ? run : run.catch(asReadFailure)
}

async function migrateCluster(ctx: ServiceContext, req: MigrateRequest): Promise<MigrateResult> {
  const {nodes, storeSpec} = await clusterNodes(req)
  if (nodes.length === 0) throw userError('no nodes to migrate', 'list them in the inventory')
  const first = nodes[0].record
  const otherStore = nodes.find(n => n.record.store !== storeSpec)
  if (otherStore && !req.node.store) {
    throw userError(`nodes ${nodes[0].name} and ${otherStore.name} use different stores (${storeSpec}, ${otherStore.record.store})`, 'one network has one store: pass --store')
  }
  const storeOpts = storeOptions(first, req.node)
  const store = await openStore(storeSpec, storeOpts)
  try {
    const raw = await store.getConfig()
    if (raw === undefined) throw noNetworkConfigError(store.describe(), 'run flannelctl init first')
    const nc = parseStoredNetConf(store, raw)
    const {leases} = await store.listLeases()
    const storedText = await store.getMeta(MIGRATION_META_KEY)
    const existing = parseMigrationRecord(storedText)
    // Hosts that joined while a migration was stopped cannot be taken into its fixed steps; refusing
    // them would leave that migration unable to finish or roll back.
    const joined = checkCoverage(nodes, leases, store, existing?.state === 'running' && (req.rollback || targetFlag(req) !== undefined))
    for (const l of joined) {
      ctx.progress(`warning: ${l.subnet} (${l.publicIP}) joined after this migration began and is not part of it: it follows the store's net-conf on its own sync; `
        + `run flannelctl sync there once this finishes (an agent, sync --watch, does so by itself), until then it may not reach the migrated nodes`)
    }
    const now = () => new Date().toISOString()

    let record: MigrationRecord
    let resumed = false
    if (req.rollback && existing?.state === 'running' && existing.rollbackOf !== undefined) {
      // A rollback cut short: the same command again finishes it. Reversing it would undo the rollback.
      record = existing
      resumed = true
    } else if (req.rollback) {
      if (!existing) throw userError('there is no migration to roll back in the store', 'migrate with --backend')
      const current = toMigrationBackend(nc)
      if (existing.state === 'done' && !sameBackend(current, existing.to)) {
        throw userError(`the network's backend changed since the last migration (it moved to ${backendLabel(existing.to, current)}, it is ${backendLabel(current, existing.to)} now)`,
          `migrate to the backend you want with --backend, e.g. flannelctl migrate ${migrateFlags(existing.from, current)} ${nodesFlag(req)} --yes`)
      }
      record = reverseMigration(existing, newId(), now())
    } else if (existing?.state === 'running') {
      const want = migrationTarget(existing.to, req)
      if (!sameBackend(want, existing.to)) {
        const labels = migrationLabels(existing)
        throw userError(`a ${existing.rollbackOf ? 'rollback' : 'migration'} ${labels.from} → ${labels.to} is in progress (step ${existing.done} of ${existing.steps.length})`,
          existing.rollbackOf
            ? `finish it: flannelctl migrate --rollback ${nodesFlag(req)} --yes; then migrate to the backend you want`
            : `finish it: flannelctl migrate ${migrateFlags(existing.to, existing.from)} ${nodesFlag(req)} --yes; or undo it: flannelctl migrate --rollback ${nodesFlag(req)} --yes`)
      }
      record = existing
      resumed = true
    } else {
      const from = toMigrationBackend(nc)
      record = beginMigration({
        id: newId(), now: now(), from, to: migrationTarget(from, req),
        nodes: nodes.map(n => ({name: n.name, publicIP: n.record.publicIP, subnet: n.record.subnet!, iface: n.record.iface, bridge: n.record.bridge})),
      })
    }
    const missing = record.nodes.filter(m => !nodes.some(n => n.record.publicIP === m.publicIP))
    const extra = nodes.filter(n => !record.nodes.some(m => m.publicIP === n.record.publicIP))
    if (missing.length || extra.length) {
      throw userError(`the migration in the store covers other nodes (${record.nodes.map(m => m.name).join(', ')}) than these (${nodes.map(n => n.name).join(', ')})`,
        'run it with the same --inventory or --lab it was started with')
    }
    // Node order is the record's, so a resumed run switches nodes in the order it began with.
    const ordered = record.nodes.map(m => nodes.find(n => n.record.publicIP === m.publicIP)!)

    const answers = await routeGets(ordered)
    if (record.to.type === 'host-gw') {
      const off = offLinkPairs(answers)
      if (off.length) refuseOffLink(off, answers.length, record.from, nodesFlag(req))
    }
    const checks = ordered.flatMap(n => hostChecks(n.name, n.snap, n.rpFilter, nc.network))
    const plan = planContext(ordered, leases, answers, record.to.vni)
    const labels = migrationLabels(record)
    const base = {mode: 'cluster' as const, nodes: ordered.map(n => n.name), ...labels, resumed,
      resumedAt: resumed ? record.done + 1 : undefined, checks, notes: [] as string[]}

    if (!req.rollback && !resumed && sameBackend(record.from, record.to)) {
      return {...base, nothingToDo: true, applied: false, steps: [],
        notes: [`the network already uses ${backendLabelInFull(record.to)}; \`flannelctl sync\` on each node converges it`]}
    }
    if (!req.apply) {
      return {...base, nothingToDo: false, applied: false, record, steps: describeSteps(record, plan)}
    }

    record = await runSteps(ctx, store, {record, storedText}, ordered, plan, {storeSpec: storeSpec!, storeOpts})
    const notes = [`every node is on ${labels.to}; \`flannelctl migrate --rollback ${nodesFlag(req)} --yes\` returns to ${labels.from} the same way`]
    return {...base, nothingToDo: false, applied: true, record, steps: describeSteps(record, plan), notes}
  } finally {
    await store.close()
  }
}

/**
 * Each write of the record is a swap from the text this run read or wrote last, under this run's
 * own `runBy`: a second `migrate` started meanwhile either loses its first write (and has changed
 * nothing) or takes the record over, and then this run stops at its next write. Two runs never
 * interleave their steps, so neither saves the other's loosened rp_filter as the original.
 */
async function runSteps(ctx: ServiceContext, store: Store, start: {record: MigrationRecord; storedText: string | undefined}, nodes: ClusterNode[], plan: PlanContext,
  where: {storeSpec: string; storeOpts: ReturnType<typeof storeOptions>}): Promise<MigrationRecord> {
  const runBy = randomBytes(6).toString('hex')
  let record: MigrationRecord = {...start.record, runBy}
  let last = start.storedText
  let claimed = false
  /** errors that already say where the migration stands */
  const told = new WeakSet<Error>()
  const save = async (r: MigrationRecord) => {
    const text = JSON.stringify({...r, runBy}, null, 2) + '\n'
    if (!await store.swapMeta(MIGRATION_META_KEY, last, text)) {
      const error = claimed
        ? new FlannelctlError('another flannelctl migrate took this migration over while this one ran; this one stopped after its last step',
          'let the other run finish; if it was stopped too, run the same command again to resume', ExitCode.failed)
        : userError('another flannelctl migrate changed the migration record since this one read it; nothing was changed by this one',
          `see where it stands: flannelctl migrate --plan with the same --backend/--rollback and nodes; run the same command again once the other has finished or stopped`)
      told.add(error)
      throw error
    }
    last = text
    claimed = true
  }
  const total = record.steps.length
  const killAfter = Number(process.env[KILL_AFTER_ENV] ?? 0)
  // Ctrl-C or SIGTERM stops between steps, with the record saved and saying so; a second one does not wait.
  const signals = new StopSignals(signal => ctx.progress(`${signal}: stopping after this step (once more to stop at once)`))
  const stopped = (done: number, during?: Error) => new FlannelctlError(
    `migration ${record.id} stopped by ${signals.signal}${during ? ` during step ${done + 1} (${during.message})` : ''}; ${done} of ${total} steps are done`,
    'the network forwards in this mixed state; run the same command again to resume where it stopped, or --rollback to go back',
    signalExitCode(signals.signal!))
  try {
    if (record.done > 0) ctx.progress(`resuming migration ${record.id} at step ${record.done + 1} of ${total}`)
    const width = String(total).length
    for (let i = record.done; i < total; i++) {
      if (signals.signal) throw stopped(i)
      const view = describeSteps(record, plan)[i]
      ctx.progress(`[${String(i + 1).padStart(width)}/${total}] ${(view.node ?? 'store').padEnd(6)} ${view.title}`)
      try {
        record = withStepState(record, i)
        await save(record)
        const node = nodes.find(n => n.record.publicIP === record.steps[i].node)
        record = await runStep(ctx, record, i, node, save, where)
        if (killAfter === i + 1) process.kill(process.pid, 'SIGKILL')
        record = withStepDone(record, i, new Date().toISOString())
        await save(record)
      } catch (error) {
        // On a terminal the signal reached the programs of the step too: that is why it failed.
        if (signals.signal) throw stopped(i, error as Error)
        // A node's or the store's error alone (etcd unreachable, a batch refused) does not say that
        // the network is half-way and that the same command resumes: a bug keeps its stack.
        if (!isUserError(error) || told.has(error)) throw error
        throw new FlannelctlError(`migration ${record.id} stopped at step ${i + 1} of ${total} (${view.node ?? 'store'}: ${view.title}): ${error.message}`,
          `${error.hint ? `${error.hint}; then ` : ''}run the same command again to resume at step ${i + 1} (${i} of ${total} are done, and the network forwards in this mixed state), or --rollback to go back`,
          error.exitCode)
      }
    }
    return record
  } finally {
    signals.dispose()
  }
}

async function runStep(ctx: ServiceContext, record: MigrationRecord, i: number, node: ClusterNode | undefined,
  save: (r: MigrationRecord) => Promise<void>, where: {storeSpec: string; storeOpts: ReturnType<typeof storeOptions>}): Promise<MigrationRecord> {
  const step = record.steps[i]
  switch (step.kind) {
    case 'loosen-rp-filter': {
      const n = node!
      const now = await readRpFilter(n.host, involvedDevices(n.record, record.from.vni, record.to.vni))
      const saved = record.nodes.find(m => m.publicIP === n.record.publicIP)!
      if (!saved.rpFilter) {
        // Saved before the first write: a run killed right after still knows what to put back.
        record = {...record, nodes: record.nodes.map(m => (m === saved ? {...m, rpFilter: now} : m))}
        await save(record)
      }
      await n.host.apply(loosenWrites(now).map(w => ({tool: 'sysctl' as const, key: rpFilterKey(w.dev), value: w.value, why: 'loose while nodes differ'})))
      return record
    }
    case 'restore-rp-filter': {
      const n = node!
      const saved = record.nodes.find(m => m.publicIP === n.record.publicIP)!.rpFilter ?? {}
      const now = await readRpFilter(n.host, Object.keys(saved).filter(d => d !== 'all'))
      await n.host.apply(restoreWrites(saved, now).map(w => ({tool: 'sysctl' as const, key: rpFilterKey(w.dev), value: w.value, why: 'as it was before the migration'})))
      return record
    }
    case 'add-vxlan-device':
    case 'add-vxlan-peers':
    case 'switch-routes':
    case 'remove-old': {
      const n = node!
      const result = await reconcileWithRetry(ctx, n)
      for (const w of result.warnings.slice(1)) ctx.progress(`    ${n.name}: warning: ${w}`)
      return record
    }
    case 'commit-config': {
      const to = record.to
      await setBackend(where.storeSpec, where.storeOpts, {type: to.type, directRouting: to.directRouting, vni: to.vni, port: explicitPort(to, record.from)}, {byMigration: true})
      return record
    }
    case 'finish':
      return record
  }
}

/**
 * An agent (`sync --watch`) on the node reacts to the same record change and may be applying the
 * same ops right now; the loser of that race sees "File exists". Read the host again and replan.
 */
async function reconcileWithRetry(ctx: ServiceContext, n: ClusterNode): Promise<ReconcileResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await reconcile({runner: n.runner, dryRun: false, progress: m => ctx.progress(`    ${n.name}: ${m}`)},
        {node: n.options, creating: false, what: 'migrate'})
    } catch (error) {
      if (attempt >= 3 || !isUserError(error)) throw error
      ctx.progress(`    ${n.name}: ${(error as Error).message}; reading the host again`)
      await new Promise(resolve => setTimeout(resolve, 200 * attempt))
    }
  }
}

/** Without --lab/--inventory: the store changes, this host follows; the others follow on their own sync. */
async function migrateThisHost(ctx: ServiceContext, req: MigrateRequest): Promise<MigrateResult> {
  const host = new HostAdapter(ctx.runner)
  const statePath = req.node.stateFile ?? DEFAULT_STATE_FILE
  const rec = await readNodeRecord(host, undefined, statePath)
  const storeSpec = req.node.store ?? rec.store
  const storeOpts = storeOptions({etcd: req.node.etcdPrefix ? {prefix: req.node.etcdPrefix, cafile: req.node.etcdCafile, certfile: req.node.etcdCertfile, keyfile: req.node.etcdKeyfile, username: req.node.etcdUsername} : rec.etcd}, req.node)
  const store = await openStore(storeSpec, storeOpts)
  let nc: NetConf
  let leases: Lease[]
  let existing: MigrationRecord | undefined
  try {
    const raw = await store.getConfig()
    if (raw === undefined) throw noNetworkConfigError(store.describe(), 'run flannelctl init first')
    nc = parseStoredNetConf(store, raw)
    leases = (await store.listLeases()).leases
    existing = parseMigrationRecord(await store.getMeta(MIGRATION_META_KEY))
  } finally {
    await store.close()
  }
  if (existing?.state === 'running') {
    const labels = migrationLabels(existing)
    throw userError(`a migration ${labels.from} → ${labels.to} across ${existing.nodes.length} nodes is in progress (step ${existing.done} of ${existing.steps.length})`,
      `finish it with the nodes it was started with: flannelctl migrate ${migrateFlags(existing.to, existing.from)} --lab NAME (or --inventory FILE) --yes; or roll it back: flannelctl migrate --rollback --lab NAME (or --inventory FILE) --yes`)
  }
  if (req.rollback) {
    throw userError('--rollback needs the nodes: a migration of this host alone keeps no record to undo', 'migrate back with --backend OLD, or use --inventory/--lab')
  }
  const from = toMigrationBackend(nc)
  const to = migrationTarget(from, req)
  const snap = await host.snapshot()
  const rpFilter = await readRpFilter(host, involvedDevices(rec, from.vni))
  const checks = hostChecks('this host', snap, rpFilter, nc.network)
  const labels = migrationLabels({from, to})
  const base = {mode: 'local' as const, ...labels, resumed: false, checks}
  if (sameBackend(from, to)) {
    return {...base, nothingToDo: true, applied: false, steps: [], notes: [`the network already uses ${backendLabelInFull(to)}; \`flannelctl sync\` converges this host`]}
  }
  const peers = leases.filter(l => l.publicIP !== rec.publicIP)
  if (to.type === 'host-gw') {
    const answers: RouteGetAnswer[] = await Promise.all(peers.map(async l => {
      const r = await host.routeGet(l.publicIP)
      return {from: 'this host', to: l.subnet, toIP: l.publicIP, gateway: r?.gateway, dev: r?.dev, failed: r === undefined}
    }))
    const off = offLinkPairs(answers)
    if (off.length) refuseOffLink(off, answers.length, from, '')
  }
  const steps: StepView[] = [
    {index: 0, kind: 'commit-config', title: `net-conf Backend → ${labels.to}`, commands: [],
      why: 'every node applies it on its next sync (sync --watch within a second)', done: false},
    {index: 1, kind: 'switch-routes', node: 'this host', title: `reconcile with ${labels.to} (peer routes replaced in place)`, commands: [],
      why: '`ip route replace` swaps each prefix in one step', done: false},
  ]
  const notes = [
    'this host only: the others switch on their next sync (with sync --watch, within a second). Until then traffic '
    + 'between them and this host can be lost (a peer still encapsulating to a VTEP this host removed, or strict rp_filter '
    + 'dropping a reply that arrives on the other device). To switch every node without losing a packet, run it once for all: '
    + `flannelctl migrate ${migrateFlags(to, from)} --inventory FILE --yes`,
  ]
  if (!req.apply) return {...base, nothingToDo: false, applied: false, steps, notes}
  await setBackend(storeSpec, storeOpts, {type: to.type, directRouting: to.directRouting, vni: to.vni, port: explicitPort(to, from)})
  ctx.progress(`store: net-conf Backend → ${labels.to}`)
  const result = await reconcile(ctx, {node: req.node, creating: false, what: 'migrate'})
  return {...base, nothingToDo: false, applied: true, steps: steps.map(s => ({...s, done: true})), notes, reconcile: result}
}
