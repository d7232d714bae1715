/**
 * Changing a running network's backend without losing packets, as data. A migration is a list of
 * steps fixed when it begins and kept in the store with each node's transitional state, so:
 * - any reconcile of a node while it runs (the migrating process, or an agent's `sync --watch`)
 *   builds that node's transitional state instead of undoing it (`migrationPhase`);
 * - a migration killed midway resumes at its first unfinished step (every step is idempotent);
 * - a rollback is a migration back, planned from the state the nodes are in.
 *
 * The recipe (design.md, "Migrate"), measured at 0 lost of ~5,200 pings:
 *   1. rp_filter loose on every node (a reply may come back on the other device while nodes differ)
 *   2. to vxlan: flannel.<VNI> plus neighbour/fdb entries for every peer on every node, routes unchanged
 *   3. each node's peer routes replaced (`ip route replace` is atomic per prefix), node by node
 *   4. the new config committed to the store; then what the old backend alone needed is removed
 *   5. each node's original rp_filter values restored
 * A new VNI is the same recipe between two vxlan devices: flannel.<new> is made beside flannel.<old>
 * (same MAC and address; the kernel's vxlan socket hands each VNI to its own device) on every node
 * before any route uses it, and flannel.<old> goes only once every node routes the new way.
 */
import {vtepAddress, vxlanDeviceName} from './flannel.js'
import {DEFAULT_VNI, DEFAULT_VXLAN_PORT, backendWords} from './netconf.js'
import type {HostSnapshot} from './model.js'
import {forwardAcceptHint, forwardVerdict, nativeDropText, nativeForwardDrops, partialAcceptText, podPathsOf} from './forward-verdict.js'
import {rulesMode} from './flannel-nft.js'

export const MIGRATION_META_KEY = 'migration'

export interface VtepDevice {
  vni: number
  port: number
}

export type MigrationBackendType = 'vxlan' | 'host-gw'

export interface MigrationBackend {
  type: MigrationBackendType
  /** the vxlan side's VNI and port, also on a host-gw backend (a node keeping its device needs them) */
  vni: number
  port: number
  directRouting: boolean
}

export interface MigrationNode {
  name: string
  /** identifies the node: the lease carrying this PublicIP is its own */
  publicIP: string
  subnet: string
  iface: string
  bridge: string
  /** the backend this node's peer routes follow now */
  routes: MigrationBackend
  /** flannel.<VNI> with every peer's neighbour/fdb entries is kept, and the lease advertises its VtepMAC */
  vxlanDevice: boolean
  /** a VNI change: the other VNI's device, kept beside the routes' own with every peer's entries (see NodeIntent.extraVtep) */
  extraVtep?: VtepDevice
  /** rp_filter per device (`all`, eth0, …) before the migration loosened it: what step 5 restores */
  rpFilter?: Record<string, string>
}

export type StepKind =
  | 'loosen-rp-filter' | 'add-vxlan-device' | 'add-vxlan-peers' | 'switch-routes'
  | 'commit-config' | 'remove-old' | 'restore-rp-filter' | 'finish'

export interface MigrationStep {
  kind: StepKind
  /** the node's publicIP; absent for store-only steps */
  node?: string
}

export interface MigrationRecord {
  version: 1
  id: string
  from: MigrationBackend
  to: MigrationBackend
  state: 'running' | 'done'
  startedAt: string
  finishedAt?: string
  /** id of the migration this one rolls back */
  rollbackOf?: string
  nodes: MigrationNode[]
  steps: MigrationStep[]
  /** how many steps (from the first) are finished */
  done: number
  /** the `migrate` run that wrote it last: a second run started meanwhile takes it over, and the first stops */
  runBy?: string
}

/** What a reconcile builds on a node while a migration runs. */
export interface MigrationPhase {
  backend: MigrationBackend
  keepVxlanDevice: boolean
  extraVtep?: VtepDevice
  /** the migration's vxlan devices: the one this node no longer keeps is removed */
  vxlanDevices: string[]
  /** one line for sync's output */
  note: string
}

/**
 * Which of vxlan `b`'s settings the other end of a migration does not imply: the VNI (also when the
 * port alone differs: a port goes with its VNI) and the port that differ from that end's, or from
 * flannel's defaults when that end is host-gw (a `--vni 2` from host-gw is news too).
 */
