/**
 * The reconcile planner: the state a flannel node should have (NodeIntent) against what its
 * tables hold (HostSnapshot) gives the ordered ops that close the gap, and nothing when there is
 * none. It touches only what flannelctl owns: its vxlan device and bridge, routes on that device,
 * routes it recorded as its own, its iptables chains and their jump rules.
 */
import {inMainTable, type HostSnapshot, type Link, type Neighbor, type NftChain, type Route} from './model.js'
import type {Op} from './ops.js'
import {cidrContainsIp, isIPv4, normaliseDst, parseCidr, cidrWithin} from './addr.js'
import {
  vxlanDeviceName, isVxlanDeviceName, vtepAddress, gatewayAddress, masqRules, masqJump, forwardRules, forwardJump,
  manualMasqRule, subnetEnv, cniConflist, foreignRuleSlots, CniPlugin, IptRule, MASQ_CHAIN, FWD_CHAIN, CONFLIST_NAME,
  MASQ_COMMENT, FWD_COMMENT, MANUAL_MASQ_COMMENT,
} from './flannel.js'
import {iptablesChainsDeleted, othersRulesGo, planNftables, removeNftables, nftResetWarnings, FLANNEL_NFT_TABLES} from './flannel-nft.js'
import {XTABLES} from './trace/nft.js'

export type BackendType = 'vxlan' | 'host-gw' | 'udp'

export interface Peer {
  subnet: string
  publicIP: string
  backendType: string
  vtepMAC?: string
  /** a static peer added by hand on this host (`peer add`), not from the store */
  static?: boolean
}

export interface NodeIntent {
  network: string
  subnet: string
  /** mtu: the net-conf's Backend.MTU, the underlay MTU flanneld sizes its VTEP from when it is given (never above the interface's) */
  backend: {type: BackendType; vni: number; port: number; directRouting: boolean; mtu?: number}
  iface: string
  publicIP: string
  /** MAC the vxlan device should get when it is created */
  vtepMAC: string
  bridge: string
  /** the pod MTU written to subnet.env and the conflist */
  mtu: number
  ipMasq: boolean
  /** the net-conf's EnableNFTables: flanneld's rules as native nftables (core/flannel-nft.ts) instead of iptables chains */
  nftables?: boolean
  peers: Peer[]
  /** peers' public IPs reachable without a gateway (`ip route get` shows none) */
  onLinkPeers: Set<string>
  subnetFile: string
  cniConfDir: string
  cniPlugin: CniPlugin
  /** host-local's dataDir in the conflist; undefined: its default */
  cniIpamDir?: string
  /** destinations of routes via the underlay that an earlier run recorded as flannelctl's */
  ownedRoutes: string[]
  /**
   * Transitional (migrate): keep the vxlan device and a neighbour + fdb entry for every peer with a
   * VtepMAC whatever the routes are, so peers still encapsulating to this node are decapsulated and
   * a node about to switch to vxlan finds every VTEP resolved. Routes still follow `backend`.
   */
  keepVxlanDevice?: boolean
  /**
   * Transitional (migrate, a VNI change): a second VTEP beside the backend's own, with the same MAC
   * and address and every peer's neighbour + fdb entries, and no route: the new VNI's before this
   * node switches (peers that switched first encapsulate to it), the old one's after (peers that
   * have not switched yet still do). The kernel's vxlan socket on the port hands each VNI to its device.
   */
  extraVtep?: VtepDevice
  /** vxlan devices this node made before (the record's VNI, a migration's): removed once nothing uses them */
  formerVxlanDevices?: string[]
  /**
   * subnets whose store entries are unreadable (damaged in place): the routes, neighbour and fdb
   * entries this host has for them are kept, neither added nor removed, until the entry is repaired
   * or deleted
   */
  unreadablePeers?: string[]
}

export interface VtepDevice {
  vni: number
  port: number
}

export interface CurrentFiles {
  subnetEnv?: string
  conflist?: string
}

export interface Plan {
  ops: Op[]
  /** route destinations via the underlay that this plan leaves in place (to record as owned) */
  ownedRoutes: string[]
  warnings: string[]
}

interface DesiredRoute {
  dst: string
  args: string[]
  /** how to recognise it in the snapshot */
  matches: (r: Route) => boolean
}

