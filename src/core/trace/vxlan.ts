/**
 * vxlan devices as the trace needs them: what a sending device puts on the wire (VNI, port, outer
 * source) and which device on the receiving host takes the packet back out (port and VNI must
 * match, the inner destination MAC must be that device's MAC).
 */
import type {Link} from '../model.js'
import type {HostView} from './host-view.js'
import type {WorldIndex} from './world.js'

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
  mac?: string
  link?: Link
  /** true when the link table was not captured and flannel's (or Calico's) usual device stood in */
  assumed: boolean
}

function fromLink(l: Link): VxlanDevice | undefined {
  if (l.kind !== 'vxlan' || l.vxlan === undefined) return undefined
  return {
    name: l.name, id: l.vxlan.id, port: l.vxlan.port, local: l.vxlan.local, dev: l.vxlan.dev,
    learning: l.vxlan.learning, mac: l.mac?.toLowerCase(), link: l, assumed: false,
  }
}

/** The usual device behind a well-known name, for hosts whose link table is missing. */
export function assumedVxlan(name: string): VxlanDevice | undefined {
  const flannel = /^flannel\.(\d+)$/.exec(name)
  if (flannel) return {name, id: Number(flannel[1]), port: 8472, learning: false, assumed: true}
  if (name === 'vxlan.calico') return {name, id: 4096, port: 4789, learning: false, assumed: true}
  return undefined
}

/** The vxlan device `dev` of `view`, or undefined when `dev` is not one. */
export function vxlanDevice(view: HostView, dev: string): VxlanDevice | undefined {
  const l = view.link(dev)
  if (l !== undefined) return fromLink(l)
  return assumedVxlan(dev)
}

export function vxlanDevices(view: HostView): VxlanDevice[] {
  return view.vxlanLinks().map(fromLink).filter((d): d is VxlanDevice => d !== undefined)
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
  for (const o of w.owners(target)) {
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

export function receivingDevice(view: HostView, port: number, vni: number, outerDst: string): Reception {
  const devices = vxlanDevices(view).filter(d => d.local === undefined || d.local === outerDst)
  return {
    match: devices.find(d => d.port === port && d.id === vni),
    samePort: devices.find(d => d.port === port),
    sameVni: devices.find(d => d.id === vni),
  }
}

/** The line of a vxlan link that carries its parameters, for evidence. */
export function vxlanEvidence(d: VxlanDevice): string {
  if (d.link === undefined) return `(assumed: ${d.name} vxlan id ${d.id} dstport ${d.port}${d.learning ? '' : ' nolearning'})`
  // The header (name, flags, MTU) and the `vxlan id ...` details line; the link/ether line adds nothing here.
  const lines = d.link.raw.split('\n')
  return [lines[0], ...lines.slice(1).filter(l => l.trimStart().startsWith('vxlan '))].join('\n')
}