function vxlanChanges(b: Partial<MigrationBackend> & Pick<MigrationBackend, 'type'>, against: MigrationBackend | undefined): {vni: boolean; port: boolean} {
  if (b.type !== 'vxlan' || against === undefined) return {vni: false, port: false}
  const base = against.type === 'vxlan' ? against : {vni: DEFAULT_VNI, port: DEFAULT_VXLAN_PORT}
  const port = b.port !== undefined && b.port !== base.port
  return {vni: port || (b.vni !== undefined && b.vni !== base.vni), port}
}

/** `b` in words; `against` (the other end of a migration) adds the VNI and port it does not imply. */
export function backendLabel(b: Pick<MigrationBackend, 'type' | 'directRouting'> & Partial<MigrationBackend>, against?: MigrationBackend): string {
  const c = vxlanChanges(b, against)
  const detail = `${c.vni ? ` VNI ${b.vni}` : ''}${c.port ? ` port ${b.port}` : ''}`
  return backendWords(b, detail)
}

/** The backend with its VNI and port whatever they are compared with: what the network already uses. */
export function backendLabelInFull(b: MigrationBackend): string {
  return b.type === 'vxlan' ? backendWords(b, ` VNI ${b.vni} port ${b.port}`) : backendLabel(b)
}

/** The flags of `flannelctl migrate` that move to `b` from `other` (--vni and --port too when they change). */
export function migrateFlags(b: MigrationBackend, other: MigrationBackend): string {
  const c = vxlanChanges(b, other)
  return `--backend ${b.type}${b.directRouting ? ' --directrouting' : ''}${c.vni ? ` --vni ${b.vni}` : ''}${c.port ? ` --port ${b.port}` : ''}`
}

/** A migration's two ends as they read side by side: with their VNIs (and ports) when those change. */
export function migrationLabels(r: Pick<MigrationRecord, 'from' | 'to'>): {from: string; to: string} {
  return {from: backendLabel(r.from, r.to), to: backendLabel(r.to, r.from)}
}

/**
 * One backend as the nodes forward: a VNI and port are vxlan's. A host-gw end keeps the VNI it came
 * from (the devices a migration keeps are named by it) while the net-conf's host-gw has the default
 * one: comparing them refused `migrate --rollback` after vxlan VNI 2 → host-gw.
 */
export function sameBackend(a: MigrationBackend, b: MigrationBackend): boolean {
  return a.type === b.type && a.directRouting === b.directRouting && (a.type !== 'vxlan' || (a.vni === b.vni && a.port === b.port))
}

export function vniChange(from: MigrationBackend, to: MigrationBackend): boolean {
  return from.type === 'vxlan' && to.type === 'vxlan' && from.vni !== to.vni
}

type NodeState = Pick<MigrationNode, 'publicIP' | 'routes' | 'vxlanDevice' | 'extraVtep'>

/** The vxlan devices a node has now: its routes' own (when it routes vxlan or keeps it) and a VNI change's other one. */
export function vtepsOf(n: Omit<NodeState, 'publicIP'>): VtepDevice[] {
  const own = n.vxlanDevice || n.routes.type === 'vxlan' ? [{vni: n.routes.vni, port: n.routes.port}] : []
  return n.extraVtep ? [...own, n.extraVtep] : own
}

/** A node has the target's VTEP, with its peers' entries; else the two add passes come first. */
function hasVtepOf(to: MigrationBackend, n: NodeState): boolean {
  // the routes' own device, as a node leaving or joining vxlan on one VNI has it: kept or not
  return n.routes.vni === to.vni ? n.vxlanDevice : n.extraVtep?.vni === to.vni
}

/** Everything the old backend alone needed is gone only after this step kind; see planSteps. */
function needsRemoval(to: MigrationBackend, nodes: NodeState[]): boolean {
  return to.type === 'host-gw' || to.directRouting || nodes.some(n => vtepsOf(n).some(v => v.vni !== to.vni))
}

/** The ordered steps from the nodes' current state to `to`. Nodes switch in the order given. */
export function planSteps(to: MigrationBackend, nodes: NodeState[]): MigrationStep[] {
  const each = (kind: StepKind) => nodes.map(n => ({kind, node: n.publicIP}))
  const steps: MigrationStep[] = each('loosen-rp-filter')
  if (to.type === 'vxlan' && nodes.some(n => !hasVtepOf(to, n))) {
    // Two passes: the first publishes every node's VtepMAC, the second gives every node every peer's.
    steps.push(...each('add-vxlan-device'), ...each('add-vxlan-peers'))
  }
  steps.push(...each('switch-routes'), {kind: 'commit-config'})
  if (needsRemoval(to, nodes)) steps.push(...each('remove-old'))
  steps.push(...each('restore-rp-filter'), {kind: 'finish'})
  return steps
}