export function planNode(intent: NodeIntent, current: HostSnapshot, files: CurrentFiles): Plan {
  const ops: Op[] = []
  const warnings: string[] = []
  const links = new Map((current.links ?? []).map(l => [l.name, l]))
  const vxlanDev = vxlanDeviceName(intent.backend.vni)
  const useVxlan = intent.backend.type === 'vxlan'
  const wantVxlanDevice = useVxlan || intent.keepVxlanDevice === true
  const extra = intent.extraVtep !== undefined && intent.extraVtep.vni !== intent.backend.vni ? intent.extraVtep : undefined
  const extraDev = extra === undefined ? undefined : vxlanDeviceName(extra.vni)
  // A device recreated (another port, VNI or underlay) takes its routes, neighbours and fdb entries
  // with it: every entry on it is planned afresh, in the same run.
  const recreated = (dev: string, vtep: VtepDevice) => links.has(dev) && !vxlanDeviceFits(intent, vtep, links.get(dev)!)
  let snap = wantVxlanDevice && recreated(vxlanDev, intent.backend) ? withoutEntriesOn(current, vxlanDev) : current
  if (extra !== undefined && recreated(extraDev!, extra)) snap = withoutEntriesOn(snap, extraDev!)

  if (snap.sysctls?.['net.ipv4.ip_forward'] !== '1') {
    ops.push({tool: 'sysctl', key: 'net.ipv4.ip_forward', value: '1', why: 'hosts must forward pod traffic'})
  }

  ops.push(...planBridge(intent, links.get(intent.bridge), snap))
  const plugged = new Set(loosePodVeths(snap, intent.subnet))
  for (const veth of loosePodVethCandidates(snap).filter(l => !plugged.has(l.name))) {
    const addrs = snap.looseVethPeerAddresses?.[veth.name]
    // an address off the subnet stays unrouted on the bridge too: this node's pod from before a new lease needs re-creating
    const ours = addrs !== undefined && addrs.length > 0
      ? `if it is a pod of this node from before its subnet changed, re-create it (plugged into ${intent.bridge}, its old address would still be unrouted)`
      : `if it is a pod of this node: ip link set ${veth.name} master ${intent.bridge}`
    warnings.push(`${veth.name} is plugged into no bridge, and its other end ${addrs === undefined ? 'is in no namespace this host names (ip netns)' : addrs.length > 0 ? `has ${addrs.join(', ')}, not on this node's subnet ${intent.subnet}` : 'has no IPv4 address'}: left alone, as another network's (its bridge deleted?); ${ours}`)
  }
  if (wantVxlanDevice) ops.push(...planVxlanDevice(intent, intent.backend, links.get(vxlanDev), snap))
  if (extra !== undefined) ops.push(...planVxlanDevice(intent, extra, links.get(extraDev!), snap))

  // Per peer, in flanneld's order: neighbour, fdb, route (a route must never point at an unresolved VTEP).
  const routes: DesiredRoute[] = []
  const mainEntries: VtepEntry[] = []
  const extraEntries: VtepEntry[] = []
  // The fdb holds one entry per MAC: two VTEPs announcing one MAC (hosts cloned with one machine-id,
  // an edited lease) cannot both be reached, and replacing the entry for each in turn flipped it on
  // every round. The first lease (in subnet order, the same on every node) keeps the MAC.
  const macHolder = new Map<string, Peer | 'self'>([[intent.vtepMAC.toLowerCase(), 'self']])
  for (const peer of intent.peers) {
    if (peer.subnet === intent.subnet) continue
    const onLink = intent.onLinkPeers.has(peer.publicIP)
    const direct = intent.backend.type === 'host-gw' || peer.backendType === 'host-gw' || (intent.backend.directRouting && onLink)
    if (direct) {
      // The kernel refuses a gateway it cannot reach without one ("Nexthop has invalid gateway"),
      // and that line would stop the batch: the routes to every later peer would be lost with it.
      // flanneld logs such a route's error and goes on; so does the plan, without the route.
      if (onLink) {
        routes.push({
          dst: peer.subnet,
          args: ['route', 'replace', peer.subnet, 'via', peer.publicIP, 'dev', intent.iface],
          matches: r => r.gateway === peer.publicIP && r.dev === intent.iface && r.type === 'unicast',
        })
      } else {
        warnings.push(`peer ${peer.subnet} (${peer.publicIP}) is not on-link from ${intent.iface}, so no route to it: host-gw reaches only peers on this node's segment; use vxlan (with DirectRouting) to reach it`)
      }
    }
    const onMainDevice = wantVxlanDevice && (!direct || intent.keepVxlanDevice === true)
    if (!onMainDevice && extra === undefined) continue
    if (!peer.vtepMAC) {
      if (!direct) warnings.push(`peer ${peer.subnet} (${peer.publicIP}) has no usable VtepMAC in its lease; skipped`)
      continue
    }
    // as the kernel prints it: an upper-case MAC never matched the host's entries, so every round
    // replaced them and deleted the fdb entry it had just written as a stale one
    const vtepMAC = peer.vtepMAC.toLowerCase()
    const holder = macHolder.get(vtepMAC)
    if (holder !== undefined) {
      warnings.push(`peer ${peer.subnet} (${peer.publicIP}) announces VtepMAC ${vtepMAC}, which is ${holder === 'self' ? 'this host\'s own VTEP MAC' : `the VTEP MAC of ${holder.subnet} (${holder.publicIP}) too`}: `
        + `one MAC reaches one host, so it is not ${direct ? 'given a VTEP entry' : 'routed'}; give each host's ${vxlanDev} its own MAC (VMs cloned with one /etc/machine-id get the same one)`)
      continue
    }
    macHolder.set(vtepMAC, peer)
    const entry = {subnet: peer.subnet, vtep: vtepAddress(peer.subnet), mac: vtepMAC, publicIP: peer.publicIP}
    if (extra !== undefined) extraEntries.push(entry)
    if (!onMainDevice) continue
    mainEntries.push(entry)
    if (direct) continue
    routes.push({
      dst: peer.subnet,
      args: ['route', 'replace', peer.subnet, 'via', entry.vtep, 'dev', vxlanDev, 'onlink'],
      matches: r => r.gateway === entry.vtep && r.dev === vxlanDev && r.onlink === true && r.type === 'unicast',
    })
  }
  const unreadable = new Set((intent.unreadablePeers ?? []).map(normaliseDst))
  const mainVtep = planVtepEntries(vxlanDev, wantVxlanDevice ? mainEntries : undefined, snap, links.has(vxlanDev), unreadable)
  const extraVtep = extraDev === undefined ? undefined : planVtepEntries(extraDev, extraEntries, snap, links.has(extraDev), unreadable)

  const routeOps: Op[] = []
  const byDst = new Map<string, Route[]>()
  for (const r of snap.routes ?? []) {
    if (!inMainTable(r)) continue
    const k = normaliseDst(r.dst)
    const same = byDst.get(k)
    if (same) same.push(r)
    else byDst.set(k, [r])
  }
  for (const want of routes) {
    const have = byDst.get(want.dst) ?? []
    if (!(have.length === 1 && want.matches(have[0]))) {
      routeOps.push({tool: 'ip', args: want.args, why: `pods of ${want.dst} are reached this way`})
    }
  }

  // Stale entries: on our vxlan devices everything is ours; via the underlay only what we recorded.
  const wanted = new Set(routes.map(r => r.dst))
  const staleRouteOps: Op[] = []
  const owned = new Set(intent.ownedRoutes)
  const keptOwned: string[] = []
  for (const r of snap.routes ?? []) {
    if (!inMainTable(r)) continue
    const dst = normaliseDst(r.dst)
    if (dst === 'default' || wanted.has(dst) || dst === intent.subnet) continue
    if (unreadable.has(dst)) {
      if (owned.has(dst)) keptOwned.push(dst)
      continue
    }
    const onOurDevice = (r.dev === vxlanDev || (extraDev !== undefined && r.dev === extraDev)) && r.proto !== 'kernel'
    const recorded = owned.has(dst) && r.dev === intent.iface && r.gateway !== undefined && insideNetwork(dst, intent.network)
    if (onOurDevice || recorded) {
      staleRouteOps.push({tool: 'ip', args: ['route', 'del', dst, ...(r.gateway ? ['via', r.gateway] : []), 'dev', r.dev!], why: `no peer holds ${dst} any more`})
    }
  }
  // A vxlan device left from an earlier vxlan setup (or another VNI) goes last, after routes moved off it.
  const unused = new Set(wantVxlanDevice ? [] : [vxlanDev])
  for (const dev of intent.formerVxlanDevices ?? []) if (dev !== vxlanDev && dev !== extraDev) unused.add(dev)
  const removeDevice: Op[] = [...unused].filter(dev => links.get(dev)?.kind === 'vxlan').map(dev => ({
    tool: 'ip', args: ['link', 'del', dev],
    why: wantVxlanDevice ? `the network's VNI ${intent.backend.vni} uses ${vxlanDev} now` : `the ${intent.backend.type} backend does not use ${dev}`,
  }))

  ops.push(...mainVtep.add, ...extraVtep?.add ?? [], ...routeOps, ...staleRouteOps, ...mainVtep.stale, ...extraVtep?.stale ?? [], ...removeDevice)
  const trafficRules = planTrafficRules(intent, snap)
  ops.push(...trafficRules)
  warnings.push(...rulesLostWithChains(trafficRules, snap))
  ops.push(...planFiles(intent, files))

  const ownedRoutes = [...routes.filter(r => !r.args.includes(vxlanDev)).map(r => r.dst), ...keptOwned]
  return {ops, ownedRoutes, warnings}
}

