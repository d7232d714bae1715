/**
 * Dataplanes that forward outside the tables the trace reads: kube-proxy's IPVS, eBPF programs (XDP,
 * Cilium's and Calico's tc programs), Open vSwitch. Recognised from what the trace already reads
 * (device names, kinds, addresses, local routes), so that where they decide the trace says so
 * instead of following tables those packets never meet.
 */
import type {HostSnapshot, Qdisc} from '../model.js'
import type {HostView} from './host-view.js'

/** kube-proxy's IPVS mode puts every Service address on this dummy device (never up) */
export const IPVS_SERVICE_DEVICE = 'kube-ipvs0'

/**
 * Whether `ip` is a Service address on kube-proxy's IPVS device, read from the addresses or from the
 * local table's route (`local 10.96.0.10 dev kube-ipvs0 table local`).
 */
export function ipvsServiceAddress(view: HostView, ip: string): boolean {
  if (view.ownAddress(ip)?.dev === IPVS_SERVICE_DEVICE) return true
  return (view.snap.routes ?? []).some(r => r.type === 'local' && r.dev === IPVS_SERVICE_DEVICE && (r.dst === ip || r.dst === `${ip}/32`))
}

/** Whether kube-proxy runs in IPVS mode here: its device is in the links, addresses or local routes read. */
export function runsIpvs(view: HostView): boolean {
  return view.link(IPVS_SERVICE_DEVICE) !== undefined ||
    view.ipv4Addresses().some(a => a.dev === IPVS_SERVICE_DEVICE) ||
    (view.snap.routes ?? []).some(r => r.dev === IPVS_SERVICE_DEVICE)
}

export interface BpfDataplane {
  name: string
  /** the device whose presence tells */
  device: string
  /** what to run to see what its programs do with a packet */
  commands: (inDev: string | undefined) => string[]
}

/**
 * Cilium (cilium_host, cilium_net, cilium_vxlan/geneve, lxc*) and Calico's eBPF mode (its bpfnat veth
 * pair: bpfnatin/bpfnatout, later bpfin.cali/bpfout.cali) attach tc programs that redirect packets
 * between devices past the routing table and iptables, and translate Services themselves.
 */
const BPF_DATAPLANES: Array<{name: string, device: RegExp, commands: (inDev: string | undefined) => string[]}> = [
  {name: 'Cilium', device: /^cilium_(host|net|vxlan|geneve)$/, commands: inDev => [
    ...(inDev !== undefined ? [`tc filter show dev ${inDev} ingress`] : []),
    'cilium-dbg monitor --type trace --type drop   # in the node\'s cilium agent pod, while the packet is sent',
  ]},
  {name: 'Calico\'s eBPF dataplane', device: /^(bpfnatin|bpfnatout|bpfin\.cali|bpfout\.cali)$/, commands: inDev => [
    ...(inDev !== undefined ? [`tc filter show dev ${inDev} ingress`] : []),
    'calico-node -bpf conntrack dump   # in the node\'s calico-node pod; felix\'s BPF log level Debug traces each packet',
  ]},
]

/** per snapshot: a trace asks at every host it enters, doctor's traces ask the same hosts again */
const bpfFound = new WeakMap<HostSnapshot, {dataplane: BpfDataplane | undefined}>()

export function bpfDataplane(view: HostView): BpfDataplane | undefined {
  let found = bpfFound.get(view.snap)
  if (found === undefined) bpfFound.set(view.snap, found = {dataplane: findBpfDataplane(view)})
  return found.dataplane
}

function findBpfDataplane(view: HostView): BpfDataplane | undefined {
  const names = new Set([...(view.snap.links ?? []).map(l => l.name), ...view.ipv4Addresses().map(a => a.dev)])
  for (const d of BPF_DATAPLANES) {
    const device = [...names].find(n => d.device.test(n))
    if (device !== undefined) return {name: d.name, device, commands: d.commands}
  }
  return undefined
}

/**
 * An Open vSwitch device (a bridge's internal port, kind openvswitch) or a port of the OVS datapath
 * (`master ovs-system`): where a frame goes from there is the OVS flow table's decision.
 */
export function ovsBridgeOf(view: HostView, dev: string): string | undefined {
  const link = view.link(dev)
  if (link === undefined) return undefined
  if (link.kind === 'openvswitch') return link.name === 'ovs-system' ? undefined : link.name
  return link.master === 'ovs-system' ? '' : undefined
}

/** `ovs-appctl ofproto/trace` follows one packet through the bridge's flows, from the port it enters by. */
export function ovsCommands(bridge: string, port: string, src: string, dst: string): string[] {
  const br = bridge !== '' ? bridge : `$(ovs-vsctl port-to-br ${port})`
  return [`ovs-appctl ofproto/trace ${br} in_port=${port},ip,nw_src=${src},nw_dst=${dst}`, `ovs-ofctl dump-flows ${br}`]
}

/**
 * The qdisc that gives `dev` a tc hook in that direction (clsact: both; ingress: what it receives),
 * where filters (BPF programs, mirred redirects such as the bandwidth plugin's) may act unseen.
 * Undefined when none, or when the qdiscs were not read.
 */
export function tcHook(view: HostView, dev: string, direction: 'ingress' | 'egress'): Qdisc | undefined {
  return view.snap.qdiscs?.find(q => q.dev === dev && (q.kind === 'clsact' || (direction === 'ingress' && q.kind === 'ingress')))
}

/**
 * A macvlan or ipvlan device in a pod and the device it hangs from on its node (IFLA_LINK: `eth0@if2`,
 * `link_index`): frames the child sends leave by the parent's wire without reaching the parent's own
 * stack, and the parent's own frames never reach its children, so neither answers the other's ARP.
 * Returns the parent's name when `childDev` of `child` hangs from a device of `parent`.
 */
export function stackedParent(child: HostView, childDev: string, parent: HostView): string | undefined {
  const link = child.link(childDev)
  if (link === undefined || (link.kind !== 'macvlan' && link.kind !== 'ipvlan') || link.peerIndex === undefined) return undefined
  return (parent.snap.links ?? []).find(l => l.index === link.peerIndex)?.name
}