export interface BeginInput {
  id: string
  now: string
  from: MigrationBackend
  to: MigrationBackend
  nodes: Pick<MigrationNode, 'name' | 'publicIP' | 'subnet' | 'iface' | 'bridge'>[]
}

export function beginMigration(input: BeginInput): MigrationRecord {
  // The VNI means nothing to host-gw: its side takes the other's, so no device changes for it.
  const from = input.from.type === 'host-gw' ? {...input.from, vni: input.to.vni, port: input.to.port} : input.from
  const to = input.to.type === 'host-gw' ? {...input.to, vni: from.vni, port: from.port} : input.to
  const nodes: MigrationNode[] = input.nodes.map(n => ({...n, routes: from, vxlanDevice: from.type === 'vxlan'}))
  return {
    version: 1, id: input.id, from, to, state: 'running', startedAt: input.now,
    nodes, steps: planSteps(to, nodes), done: 0,
  }
}

/**
 * Back to where `record` came from, the same careful way. A running migration's nodes keep their
 * transitional state and the rp_filter values it saved (the current ones are its loosened ones);
 * after a finished one the nodes start clean from its target.
 */
export function reverseMigration(record: MigrationRecord, id: string, now: string): MigrationRecord {
  const nodes: MigrationNode[] = record.state === 'running'
    ? record.nodes.map(n => ({...n}))
    : record.nodes.map(({rpFilter: _saved, extraVtep: _gone, ...n}) => ({...n, routes: record.to, vxlanDevice: record.to.type === 'vxlan'}))
  return {
    version: 1, id, from: record.to, to: record.from, state: 'running', startedAt: now, rollbackOf: record.id,
    nodes, steps: planSteps(record.from, nodes), done: 0,
  }
}

/**
 * The record as it must read before step `index` touches a host: what the step changes in the
 * node's transitional state, so a reconcile that runs meanwhile builds the same thing.
 */
export function withStepState(record: MigrationRecord, index: number): MigrationRecord {
  const step = record.steps[index]
  const nodes = record.nodes.map(n => {
    if (n.publicIP !== step.node) return n
    const to = record.to
    switch (step.kind) {
      case 'add-vxlan-device': return n.routes.vni === to.vni ? {...n, vxlanDevice: true} : {...n, extraVtep: {vni: to.vni, port: to.port}}
      // A node leaving vxlan routes (or a VNI) keeps its VTEP: peers not yet switched still encapsulate to it.
      case 'switch-routes': {
        const had = vtepsOf(n)
        const {extraVtep: _was, ...rest} = n
        const old = had.find(v => v.vni !== to.vni)
        return {...rest, routes: to, vxlanDevice: to.type === 'vxlan' || had.some(v => v.vni === to.vni), ...(old ? {extraVtep: old} : {})}
      }
      case 'remove-old': {
        const {extraVtep: _gone, ...rest} = n
        return {...rest, vxlanDevice: to.type === 'vxlan' && !to.directRouting}
      }
      default: return n
    }
  })
  return {...record, nodes}
}

/** The record once step `index` is finished. */
export function withStepDone(record: MigrationRecord, index: number, now: string): MigrationRecord {
  const done = Math.max(record.done, index + 1)
  if (record.steps[index].kind === 'finish') return {...record, done, state: 'done', finishedAt: now}
  return {...record, done}
}

/** This node's transitional state, or undefined when no migration runs or the node is not in it. */
export function migrationPhase(record: MigrationRecord | undefined, publicIP: string): MigrationPhase | undefined {
  if (!record || record.state !== 'running') return undefined
  const node = record.nodes.find(n => n.publicIP === publicIP)
  if (!node) return undefined
  const switched = sameBackend(node.routes, record.to)
  const labels = migrationLabels(record)
  const kept = node.extraVtep ? vxlanDeviceName(node.extraVtep.vni) : node.vxlanDevice && node.routes.type !== 'vxlan' ? vxlanDeviceName(node.routes.vni) : undefined
  return {
    backend: node.routes,
    keepVxlanDevice: node.vxlanDevice,
    extraVtep: node.extraVtep,
    vxlanDevices: [...new Set([record.from.vni, record.to.vni])].map(vxlanDeviceName),
    note: `migration ${labels.from} → ${labels.to} in progress (step ${record.done} of ${record.steps.length}): `
      + `this node routes ${switched ? 'the new' : 'the old'} way (${switched ? labels.to : labels.from})`
      + `${kept === undefined ? '' : `, keeping ${kept} for peers ${switched ? 'not yet switched' : 'that switched'}`}`,
  }
}