function insideNetwork(dst: string, network: string): boolean {
  try {
    return cidrWithin(parseCidr(dst), parseCidr(network))
  } catch {
    return false
  }
}

function hasAddress(snap: HostSnapshot, dev: string, cidr: string): boolean {
  const [ip, len] = cidr.split('/')
  return (snap.addresses ?? []).some(a => a.dev === dev && a.local === ip && a.prefixlen === Number(len))
}

function planBridge(intent: NodeIntent, link: Link | undefined, snap: HostSnapshot): Op[] {
  const ops: Op[] = []
  const br = intent.bridge
  const addr = `${gatewayAddress(intent.subnet)}/${intent.subnet.split('/')[1]}`
  if (link && link.kind !== 'bridge') {
    throw new Error(`${br} exists but is a ${link.kind}, not a bridge`)
  }
  // A bridge with an address outside the pod network is someone else's (docker0): taking it over
  // would mix their traffic with pods', and reset would delete it.
  const foreign = link && (snap.addresses ?? []).find(a => a.dev === br && a.family === 4 && !insideNetwork(`${a.local}/32`, intent.network))
  if (foreign) {
    throw new Error(`${br} is a bridge of other software (it carries ${foreign.local}/${foreign.prefixlen}, outside the pod network ${intent.network})`)
  }
  if (!link) {
    ops.push({tool: 'ip', args: ['link', 'add', br, 'type', 'bridge'], why: 'pods attach to this bridge'})
    ops.push({tool: 'ip', args: ['link', 'set', br, 'mtu', String(intent.mtu)], why: intent.backend.type === 'vxlan' ? 'pod MTU leaves room for the vxlan header' : 'pod MTU: host-gw adds no header'})
  } else if (link.mtu !== intent.mtu) {
    ops.push({tool: 'ip', args: ['link', 'set', br, 'mtu', String(intent.mtu)], why: `MTU is ${link.mtu}, pods need ${intent.mtu}`})
  }
  // This host's own subnet lives on its bridge: a route sending it elsewhere (a copied record's
  // peer route, a hand-made one) cuts the pods off and keeps the bridge's own route from returning.
  const strays = (snap.routes ?? []).filter(r => inMainTable(r) && normaliseDst(r.dst) === intent.subnet && r.dev !== br)
  for (const r of strays) {
    ops.push({tool: 'ip', args: ['route', 'del', ...(r.type !== 'unicast' ? [r.type] : []), intent.subnet, ...(r.gateway ? ['via', r.gateway] : []), ...(r.dev ? ['dev', r.dev] : [])],
      why: `${intent.subnet} is this host's own subnet, on ${br}: this route sends its pods' traffic elsewhere`})
  }
  if (!link || !hasAddress(snap, br, addr)) {
    for (const a of (snap.addresses ?? []).filter(a => a.dev === br && a.family === 4 && insideNetwork(`${a.local}/32`, intent.network))) {
      ops.push({tool: 'ip', args: ['addr', 'del', `${a.local}/${a.prefixlen}`, 'dev', br], why: 'left from an earlier lease'})
    }
    ops.push({tool: 'ip', args: ['addr', 'add', addr, 'dev', br], why: 'the pods\' gateway'})
  }
  if (strays.length > 0) {
    ops.push({tool: 'ip', args: ['route', 'replace', intent.subnet, 'dev', br, 'proto', 'kernel', 'scope', 'link', 'src', gatewayAddress(intent.subnet)],
      why: `the bridge's own route, which the stray one displaced`})
  }
  if (!link?.up) ops.push({tool: 'ip', args: ['link', 'set', br, 'up'], why: 'bring the bridge up'})
  for (const veth of loosePodVeths(snap, intent.subnet)) {
    ops.push({tool: 'ip', args: ['link', 'set', veth, 'master', br], why: `a pod's veth in no bridge (${br} was deleted and made again, which lets go of its ports): its pod is cut off`})
    ops.push({tool: 'ip', args: ['link', 'set', veth, 'type', 'bridge_slave', 'hairpin', 'on'], why: 'as the bridge plugin plugs it (hairpinMode)'})
  }
  return ops
}

