/**
 * vxlan devices as the trace needs them: what a sending device puts on the wire (VNI, port, outer
 * source) and which device on the receiving host takes the packet back out (port and VNI must
 * match, the inner destination MAC must be that device's MAC).
 */
import type {FdbEntry, HostSnapshot, Link} from '../model.js'
import type {HostView} from './host-view.js'
import type {WorldIndex} from './world.js'
import type {Fix} from './types.js'
import {DEFAULT_SUBNET_FILE, builtByOlderFlanneld} from '../flannel.js'
import {podBridgeName} from '../inventory.js'

/** outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14) */
export const VXLAN_OVERHEAD = 50

export interface VxlanDevice {
  name: string
  id: number
  port: number
  local?: string
  /** underlay device (`dev eth0`) */
  dev?: string
  learning: boolean
  /** the outer packet's DF bit, as VxlanInfo.df (absent: `df unset`, flannel's and the kernel's default) */
  df?: 'set' | 'inherit'
  /** fdb misses go to a user-space agent, as VxlanInfo.l2miss */
  l2miss?: boolean
  /** the port was not captured (`ip -d link` of an old iproute2): `port` is the kernel's default */
  portAssumed?: boolean
  mac?: string
  link?: Link
  /**
   * true when the vxlan details were not captured (no link table, or a link known only from
   * `ip addr`/`ifconfig`) and flannel's (or Calico's) usual settings stood in
   */
  assumed: boolean
}

function fromLink(l: Link): VxlanDevice | undefined {
  if (l.kind !== 'vxlan' || l.vxlan === undefined) return undefined
  return {
    name: l.name, id: l.vxlan.id, port: l.vxlan.port, local: l.vxlan.local, dev: l.vxlan.dev,
    learning: l.vxlan.learning, mac: l.mac?.toLowerCase(), link: l, assumed: false,
    ...(l.vxlan.portAssumed ? {portAssumed: true} : {}), ...(l.vxlan.df !== undefined ? {df: l.vxlan.df} : {}),
    ...(l.vxlan.l2miss ? {l2miss: true} : {}),
  }
}

/** VNI and port behind a well-known device name: flannel.<VNI> on 8472, Calico's vxlan.calico. */
function usualSettings(name: string): {id: number, port: number} | undefined {
  const flannel = /^flannel\.(\d+)$/.exec(name)
  if (flannel) return {id: Number(flannel[1]), port: 8472}
  if (name === 'vxlan.calico') return {id: 4096, port: 4789}
  return undefined
}

/**
 * `ip addr` and `ifconfig` show a vxlan device as a plain Ethernet link: only `ip -d link` says
 * what it is. A link of a more specific kind was seen with details and is not a vxlan device.
 */
function lacksDetails(l: Link): boolean {
  return (l.kind === 'vxlan' && l.vxlan === undefined) || l.kind === 'ether' || l.kind === 'other'
}

/**
 * flanneld creates its device with `local` = its public IP, by default the address of the
 * interface that carries the default route.
 */
function usualUnderlay(view: HostView): {dev: string, local?: string} | undefined {
  const def = view.routes?.lookup('0.0.0.0')
  if (def === undefined || def.dev === undefined || def.type !== 'unicast') return undefined
  const local = def.src !== undefined && view.ownAddress(def.src) !== undefined ? def.src : view.deviceAddress(def.dev, def.gateway)
  return {dev: def.dev, local}
}

/**
 * The usual device behind a well-known name, when its vxlan details are unknown. A link known
 * without details keeps what was seen (MAC, MTU, up state); `local` is guessed from the host's
 * default route when the host's tables are at hand.
 */
export function assumedVxlan(name: string, view?: HostView, link?: Link): VxlanDevice | undefined {
  const usual = usualSettings(name)
  if (usual === undefined) return undefined
  const under = view !== undefined ? usualUnderlay(view) : undefined
  const device: VxlanDevice = {name, ...usual, learning: false, assumed: true}
  if (under?.local !== undefined) device.local = under.local
  if (under !== undefined) device.dev = under.dev
  if (link?.mac !== undefined) device.mac = link.mac.toLowerCase()
  if (link !== undefined) device.link = link
  return device
}

function deviceOf(view: HostView, l: Link): VxlanDevice | undefined {
  return fromLink(l) ?? (lacksDetails(l) ? assumedVxlan(l.name, view, l) : undefined)
}

/** Whether the link `dev` of `view` is (or, known without details, is taken as) a vxlan device. */
export function isVxlanLink(view: HostView, dev: string): boolean {
  const l = view.link(dev)
  return l !== undefined && (l.kind === 'vxlan' || (lacksDetails(l) && usualSettings(l.name) !== undefined))
}

/** per snapshot, by device name: a trace asks at every host it routes a packet through */
const devicesFound = new WeakMap<HostSnapshot, Map<string, VxlanDevice | undefined>>()