/** For a host outside a running migration (it joined after it began): what its sync should say. */
export function outsiderNote(record: MigrationRecord | undefined, publicIP: string, following: Pick<MigrationBackend, 'type' | 'directRouting'>): string | undefined {
  if (!record || record.state !== 'running' || record.nodes.some(n => n.publicIP === publicIP)) return undefined
  const labels = migrationLabels(record)
  return `migration ${labels.from} → ${labels.to} in progress (step ${record.done} of ${record.steps.length}) across `
    + `${record.nodes.map(n => n.name).join(', ')}; this host joined after it began and follows the net-conf (${backendLabel(following)}): `
    + 'sync again once it finishes (an agent does so by itself)'
}

function isBackend(v: unknown): v is MigrationBackend {
  const b = v as MigrationBackend
  return typeof b === 'object' && b !== null && (b.type === 'vxlan' || b.type === 'host-gw')
    && Number.isInteger(b.vni) && Number.isInteger(b.port) && typeof b.directRouting === 'boolean'
}

/** The stored record; a value this version cannot read is an error, never silently ignored. */
export function parseMigrationRecord(text: string | undefined): MigrationRecord | undefined {
  if (text === undefined || text.trim() === '') return undefined
  let v: MigrationRecord
  try {
    v = JSON.parse(text) as MigrationRecord
  } catch {
    throw new Error('the stored migration record is not JSON')
  }
  const ok = v && v.version === 1 && typeof v.id === 'string' && isBackend(v.from) && isBackend(v.to)
    && (v.state === 'running' || v.state === 'done') && Array.isArray(v.nodes) && Array.isArray(v.steps)
    && Number.isInteger(v.done) && v.done >= 0 && v.done <= v.steps.length && (v.runBy === undefined || typeof v.runBy === 'string')
    && v.nodes.every(n => typeof n.publicIP === 'string' && typeof n.name === 'string' && isBackend(n.routes) && typeof n.vxlanDevice === 'boolean'
      && (n.extraVtep === undefined || (Number.isInteger(n.extraVtep.vni) && Number.isInteger(n.extraVtep.port))))
    && v.steps.every(s => typeof s.kind === 'string' && (s.node === undefined || v.nodes.some(n => n.publicIP === s.node)))
  if (!ok) throw new Error('the stored migration record is not one this flannelctl understands')
  return v
}

// ---- preflight ---------------------------------------------------------------------------------

export interface RouteGetAnswer {
  /** node name the lookup ran on */
  from: string
  /** peer node name and its public IP */
  to: string
  toIP: string
  /** `ip route get` answer; undefined when the lookup failed (no route at all) */
  gateway?: string
  dev?: string
  failed?: boolean
}

/** Pairs host-gw cannot serve: the peer is reached through a gateway, or not at all. */
export function offLinkPairs(answers: RouteGetAnswer[]): RouteGetAnswer[] {
  return answers.filter(a => a.failed || a.gateway !== undefined)
}

export function describeOffLink(a: RouteGetAnswer): string {
  return a.failed ? `${a.from} → ${a.to} (${a.toIP}): no route` : `${a.from} → ${a.to} (${a.toIP} via ${a.gateway}${a.dev ? ` dev ${a.dev}` : ''})`
}

/**
 * Why `migrate --backend host-gw` is refused, and what to run instead. A network already on vxlan
 * with DirectRouting is where the hint would lead: suggesting that migration would send the user
 * to a command that does nothing, so the hint says to stay.
 */
export function offLinkRefusal(off: RouteGetAnswer[], total: number, from: MigrationBackend, nodesFlag: string): {message: string; hint: string} {
  const message = `host-gw needs every peer on-link, and ${off.length} of ${total} node pairs are not: ${off.map(describeOffLink).join('; ')}`
  const why = 'nothing was changed. Nodes on different L2 segments need encapsulation between them'
  const hint = from.type === 'vxlan' && from.directRouting
    ? `${why}, and the network already has it: ${backendLabelInFull(from)} routes directly where peers are on-link and over vxlan elsewhere; keep it`
    : `${why}: flannelctl migrate --backend vxlan --directrouting${nodesFlag ? ` ${nodesFlag}` : ''} (direct routes where on-link, vxlan elsewhere)`
  return {message, hint}
}