/**
 * Veths that may be the host ends of pods' veths plugged into no bridge: a bridge deleted (by
 * hand, by a reset) keeps its ports' veths, and one made again does not take them back. The CNI
 * bridge plugin names them `veth` and 8 hex digits and gives them no address; a veth of anything
 * else (docker's have 7 digits, Calico's are cali*) or one with an address is not a pod's. Any
 * other CNI network's bridge plugin names its veths the same way, so the name proves nothing alone.
 */
export function loosePodVethCandidates(snap: HostSnapshot): Link[] {
  const addressed = new Set((snap.addresses ?? []).filter(a => a.family === 4).map(a => a.dev))
  return (snap.links ?? []).filter(l => l.kind === 'veth' && l.master === undefined && /^veth[0-9a-f]{8}$/.test(l.name) && !addressed.has(l.name))
}

/**
 * The loose veths that are this node's pods': the pod at the other end has an address in the
 * node's subnet. Another CNI network's pods (its bridge deleted) are not plugged into this one's.
 */
export function loosePodVeths(snap: HostSnapshot, subnet: string): string[] {
  return loosePodVethCandidates(snap).filter(l => (snap.looseVethPeerAddresses?.[l.name] ?? []).some(ip => cidrContainsIp(subnet, ip))).map(l => l.name)
}

/** Whether the existing device is the VTEP the intent asks for; anything else is recreated. */
function vxlanDeviceFits(intent: NodeIntent, vtep: VtepDevice, link: Link): boolean {
  const v = link.vxlan
  return link.kind === 'vxlan' && v !== undefined && v.id === vtep.vni && v.local === intent.publicIP
    && v.dev === intent.iface && v.port === vtep.port && v.learning === false
}

/** A peer's VTEP as a vxlan device of this node resolves it: neighbour (its address → MAC), fdb (MAC → host). */
interface VtepEntry {
  subnet: string
  vtep: string
  mac: string
  publicIP: string
}

/**
 * The neighbour and fdb entries of one vxlan device: the ones to add (`want`; undefined when the
 * device is not wanted at all), and everything else on it to remove, but for the entries of peers
 * whose store entry is unreadable, which are kept as they are.
 */
function planVtepEntries(dev: string, want: VtepEntry[] | undefined, snap: HostSnapshot, exists: boolean, unreadable: Set<string>): {add: Op[]; stale: Op[]} {
  const neighOps: Op[] = []
  const fdbOps: Op[] = []
  // Indexed once: a per-peer scan of the tables is quadratic (a million comparisons at 1000 peers).
  const neighByDst = new Map<string, Neighbor>()
  for (const n of snap.neighbors ?? []) {
    if (n.dev === dev && !neighByDst.has(n.dst)) neighByDst.set(n.dst, n)
  }
  const fdbHas = new Set((snap.fdb ?? []).filter(f => f.dev === dev).map(f => `${f.mac.toLowerCase()}|${f.dst}`))
  for (const e of want ?? []) {
    const neigh = neighByDst.get(e.vtep)
    if (!neigh || neigh.lladdr?.toLowerCase() !== e.mac || !neigh.state.includes('PERMANENT')) {
      neighOps.push({tool: 'ip', args: ['neigh', 'replace', e.vtep, 'lladdr', e.mac, 'dev', dev, 'nud', 'permanent'], why: `VTEP of ${e.subnet} answers at ${e.mac}`})
    }
    if (!fdbHas.has(`${e.mac}|${e.publicIP}`)) {
      fdbOps.push({tool: 'bridge', args: ['fdb', 'replace', e.mac, 'dev', dev, 'dst', e.publicIP, 'self', 'permanent'], why: `frames for ${e.mac} are sent to ${e.publicIP}`})
    }
  }
  const staleFdbOps: Op[] = []
  const staleNeighOps: Op[] = []
  if (exists) {
    const wantFdb = new Set((want ?? []).map(e => `${e.mac}|${e.publicIP}`))
    const wantNeighDst = new Set((want ?? []).map(e => e.vtep))
    // an unreadable peer's VTEP: its neighbour entry (the subnet's first address) and the fdb entry of that MAC
    // (IPv6 entries on the device, such as the multicast ones `nud all` lists, belong to no subnet)
    const keptNeighbor = (n: {dst: string; dev?: string}) => n.dev === dev && isIPv4(n.dst) && [...unreadable].some(s => cidrContainsIp(s, n.dst))
    const keptMacs = new Set((snap.neighbors ?? []).filter(n => keptNeighbor(n) && n.lladdr).map(n => n.lladdr!.toLowerCase()))
    for (const f of snap.fdb ?? []) {
      if (f.dev !== dev || !f.dst || f.mac === '00:00:00:00:00:00' || keptMacs.has(f.mac.toLowerCase())) continue
      if (!wantFdb.has(`${f.mac.toLowerCase()}|${f.dst}`)) {
        staleFdbOps.push({tool: 'bridge', args: ['fdb', 'del', f.mac, 'dev', dev, 'dst', f.dst, 'self'], why: `no peer's VTEP is ${f.mac} at ${f.dst} any more`})
      }
    }
    for (const n of snap.neighbors ?? []) {
      if (n.dev !== dev || !n.state.includes('PERMANENT') || keptNeighbor(n)) continue
      if (!wantNeighDst.has(n.dst)) {
        staleNeighOps.push({tool: 'ip', args: ['neigh', 'del', n.dst, 'dev', dev], why: `no peer's VTEP is ${n.dst} any more`})
      }
    }
  }
  return {add: [...neighOps, ...fdbOps], stale: [...staleFdbOps, ...staleNeighOps]}
}