/** The vxlan device `dev` of `view`, or undefined when `dev` is not one. */
export function vxlanDevice(view: HostView, dev: string): VxlanDevice | undefined {
  let found = devicesFound.get(view.snap)
  if (found === undefined) devicesFound.set(view.snap, found = new Map())
  if (found.has(dev)) return found.get(dev)
  const l = view.link(dev)
  const device = l !== undefined ? deviceOf(view, l) : assumedVxlan(dev, view)
  found.set(dev, device)
  return device
}

const devicesListed = new WeakMap<HostSnapshot, readonly VxlanDevice[]>()

/** Every vxlan device of `view` (and every link its name says is one), in link order. */
export function vxlanDevices(view: HostView): readonly VxlanDevice[] {
  let listed = devicesListed.get(view.snap)
  if (listed === undefined) devicesListed.set(view.snap, listed = listVxlanDevices(view))
  return listed
}

function listVxlanDevices(view: HostView): VxlanDevice[] {
  const out: VxlanDevice[] = []
  for (const l of view.snap.links ?? []) {
    if (l.kind !== 'vxlan' && usualSettings(l.name) === undefined) continue
    const d = deviceOf(view, l)
    if (d !== undefined) out.push(d)
  }
  return out
}

/** The address peers should send this host's VTEP traffic to. */
export function vtepAddress(w: WorldIndex, view: HostView, device?: VxlanDevice): string | undefined {
  if (device?.local !== undefined) return device.local
  if (device?.dev !== undefined) {
    const a = view.deviceAddress(device.dev)
    if (a !== undefined) return a
  }
  return w.nodeAddress(view)
}

export interface IntendedVtep {
  view: HostView
  device?: VxlanDevice
  /** why this host is the one the frame is meant for */
  why: string
}

/**
 * The host a frame for next hop `target` on VNI `vni` is meant to reach: the host whose vxlan
 * device owns `target` (flannel's `<subnet>.0`), else — older flannel, one route for the whole
 * network — the node of the pod with that address, or the node whose pod subnet contains it.
 */
export function intendedVtep(w: WorldIndex, target: string, vni: number): IntendedVtep | undefined {
  for (const o of w.eachOwner(target)) {
    const d = vxlanDevice(o.view, o.addr.dev)
    if (d !== undefined && d.id === vni) return {view: o.view, device: d, why: `${target} is ${o.view.name}'s ${d.name} address`}
  }
  const pod = w.podsByIp.get(target)
  const node = pod !== undefined ? w.nodeViewOf(pod) : undefined
  if (node !== undefined) {
    return {view: node, device: vxlanDevices(node).find(d => d.id === vni), why: `${target} is pod ${pod!.name} on ${node.name}`}
  }
  const home = w.podSubnetOwner(target)
  if (home !== undefined) {
    const {view, addr} = home
    return {view, device: vxlanDevices(view).find(d => d.id === vni), why: `${target} is in ${view.name}'s pod subnet (${addr.local}/${addr.prefixlen} on ${addr.dev})`}
  }
  return undefined
}

export interface Reception {
  match?: VxlanDevice
  /** a device on the same port with another VNI */
  samePort?: VxlanDevice
  /** a device with the same VNI on another port */
  sameVni?: VxlanDevice
}

export function receivingDevice(view: HostView, port: number, vni: number): Reception {
  // `local` does not choose the receiver: every vxlan device's socket is bound to the wildcard address
  // of its port (vxlan_socket_create), and vxlan_rcv picks the device by VNI alone. A device bound to an
  // address its host lost still takes what comes to any of the host's addresses (checked on the kernel:
  // the pod behind it gets the request; only the device's own packets, sent from that address, die).
  const devices = vxlanDevices(view)
  return {
    // a device whose port was not captured cannot be said to listen elsewhere
    match: devices.find(d => d.port === port && d.id === vni) ?? devices.find(d => d.portAssumed && d.id === vni),
    samePort: devices.find(d => d.port === port),
    sameVni: devices.find(d => d.id === vni),
  }
}

/**
 * The settings a vxlan device is judged by, for evidence: the `vxlan id ...` line of `ip -d link`
 * up to the port and learning words (the checksum and ageing words after them decide nothing here).
 */
export function vxlanEvidence(d: VxlanDevice): string {
  const line = d.assumed ? undefined : d.link?.raw.split('\n').map(l => l.trim()).find(l => l.startsWith('vxlan '))
  if (line === undefined) {
    return `(assumed for ${d.name}: vxlan id ${d.id}${d.local ? ` local ${d.local}` : ''}${d.dev ? ` dev ${d.dev}` : ''} dstport ${d.port}${d.learning ? '' : ' nolearning'})`
  }
  const cut = /^.*?\b(?:no)?learning\b/.exec(line) ?? /^.*?\bdstport \d+/.exec(line)
  return cut?.[0] ?? line
}