export interface HostCheck {
  node: string
  check: 'forwarding' | 'forward-policy' | 'rp-filter'
  ok: boolean
  message: string
}

/** rp_filter of a device, as the kernel applies it: the larger of `all` and the device's own. */
export function effectiveRpFilter(values: Record<string, string>, dev: string): number {
  return Math.max(Number(values.all ?? 0), Number(values[dev] ?? 0))
}

/**
 * What the migration relies on, per node: forwarding on, FORWARD letting pod traffic through, and
 * the rp_filter values it will loosen and later restore. Reported, not enforced.
 */
export function hostChecks(node: string, snap: HostSnapshot, rpFilter: Record<string, string>, network: string): HostCheck[] {
  const checks: HostCheck[] = []
  const fwd = snap.sysctls?.['net.ipv4.ip_forward']
  checks.push({node, check: 'forwarding', ok: fwd === '1',
    message: fwd === undefined ? 'net.ipv4.ip_forward unknown' : `net.ipv4.ip_forward=${fwd}${fwd === '1' ? '' : ' (pods cannot reach other nodes; sync turns it on)'}`})
  const policy = snap.iptables?.chains.find(c => c.table === 'filter' && c.name === 'FORWARD')?.policy
  const jumps = (snap.iptables?.rules ?? []).some(r => r.table === 'filter' && r.chain === 'FORWARD' && /-j FLANNEL-FWD\b/.test(r.spec))
  const verdict = forwardVerdict(snap, network)
  // flanneld's nftables accepts (EnableNFTables) sit in a table of their own: iptables' FORWARD still decides for itself
  const inNft = rulesMode(snap) === 'nftables'
  if (snap.iptables === undefined) {
    checks.push({node, check: 'forward-policy', ok: true, message: 'iptables FORWARD policy unknown (no iptables-save)'})
  } else if (policy === undefined) {
    checks.push({node, check: 'forward-policy', ok: true, message: 'no iptables FORWARD chain (nothing there drops)'})
  } else if (verdict?.verdict === 'DROP') {
    checks.push({node, check: 'forward-policy', ok: false, message: `iptables FORWARD drops pod traffic (${network}) before any rule accepts it: ${verdict.rule.raw || verdict.rule.spec}`})
  } else if (policy === 'DROP' && (verdict === undefined || verdict.verdict === 'PARTIAL') && !(jumps && !inNft)) {
    checks.push({node, check: 'forward-policy', ok: false, message: inNft
      ? `iptables FORWARD policy DROP and ${verdict === undefined ? `no iptables rule accepts pod traffic (${network})` : partialAcceptText(verdict.only, network)}: flanneld's nftables accepts do not overrule it, nor does sync (${forwardAcceptHint(network).join('; ')})`
      : 'iptables FORWARD policy DROP, no FLANNEL-FWD jump: pod traffic is dropped (sync adds it)'})
  } else {
    checks.push({node, check: 'forward-policy', ok: true,
      message: `iptables FORWARD policy ${policy}${policy === 'DROP' ? `, pod traffic (${network}) accepted${jumps ? ' by FLANNEL-FWD' : ''}` : ''}`})
  }
  // a native firewall's forward chain drops what it drops whatever iptables' FORWARD and flanneld's table accept
  for (const d of nativeForwardDrops(snap, podPathsOf(snap, network))) {
    checks.push({node, check: 'forward-policy', ok: false, message: `${nativeDropText(d)}: flannel's accepts do not overrule it, nor does sync (${d.fix.join('; ')})`})
  }
  const devs = Object.keys(rpFilter).filter(d => d !== 'all' && d !== 'default')
  const strict = devs.filter(d => effectiveRpFilter(rpFilter, d) === 1)
  // the effective value is the larger of `all` and the device's: `flannel.1=0` can be strict, and says why
  const byAll = strict.filter(d => Number(rpFilter[d]) !== 1)
  const named = [...strict.filter(d => !byAll.includes(d)), ...byAll.length ? [`${byAll.join(', ')} by all=${rpFilter.all}`] : []]
  checks.push({node, check: 'rp-filter', ok: true,
    message: `rp_filter ${Object.entries(rpFilter).map(([d, v]) => `${d}=${v}`).join(' ')}`
      + (strict.length ? ` (strict on ${named.join(', ')}: loosened to 2 while nodes differ, restored after)` : '')})
  return checks
}

// ---- how a step reads --------------------------------------------------------------------------

export interface StepView {
  index: number
  kind: StepKind
  node?: string
  title: string
  commands: string[]
  why: string
  done: boolean
}