function withoutEntriesOn(snap: HostSnapshot, dev: string): HostSnapshot {
  return {
    ...snap,
    addresses: snap.addresses?.filter(a => a.dev !== dev),
    routes: snap.routes?.filter(r => r.dev !== dev),
    neighbors: snap.neighbors?.filter(n => n.dev !== dev),
    fdb: snap.fdb?.filter(f => f.dev !== dev),
  }
}

function planVxlanDevice(intent: NodeIntent, vtep: VtepDevice, link: Link | undefined, snap: HostSnapshot): Op[] {
  const ops: Op[] = []
  const dev = vxlanDeviceName(vtep.vni)
  const ifaceMtu = snap.links?.find(l => l.name === intent.iface)?.mtu ?? 1500
  const underlayMtu = Math.min(ifaceMtu, intent.backend.mtu ?? ifaceMtu)
  const mtu = underlayMtu - 50
  const compatible = link !== undefined && vxlanDeviceFits(intent, vtep, link)
  if (link && !compatible) {
    ops.push({tool: 'ip', args: ['link', 'del', dev], why: `${dev} exists with another configuration; recreate it`})
  }
  if (!compatible) {
    ops.push({tool: 'ip', args: ['link', 'add', dev, 'address', intent.vtepMAC, 'mtu', String(mtu), 'type', 'vxlan',
      'id', String(vtep.vni), 'local', intent.publicIP, 'dev', intent.iface, 'dstport', String(vtep.port), 'nolearning'],
    why: 'the VTEP that encapsulates pod traffic to peers'})
  } else if (link!.mtu !== mtu) {
    ops.push({tool: 'ip', args: ['link', 'set', dev, 'mtu', String(mtu)], why: `${underlayMtu < ifaceMtu ? 'the net-conf\'s Backend.MTU' : 'underlay MTU'} ${underlayMtu} − 50`})
  }
  const addr = `${vtepAddress(intent.subnet)}/32`
  if (!compatible || !hasAddress(snap, dev, addr)) {
    if (compatible) {
      for (const a of (snap.addresses ?? []).filter(a => a.dev === dev && a.family === 4)) {
        ops.push({tool: 'ip', args: ['addr', 'del', `${a.local}/${a.prefixlen}`, 'dev', dev], why: 'left from an earlier lease'})
      }
    }
    ops.push({tool: 'ip', args: ['addr', 'add', addr, 'dev', dev], why: 'the VTEP address peers route to'})
  }
  if (!compatible || !link!.up) ops.push({tool: 'ip', args: ['link', 'set', dev, 'up'], why: 'bring the VTEP up'})
  return ops
}

function rulesIn(snap: HostSnapshot, table: string, chain: string): string[] {
  return (snap.iptables?.rules ?? []).filter(r => r.table === table && r.chain === chain).map(r => r.spec)
}

function chainExists(snap: HostSnapshot, table: string, chain: string): boolean {
  return (snap.iptables?.chains ?? []).some(c => c.table === table && c.name === chain)
}

/**
 * Someone else's rules in a chain of flannel's that `ops` deletes (iptables' FLANNEL-FWD or
 * FLANNEL-POSTRTG after a switch to nftables or on reset, flanneld's nftables tables after a switch
 * back): they go with it, and stop doing what they did. Said, with the rules, so they can be put
 * back where they still apply.
 */