/**
 * A vxlan device bound (`local`) to an address its host does not have: the host's address changed
 * (a DHCP renumber) under a running flannel, or it was given another node's address
 * (`--public-ip`) and took that node's lease. The kernel sends from no address the host does not
 * own. For a renumber the fix moves the device and the node's lease to the address its underlay
 * device has now; for a borrowed address the lease is the other node's, so the node is rebuilt on
 * its own address without releasing it.
 */
export function lostVtepAddress(w: WorldIndex, view: HostView, device: VxlanDevice): {reason: string, fix: Fix[]} | undefined {
  if (device.local === undefined || device.assumed || view.snap.addresses === undefined || view.isLocal(device.local)) return undefined
  const now = device.dev !== undefined ? view.deviceAddress(device.dev) : undefined
  const owner = w.firstOwner(device.local, o => o.view !== view && w.isNode(o.view))?.view.name
  // an older flanneld re-makes its VTEP from its flags: flannelctl, which keeps no state there, is no fix
  const olderFlanneld = builtByOlderFlanneld(view.snap)
  if (owner !== undefined) {
    return {
      reason: `${device.name} on ${view.name} is bound to local ${device.local}, which is ${owner}'s address, not ${view.name}'s${now !== undefined ? ` (${device.dev} has ${now})` : ''}: it was given ${owner}'s address (--public-ip) and took its lease`,
      fix: olderFlanneld ? flanneldAddressFixes(view.name, device.name, device.dev, now, {bridge: podBridgeName(view.snap)}) : [
        {node: view.name, command: `flannelctl reset   # not --release: the lease for ${device.local} is ${owner}'s`},
        {node: view.name, command: `flannelctl init${device.dev !== undefined ? ` --iface ${device.dev}` : ''} --public-ip ${now ?? 'ADDRESS'}   # its own address; then re-create its pods`},
      ],
    }
  }
  return {
    reason: `${device.name} on ${view.name} is bound to local ${device.local}, which is no address of ${view.name} any more${now !== undefined ? ` (${device.dev} has ${now}: its address changed)` : ''}`,
    fix: olderFlanneld ? flanneldAddressFixes(view.name, device.name, device.dev, now) : [{node: view.name, command: now !== undefined
      ? `flannelctl sync --public-ip ${now}   # ${device.name} and the node's lease move to ${now}; peers follow on their next sync`
      : `ip -4 addr show${device.dev !== undefined ? ` dev ${device.dev}` : ''}   # the node's address now; then flannelctl sync --public-ip ADDRESS`}],
  }
}

/**
 * An older flanneld's VTEP moved to the address its peers reach it on: flanneld makes it again from
 * its flags on restart (so they must say the address), and announces it in its lease, which its
 * peers' flanneld follow. On start it takes back the lease naming its address, else the one of the
 * subnet its subnet.env names, whoever holds it: `shared`, the lease it announced is (or may be)
 * another node's too, so the file goes first, and with a subnet of its own its pod bridge follows.
 */
export function flanneldAddressFixes(node: string, device: string, iface: string | undefined, address: string | undefined, shared?: {bridge: string | undefined}): Fix[] {
  const addr = address ?? 'ADDRESS'
  return [{node, command: `systemctl edit flanneld   # its flags: --iface=${iface ?? 'IFACE'} --public-ip=${addr} (the address its peers reach it on)`},
    ...(shared ? [{node, command: `rm ${DEFAULT_SUBNET_FILE}   # else it asks again for the subnet of the lease it shared; one naming ${addr} it takes back all the same`}] : []),
    {node, command: `systemctl restart flanneld   # it re-makes ${device} on ${addr} and announces it in its lease; peers' flanneld follow`},
    ...(shared ? [{node, command: `grep FLANNEL_SUBNET ${DEFAULT_SUBNET_FILE}   # a new subnet? then ${shared.bridge === 'docker0'
      ? 'restart docker (docker0 takes it: --bip from subnet.env) and re-create its containers' : `ip link del ${shared.bridge ?? 'cni0'} (the CNI bridge plugin makes it again on it) and re-create its pods`}`}] : [])]
}

/**
 * The entry that makes a receiving vxlan device drop a frame from `senderMac` sent from `outerSrc`
 * (vxlan_set_mac → vxlan_snoop). With learning on, the device checks the frame's source MAC against
 * its fdb: no entry is learned, a learned (dynamic) one moves to the new address, but a static or
 * permanent entry (what `bridge fdb append` and flanneld write) naming another remote is not moved,
 * and the frame is dropped (checked on the kernel: n2 with `learning` and n1's MAC at a wrong
 * address takes in nothing from n1; with `nolearning` the same entry changes nothing on receipt).
 */
export function snoopedAway(view: HostView, device: VxlanDevice, senderMac: string | undefined, outerSrc: string): FdbEntry | undefined {
  if (!device.learning || senderMac === undefined) return undefined
  const entry = view.fdb(device.name, senderMac).find(e => e.dst !== undefined)
  if (entry === undefined || entry.dst === outerSrc) return undefined
  return entry.flags.some(f => f === 'permanent' || f === 'static' || f === 'extern_learn') ? entry : undefined
}