export interface PeerView {
  publicIP: string
  name: string
  subnet: string
  vtepMAC?: string
}

/** What --plan needs beyond the record: current rp_filter values, peers' VTEP MACs, on-link peers. */
export interface PlanContext {
  rpFilterNow: Record<string, Record<string, string>>
  vtepMACs: Record<string, string | undefined>
  /** per node publicIP: the peers' public IPs reached without a gateway */
  onLink: Record<string, string[]>
}

export const RP_LOOSE = '2'

/** `sysctl -w` key for a device's rp_filter (a dot in a device name is written as `/`). */
export function rpFilterKey(dev: string): string {
  return `net.ipv4.conf.${dev.replace(/\./g, '/')}.rp_filter`
}

/**
 * The rp_filter writes that make a node loose: devices set to strict, and `all` when it is strict or
 * a device made later (flannel.1, from `default`) would be: the larger of `all` and a device's own
 * applies. A node without any filtering (all, default and devices 0) is left so: `all=2` would
 * turn loose filtering on there. Unread values count as strict.
 */
export function loosenWrites(values: Record<string, string>): {dev: string; value: string}[] {
  const writes: {dev: string; value: string}[] = []
  const strictOrUnknown = (v: string | undefined) => v === undefined || v === '1'
  if (values.all !== RP_LOOSE && (strictOrUnknown(values.all) || strictOrUnknown(values.default))) writes.push({dev: 'all', value: RP_LOOSE})
  for (const [dev, v] of Object.entries(values)) if (dev !== 'all' && dev !== 'default' && v === '1') writes.push({dev, value: RP_LOOSE})
  return writes
}

/** The writes that put back what loosening changed; devices that are gone are skipped. */
export function restoreWrites(saved: Record<string, string>, now: Record<string, string>): {dev: string; value: string}[] {
  return Object.entries(saved).filter(([dev, v]) => now[dev] !== undefined && now[dev] !== v).map(([dev, value]) => ({dev, value}))
}

function peerRoute(node: MigrationNode, peer: MigrationNode, b: MigrationBackend, onLink: string[]): string {
  const direct = b.type === 'host-gw' || (b.directRouting && onLink.includes(peer.publicIP))
  return direct
    ? `ip route replace ${peer.subnet} via ${peer.publicIP} dev ${node.iface}`
    : `ip route replace ${peer.subnet} via ${vtepAddress(peer.subnet)} dev ${vxlanDeviceName(b.vni)} onlink`
}