export function rulesLostWithChains(ops: Op[], snap: HostSnapshot): string[] {
  const lost = iptablesChainsDeleted(ops).flatMap(({table, chain}) => {
    const theirs = rulesIn(snap, table, chain).filter(spec => !isFlannelRule(spec))
    return theirs.length === 0 ? [] : [`${othersRulesGo(theirs.length, `iptables' ${chain} (${table} table)`, 'the chain')}, and no longer appl${theirs.length === 1 ? 'ies' : 'y'}: ${theirs.map(spec => `-A ${chain} ${spec}`).join('; ')}`]
  })
  const deletedNft = (snap.flannelNft ?? []).filter(t => ops.some(op => op.tool === 'nft' && op.lines.includes(`delete table ${t.family} ${t.name}`)))
  return [...lost, ...nftResetWarnings(deletedNft, undefined)]
}

/** A rule flanneld or flannelctl writes, by its comment; any other rule in their chains is someone else's. */
function isFlannelRule(spec: string): boolean {
  return [MASQ_COMMENT, FWD_COMMENT, MANUAL_MASQ_COMMENT].some(c => spec.includes(`--comment "${c}"`))
}

/**
 * Rewrite a chain only when flannel's own rules in it are not all there, once each and in order;
 * add the jump only when it is missing. Rules someone else put in the chain are theirs: they stay
 * where they are among flannel's (foreignRuleSlots), above them too. flanneld checks only that its
 * rules exist, wherever they are, and re-appends them all when one is missing.
 */
function ensureChain(snap: HostSnapshot, table: 'nat' | 'filter', chain: string, rules: IptRule[], jump: IptRule, why: string): Op[] {
  const ops: Op[] = []
  const want = rules.map(r => r.spec)
  const have = rulesIn(snap, table, chain)
  const slots = foreignRuleSlots(have, isFlannelRule, spec => want.indexOf(spec), want.length)
  const theirsIn = (slot: number) => have.filter((_, i) => slots[i] === slot)
  const wanted = [...theirsIn(0), ...want.flatMap((spec, i) => [spec, ...theirsIn(i + 1)])]
  if (!chainExists(snap, table, chain) || have.join('\n') !== wanted.join('\n')) {
    // In --noflush mode a chain line flushes an existing user chain: the rewrite is one atomic commit.
    ops.push({tool: 'iptables', table, lines: [`:${chain} - [0:0]`, ...wanted.map(s => `-A ${chain} ${s}`)], why})
  }
  if (!rulesIn(snap, table, jump.chain).includes(jump.spec)) {
    ops.push({tool: 'iptables', table, lines: [`-A ${jump.chain} ${jump.spec}`], why: `send ${jump.chain} traffic through ${chain}`})
  }
  return ops
}

function removeChain(snap: HostSnapshot, table: 'nat' | 'filter', chain: string, jump: IptRule): Op[] {
  const lines: string[] = []
  if (rulesIn(snap, table, jump.chain).includes(jump.spec)) lines.push(`-D ${jump.chain} ${jump.spec}`)
  if (chainExists(snap, table, chain)) lines.push(`:${chain} - [0:0]`, `-X ${chain}`)
  return lines.length ? [{tool: 'iptables', table, lines, why: `${chain} is no longer wanted`}] : []
}

function planIptables(intent: NodeIntent, snap: HostSnapshot): Op[] {
  const ops = ensureChain(snap, 'filter', FWD_CHAIN, forwardRules(intent.network), forwardJump(), 'accept forwarded pod traffic')
  const nat: IptRule[] = intent.ipMasq ? masqRules(intent.network, intent.subnet) : []
  if (manualMasq(intent)) nat.push(manualMasqRule(intent.network, intent.subnet, intent.bridge))
  if (nat.length) ops.push(...ensureChain(snap, 'nat', MASQ_CHAIN, nat, masqJump(), 'masquerade pod traffic leaving the network, keep pod-to-pod sources'))
  else ops.push(...removeChain(snap, 'nat', MASQ_CHAIN, masqJump()))
  return ops
}

/**
 * Masquerade and forward rules in iptables or (EnableNFTables) native nftables, and none in the
 * other. On a switch the new rules come first and the old go after, in the same apply: pod traffic
 * is accepted and masqueraded throughout (by both for a moment, which changes nothing).
 */
function planTrafficRules(intent: NodeIntent, snap: HostSnapshot): Op[] {
  if (!intent.nftables) return [...planIptables(intent, snap), ...removeNftables(snap.flannelNft, 'flanneld\'s nftables table: the network config does not ask for nftables (EnableNFTables), the rules are in iptables')]
  const nft = planNftables({
    network: intent.network, subnet: intent.subnet, ipMasq: intent.ipMasq,
    manualMasqBridge: manualMasq(intent) ? intent.bridge : undefined,
  }, snap.flannelNft)
  return [...nft, ...removeChain(snap, 'nat', MASQ_CHAIN, masqJump()), ...removeChain(snap, 'filter', FWD_CHAIN, forwardJump())]
}

/** A hand-run node (static peers, no flanneld masquerade) gets the narrowed SNAT rule of a hand-run flanneld. */
function manualMasq(intent: NodeIntent): boolean {
  return !intent.ipMasq && intent.peers.some(p => p.static)
}

function planFiles(intent: NodeIntent, files: CurrentFiles): Op[] {
  const ops: Op[] = []
  // Whoever masquerades, the bridge plugin must not as well: its rule masquerades pod-to-pod traffic
  // to other nodes too, and pods would see the node's address instead of the pod's.
  const masquerades = intent.ipMasq || manualMasq(intent)
  const env = subnetEnv(intent.network, intent.subnet, intent.mtu, masquerades)
  if (files.subnetEnv !== env) ops.push({tool: 'file', path: intent.subnetFile, content: env, mode: 0o644, why: 'what CNI and tools read about this lease'})
  const conf = cniConflist({network: intent.network, subnet: intent.subnet, mtu: intent.mtu, bridge: intent.bridge, ipMasq: masquerades, plugin: intent.cniPlugin, ipamDataDir: intent.cniIpamDir})
  if (files.conflist !== conf) {
    ops.push({tool: 'file', path: `${intent.cniConfDir}/${CONFLIST_NAME}`, content: conf, mode: 0o644, why: 'how the container runtime wires pods to the bridge'})
  }
  return ops
}

/** Everything flannelctl made on this host, for `reset`. */
export function planReset(intent: Pick<NodeIntent, 'network' | 'backend' | 'iface' | 'bridge' | 'subnetFile' | 'cniConfDir' | 'ownedRoutes' | 'subnet'>, snap: HostSnapshot): Op[] {
  const ops: Op[] = []
  const vxlanDev = vxlanDeviceName(intent.backend.vni)
  const owned = new Set(intent.ownedRoutes)
  for (const r of snap.routes ?? []) {
    const dst = normaliseDst(r.dst)
    if (owned.has(dst) && r.dev === intent.iface && r.gateway && insideNetwork(dst, intent.network)) {
      ops.push({tool: 'ip', args: ['route', 'del', dst, 'via', r.gateway, 'dev', r.dev], why: 'route flannelctl added'})
    }
  }
  if (snap.links?.some(l => l.name === vxlanDev && l.kind === 'vxlan')) {
    ops.push({tool: 'ip', args: ['link', 'del', vxlanDev], why: 'the VTEP flannelctl made (its routes, neighbours and fdb go with it)'})
  }
  for (const twin of migrationTwins(snap, vxlanDev)) {
    ops.push({tool: 'ip', args: ['link', 'del', twin], why: `the other VTEP of a VNI migration stopped midway (${vxlanDev}'s MAC and address)`})
  }
  if (snap.links?.some(l => l.name === intent.bridge && l.kind === 'bridge')) {
    ops.push({tool: 'ip', args: ['link', 'del', intent.bridge], why: 'the pod bridge flannelctl made'})
  }
  ops.push(...removeChain(snap, 'nat', MASQ_CHAIN, masqJump()))
  ops.push(...removeChain(snap, 'filter', FWD_CHAIN, forwardJump()))
  ops.push(...removeNftables(snap.flannelNft, 'flanneld\'s nftables table (EnableNFTables), as flanneld\'s clean-up deletes it'))
  ops.push({tool: 'rmfile', path: intent.subnetFile, why: 'subnet.env flannelctl wrote'})
  ops.push({tool: 'rmfile', path: `${intent.cniConfDir}/${CONFLIST_NAME}`, why: 'the CNI conflist flannelctl wrote'})
  return ops
}


const IP_FORWARD = 'net.ipv4.ip_forward'

/**
 * The second device of a VNI migration stopped midway beside `vxlanDev`: `migrate --vni` builds
 * flannel.<other> with the VTEP's MAC and local address, which nothing else gives a device.
 */
export function migrationTwins(snap: HostSnapshot, vxlanDev: string): string[] {
  const links = snap.links ?? []
  const own = links.find(l => l.name === vxlanDev && l.kind === 'vxlan')
  if (own?.mac === undefined || own.vxlan?.local === undefined) return []
  return links.filter(l => l !== own && l.kind === 'vxlan' && isVxlanDeviceName(l.name)
    && l.mac?.toLowerCase() === own.mac!.toLowerCase() && l.vxlan?.local === own.vxlan!.local).map(l => l.name)
}

/** Overlay and tunnel kinds whose endpoints route (another CNI's vxlan, WireGuard, IP-in-IP, GRE). */
const ROUTING_TUNNELS = new Set(['vxlan', 'geneve', 'wireguard', 'ipip', 'gre', 'gretap', 'sit', 'ip6tnl', 'ip6gre'])

/**
 * What on this host, besides flannelctl's own bridge and VTEP, needs net.ipv4.ip_forward: a bridge
 * with an IPv4 address (docker0, virbr0, another CNI's bridge: the gateway of what is behind it), a
 * tunnel or overlay device (another CNI's, a VPN server's), or a veth in no bridge that a route
 * points at (Calico's cali*: routed, not bridged). Each as a phrase for reset's note.
 */
export function forwardingUsers(snap: HostSnapshot, own: {bridge: string, vxlanDev: string}): string[] {
  const ours = new Set([own.bridge, own.vxlanDev, ...migrationTwins(snap, own.vxlanDev)])
  const users: string[] = []
  const links = (snap.links ?? []).filter(l => !ours.has(l.name))
  for (const l of links.filter(x => x.kind === 'bridge')) {
    const a = (snap.addresses ?? []).find(x => x.dev === l.name && x.family === 4)
    if (a !== undefined) users.push(`${l.name} (a bridge with ${a.local}/${a.prefixlen}: what is behind it is routed through this host)`)
  }
  for (const l of links.filter(x => x.kind !== undefined && ROUTING_TUNNELS.has(x.kind))) users.push(`${l.name} (a ${l.kind} device)`)
  const routed = new Set((snap.routes ?? []).filter(r => inMainTable(r) && r.dev !== undefined).map(r => r.dev!))
  const addressed = new Set((snap.addresses ?? []).filter(a => a.family === 4).map(a => a.dev))
  const veths = links.filter(l => l.kind === 'veth' && l.master === undefined && !addressed.has(l.name) && routed.has(l.name)).map(l => l.name)
  if (veths.length > 0) users.push(`${veths.slice(0, 3).join(', ')}${veths.length > 3 ? ', …' : ''} (routed veths: another CNI's pods)`)
  users.push(...forwardingRules(snap), ...nftForwardingRules(snap))
  return users
}

/**
 * The same in native nftables (an nftables-only firewall: nftables.service, firewalld, a router's
 * ruleset), from the base chains the host's read holds (its own ip and inet tables): a forward
 * chain whose rules accept (`iifname "wg0" accept`, `ct state established accept`), and a nat
 * postrouting chain that masquerades or SNATs. flanneld's tables are flannel's, and iptables-nft's
 * are iptables' (forwardingRules reads those). A chain that only drops needs no forwarding.
 */
function nftForwardingRules(snap: HostSnapshot): string[] {
  const theirs = (snap.nftables ?? []).filter(c => !FLANNEL_NFT_TABLES.some(t => t.family === c.family && t.name === c.table)
    && !(c.family === 'ip' && XTABLES.has(c.table) && snap.iptables?.flavour === 'nft'))
  const rulesOf = (c: NftChain) => (c.ruleset?.rules ?? []).filter(r => r.family === c.family && r.table === c.table && (c.reaches ?? [c.name]).includes(r.chain))
  const matching = (hook: string, type: string, words: RegExp) => theirs.flatMap(c => {
    const rules = c.hook === hook && c.type === type ? rulesOf(c).filter(r => words.test(r.text)) : []
    return rules.length === 0 ? [] : [`${c.family} ${c.table} ${c.name}: ${rules.slice(0, 2).map(r => r.text.trim()).join('; ')}${rules.length > 2 ? '; …' : ''}`]
  })
  const forward = matching('forward', 'filter', /\baccept\b/)
  const nat = matching('postrouting', 'nat', /\b(masquerade|snat)\b/)
  return [
    ...(forward.length > 0 ? [`an nftables forward chain of other software that accepts (${forward.join('; ')})`] : []),
    ...(nat.length > 0 ? [`an nftables masquerade of other software (${nat.join('; ')}: this host NATs traffic it forwards)`] : []),
  ]
}

/** A rule's target (`-j X`), or undefined. */
const targetOf = (spec: string) => /(?:^| )-j (\S+)/.exec(spec)?.[1]

/**
 * iptables rules of other software that only mean something on a host that forwards: FORWARD
 * accepting or handing to a chain of its own (kube-proxy's KUBE-FORWARD, docker's DOCKER-USER, a
 * router's `-i eth1 -o eth0 -j ACCEPT`), and a masquerade or SNAT in POSTROUTING that is not
 * flannel's (a NAT gateway for others). DROP, REJECT and LOG rules need no forwarding.
 */
function forwardingRules(snap: HostSnapshot): string[] {
  const rules = snap.iptables?.rules ?? []
  const theirs = (spec: string) => !spec.includes(FWD_COMMENT) && !spec.includes(MASQ_COMMENT) && !spec.includes(MANUAL_MASQ_COMMENT)
  const forward = rules.filter(r => r.table === 'filter' && r.chain === 'FORWARD' && theirs(r.spec)
    && targetOf(r.spec) !== undefined && !['DROP', 'REJECT', 'LOG', 'RETURN', FWD_CHAIN].includes(targetOf(r.spec)!))
  const nat = rules.filter(r => r.table === 'nat' && r.chain === 'POSTROUTING' && theirs(r.spec) && ['MASQUERADE', 'SNAT'].includes(targetOf(r.spec) ?? ''))
  const shown = (rs: typeof rules) => `${rs.slice(0, 2).map(r => `-A ${r.chain} ${r.spec}`).join('; ')}${rs.length > 2 ? '; …' : ''}`
  return [
    ...(forward.length > 0 ? [`a FORWARD chain with rules of other software (${shown(forward)})`] : []),
    ...(nat.length > 0 ? [`a masquerade of other software (${shown(nat)}: this host NATs traffic it forwards)`] : []),
  ]
}

/**
 * What reset does with the sysctls flannelctl's plans set here (`before`: each key's value before
 * the first change, as the node record keeps it; undefined: a record from before it was kept).
 * init switches ip_forward on only where it was off; reset switches it off again only then, and
 * only when nothing else on the host forwards (forwardingUsers), since docker's containers or
 * another network's pods would lose their traffic with it. Each case it leaves alone is said.
 */
export function planSysctlRestore(before: Record<string, string> | undefined, snap: HostSnapshot, own: {bridge: string, vxlanDev: string}): {ops: Op[], notes: string[]} {
  const now = snap.sysctls?.[IP_FORWARD]
  if (before === undefined) {
    return {ops: [], notes: now === '1'
      ? [`note: ${IP_FORWARD} stays 1: this host's record was written by an older flannelctl, which did not note whether init switched it on (if nothing else here forwards: sysctl -w ${IP_FORWARD}=0)`] : []}
  }
  const ops: Op[] = []
  const notes: string[] = []
  for (const [key, was] of Object.entries(before)) {
    const current = snap.sysctls?.[key]
    if (current === undefined || current === was) continue
    const users = key === IP_FORWARD ? forwardingUsers(snap, own) : []
    if (users.length > 0) {
      notes.push(`note: ${key} stays ${current}, though flannelctl's init set it (it was ${was}): ${users.join(', ')} ${users.length === 1 ? 'needs' : 'need'} it`)
      continue
    }
    ops.push({tool: 'sysctl', key, value: was, why: `flannelctl's init set it; it was ${was} before, and nothing else here needs it`})
    // what it cannot see (a route someone relies on, an nftables firewall's forward chain) is the operator's to say
    notes.push(`note: ${key} goes back to ${was}, as init found it, since nothing read here needs it; to keep this host forwarding: sysctl -w ${key}=${current} afterwards (and persist it in /etc/sysctl.d)`)
  }
  return {ops, notes}
}