export function describeSteps(record: MigrationRecord, ctx: PlanContext): StepView[] {
  const byIP = new Map(record.nodes.map(n => [n.publicIP, n]))
  const dev = vxlanDeviceName(record.to.type === 'vxlan' ? record.to.vni : record.from.vni)
  // a VNI change: the device the old VNI used, which goes at the end
  const oldDev = vniChange(record.from, record.to) ? vxlanDeviceName(record.from.vni) : undefined
  return record.steps.map((step, index): StepView => {
    const node = step.node ? byIP.get(step.node) : undefined
    const peers = node ? record.nodes.filter(p => p !== node) : []
    const base = {index, kind: step.kind, node: node?.name, done: index < record.done}
    switch (step.kind) {
      case 'loosen-rp-filter': {
        // A finished step is described by what it found; a coming one by what is there now.
        const found = base.done ? node!.rpFilter ?? ctx.rpFilterNow[node!.publicIP] : ctx.rpFilterNow[node!.publicIP] ?? node!.rpFilter
        const writes = loosenWrites(found ?? {})
        return {...base, title: writes.length > 0 ? `rp_filter → ${RP_LOOSE} (loose) on ${writes.map(w => w.dev).join(', ')}; remember the old values` : 'rp_filter: none is strict, nothing to loosen; remember the values',
          commands: writes.map(w => `sysctl -w ${rpFilterKey(w.dev)}=${w.value}`),
          why: 'while nodes differ a reply may arrive on the underlay for a prefix routed via the VTEP (or the reverse); strict rp_filter drops it, loose only asks that the source be routable'}
      }
      case 'add-vxlan-device':
        return {...base, title: oldDev ? `create ${dev} beside ${oldDev}, with its MAC and address (routes unchanged)` : `create ${dev} and publish its VtepMAC in the lease (routes unchanged)`,
          commands: [`ip link add ${dev}${oldDev && ctx.vtepMACs[node!.publicIP] ? ` address ${ctx.vtepMACs[node!.publicIP]}` : ''} type vxlan id ${record.to.vni} local ${node!.publicIP} dev ${node!.iface} dstport ${record.to.port} nolearning`,
            `ip addr add ${vtepAddress(node!.subnet)}/32 dev ${dev}`, `ip link set ${dev} up`],
          why: oldDev
            ? `nothing routes to it yet, so no packet changes path; the kernel hands VNI ${record.to.vni} to ${dev} and VNI ${record.from.vni} to ${oldDev}, and peers know the MAC already`
            : 'nothing routes to it yet, so no packet changes path'}
      case 'add-vxlan-peers':
        return {...base, title: `neighbour + fdb entries for every peer's VTEP on ${dev}`,
          commands: peers.flatMap(p => [
            `ip neigh replace ${vtepAddress(p.subnet)} lladdr ${ctx.vtepMACs[p.publicIP] ?? `<${p.name}'s VtepMAC>`} dev ${dev} nud permanent`,
            `bridge fdb replace ${ctx.vtepMACs[p.publicIP] ?? `<${p.name}'s VtepMAC>`} dev ${dev} dst ${p.publicIP} self permanent`]),
          why: 'entries alone change no path; every VTEP is resolvable before the first route points at it'}
      case 'switch-routes':
        return {...base, title: `peer routes → ${migrationLabels(record).to}`,
          commands: peers.map(p => peerRoute(node!, p, record.to, ctx.onLink[node!.publicIP] ?? [])),
          why: '`ip route replace` swaps each prefix in one step, never leaving it unrouted; peers not yet switched still reach this node'
            + (record.to.type === 'host-gw' ? ` (its ${dev} stays until every node is switched)`
              : oldDev ? ` (its ${oldDev} stays until every node is switched; every node has ${dev} already)` : ' (every node already has its VTEP)')}
      case 'commit-config':
        return {...base, title: `net-conf Backend → ${migrationLabels(record).to}`, commands: [],
          why: 'every node forwards the new way now; from here a plain `sync` converges to the same state'}
      case 'remove-old':
        if (oldDev) {
          return {...base, title: `remove ${oldDev} (and its neighbour/fdb entries)${record.to.directRouting ? ', and on-link peers\' entries on ' + dev : ''}`, commands: [`ip link del ${oldDev}`],
            why: `every node routes via ${dev} now: no peer sends VNI ${record.from.vni} any more`}
        }
        return record.to.type === 'host-gw'
          ? {...base, title: `remove ${dev} (and its neighbour/fdb entries); lease BackendType → host-gw`, commands: [`ip link del ${dev}`],
              why: 'every node routes directly now: no peer encapsulates to this VTEP any more'}
          : {...base, title: 'remove neighbour/fdb entries of on-link peers (DirectRouting routes them directly)',
              commands: peers.filter(p => (ctx.onLink[node!.publicIP] ?? []).includes(p.publicIP))
                .flatMap(p => [`ip neigh del ${vtepAddress(p.subnet)} dev ${dev}`, `bridge fdb del ${ctx.vtepMACs[p.publicIP] ?? `<${p.name}'s VtepMAC>`} dev ${dev} dst ${p.publicIP} self`]),
              why: 'every node routes on-link peers directly now; nothing resolves those VTEPs any more'}
      case 'restore-rp-filter': {
        const saved = node!.rpFilter ?? ctx.rpFilterNow[node!.publicIP] ?? {}
        const gone = record.to.type === 'host-gw' ? dev : oldDev
        const writes = loosenWrites(saved).filter(w => w.dev !== gone).map(w => ({dev: w.dev, value: saved[w.dev] ?? '0'}))
        return {...base, title: `restore rp_filter: ${writes.map(w => `${w.dev}=${w.value}`).join(' ') || 'nothing was changed'}`,
          commands: writes.map(w => `sysctl -w ${rpFilterKey(w.dev)}=${w.value}`),
          why: `every node is on ${oldDev ? `VNI ${record.to.vni} alone` : 'one backend'} again: each reply returns on the device its route leaves by`}
      }
      case 'finish':
        return {...base, title: 'record the migration as done', commands: [], why: `\`migrate --rollback\` can still return to ${migrationLabels(record).from} the same way`}
    }
  })
}

export function renderSteps(views: StepView[]): string[] {
  const lines: string[] = []
  const width = String(views.length).length
  views.forEach((v, i) => {
    const mark = v.done ? '✓' : ' '
    lines.push(`${mark} ${String(v.index + 1).padStart(width)}. ${(v.node ?? 'store').padEnd(6)} ${v.title}`)
    for (const c of v.commands) lines.push(`${' '.repeat(width + 12)}${c}`)
    // The reason is the same for a run of one kind of step on each node: say it once.
    if (views[i + 1]?.kind !== v.kind) lines.push(`${' '.repeat(width + 12)}# ${v.why}`)
  })
  return lines
}

/** A new VNI or port on a vxlan network: each node moves on its own sync, and nodes on either side of it cannot talk meanwhile. */
function vxlanChangeWarning(before: {type: string; vni: number; port: number}, after: {type: string; vni: number; port: number}, dryRun: boolean, nodes: string, store: string): string | undefined {
  if (before.type !== 'vxlan' || after.type !== 'vxlan' || (before.vni === after.vni && before.port === after.port)) return undefined
  const side = (b: typeof before) => `flannel.${b.vni}${before.port === after.port ? '' : ` on port ${b.port}`}`
  const what = [before.vni === after.vni ? '' : `VNI ${dryRun ? 'would change' : 'changed'} from ${before.vni} to ${after.vni}`,
    before.port === after.port ? '' : `port ${dryRun ? 'would change' : 'changed'} from ${before.port} to ${after.port}`].filter(Boolean).join(' and the ')
  // two devices of one VNI would have one name: a new port needs a new VNI to be migrated
  const vni = after.vni === before.vni ? (before.vni === 1 ? 2 : before.vni + 1) : after.vni
  const back = [before.vni === after.vni ? '' : `--vni ${before.vni}`, before.port === after.port ? '' : `--port ${before.port}`].filter(Boolean).join(' ')
  return `the ${what}: each node moves to ${side(after)} on its next sync, and until every node has synced `
    + `a node on ${side(after)} and one still on ${side(before)} cannot reach each other's pods. To change it without losing traffic, `
    + `${dryRun ? '' : `set it back (flannelctl backend set vxlan ${back}${store}) and `}let migrate move the nodes: flannelctl migrate --vni ${vni}${before.port === after.port ? '' : ` --port ${after.port}`} ${nodes} --yes${before.vni === after.vni ? ` (a new port goes with a new VNI: two devices on one VNI would have one name), then back to VNI ${before.vni}: flannelctl migrate --vni ${before.vni} ${nodes} --yes (the port stays ${after.port})` : ''}`
}

/**
 * What `backend set` leaves to the nodes' own syncs: while they differ, pods lose traffic (a node
 * that left vxlan drops the others' vxlan packets once its device is gone; strict rp_filter drops
 * replies arriving on the other device). Measured on a 3-node lab with strict rp_filter, nodes
 * synced a second apart: 22 % and 45 % of two pod pairs' pings lost. migrate avoids it.
 */
export function backendChangeWarning(before: Omit<MigrationBackend, 'type'> & {type: string}, after: Omit<MigrationBackend, 'type'> & {type: string}, dryRun: boolean, lab?: string): string | undefined {
  // udp (a flanneld network's) is built by no flannelctl node: nothing of theirs to lose
  if (!isMigrationBackend(before) || !isMigrationBackend(after)) return undefined
  // a lab's store was named (--lab): the commands name it too; else the nodes are the user's to name
  const nodes = lab === undefined ? '--lab NAME (or --inventory FILE)' : `--lab ${lab}`
  const store = lab === undefined ? '' : ` --lab ${lab}`
  if (before.type === after.type && (before.type !== 'vxlan' || before.directRouting === after.directRouting)) return vxlanChangeWarning(before, after, dryRun, nodes, store)
  const back = `${before.type}${before.type === 'vxlan' ? (before.directRouting ? ' --directrouting' : ' --no-directrouting') : ''}`
  return `the backend ${dryRun ? 'would change' : 'changed'} from ${backendLabel(before)} to ${backendLabel(after)}: each node switches on its next sync, and until every node has, `
    + 'pods on nodes that differ lose traffic (a node off vxlan drops the others\' vxlan packets once its flannel device is gone; strict rp_filter drops replies that come back on the other device). '
    + `To change it without losing traffic, ${dryRun ? '' : `set it back (flannelctl backend set ${back}${store}) and `}let migrate move the nodes: flannelctl migrate ${migrateFlags(after, before)} ${nodes} --yes`
}

function isMigrationBackend(b: Omit<MigrationBackend, 'type'> & {type: string}): b is MigrationBackend {
  return b.type === 'vxlan' || b.type === 'host-gw'
}
