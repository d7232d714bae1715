/**
 * Who receives a frame sent out of an Ethernet, veth or bridge device towards a next hop: the
 * answer ARP would get. An interface on that segment owning the address answers, or a host with
 * proxy ARP on the receiving link and a route to the address out of another device (Calico's
 * `cali*` veths answering for 169.254.1.1). The snapshots do not record cabling, so "that segment"
 * is inferred: a pod's namespace talks to its own node (and, through the node's bridge, to the
 * node's other pods); nodes talk to other nodes.
 */
import type {Address} from '../model.js'
import type {Fix, PodRef} from './types.js'
import type {HostView} from './host-view.js'
import type {WorldIndex} from './world.js'
import {isVxlanLink} from './vxlan.js'
import {routeDevice} from './routes.js'
import {bareBridgeFix, recreatePodFix, sysctlCommand, sysctlSpelling, unpluggedPod} from './fixes.js'

export interface HostAnswer {
  kind: 'host'
  view: HostView
  inDev: string
  how: 'owner' | 'proxy-arp'
  evidence: string
  explanation: string
  /** other hosts with the same address, when the pick is a guess */
  ambiguous?: string[]
}

/** a pod whose own namespace was not captured: the frame reaches it, nothing more is known */
export interface PodAnswer {
  kind: 'pod'
  pod: PodRef
  node: HostView
  evidence: string
  explanation: string
  /**
   * set when the node's device is not known to face pods (a bridge pasted from `ifconfig` looks
   * like any Ethernet link): the inventory puts the pod on this node and this address of the
   * device covers the pod's, which is what makes the pod reachable by ARP there
   */
  segment?: Address
  /** the pod's own namespace, read without its addresses: that it holds the inventory's address is a guess */
  addressesUnseen?: HostView
}

/** a pod on the same node bridge: switched by the node's bridge, not routed */
export interface BridgedAnswer {
  kind: 'bridged'
  node: HostView
  bridge: string
  to: HostAnswer | PodAnswer
}

export type Answer = HostAnswer | PodAnswer | BridgedAnswer

/**
 * arp_process: a request for `target` from `sender` on `facing` is answered by proxy when `facing`
 * forwards (IN_DEV_FORWARD: ip_forward and the device's own `forwarding`) and the input route
 * (policy rules included) is unicast out of another device.
 */
export function proxyAnswer(view: HostView, facing: string, target: string, sender: string | undefined): HostAnswer | undefined {
  if (!view.proxyArp(facing) || view.forwardingOff(facing) !== undefined) return undefined
  const r = sender === undefined ? view.routes?.lookup(target) : view.routeFor({dst: target, src: sender, iif: facing}).route
  if (r === undefined || r.type !== 'unicast' || r.dev === undefined || r.dev === facing) return undefined
  const key = view.devConf(facing, 'proxy_arp') !== undefined ? `net.ipv4.conf.${facing}.proxy_arp` : 'net.ipv4.conf.all.proxy_arp'
  return {
    kind: 'host', view, inDev: facing, how: 'proxy-arp',
    evidence: `${key} = ${view.sysctl(key)}`,
    explanation: `nothing owns ${target} on that link; ${view.name} answers ARP for it by proxy (proxy_arp on ${facing}, its route to ${target} leaves by ${r.dev})`,
  }
}

export function podAnswer(w: WorldIndex, node: HostView, pod: PodRef, target: string): HostAnswer | PodAnswer {
  const ns = w.podView(pod)
  const owned = ns?.ownAddress(target)
  if (ns !== undefined && owned !== undefined) {
    return {
      kind: 'host', view: ns, inDev: owned.dev, how: 'owner', evidence: owned.raw,
      explanation: `${target} is ${pod.name}'s address on its ${owned.dev}`,
    }
  }
  const unseen = ns !== undefined && ns.snap.addresses === undefined ? ns : undefined
  const what = unseen !== undefined ? 'addresses' : 'namespace'
  return {
    kind: 'pod', pod, node, evidence: `(pod ${pod.name === pod.ip ? pod.ip : `${pod.name} ${pod.ip}`} on ${pod.node}, ${what} not captured)`,
    explanation: `${target} is ${pod.name === target ? 'a pod' : `pod ${pod.name}`}; its ${what} ${unseen !== undefined ? 'were' : 'was'} not captured, so the frame is taken as delivered`,
    ...(unseen !== undefined ? {addressesUnseen: unseen} : {}),
  }
}

/** From a pod's namespace out of `dev` (its eth0) towards `target`. */
function fromPod(w: WorldIndex, pod: PodRef, target: string): Answer | undefined {
  const node = w.nodeViewOf(pod)
  if (node === undefined) return undefined
  const facing = w.podFacingDevice(node, pod)
  const owned = node.ownAddress(target)
  if (owned !== undefined) {
    return {
      kind: 'host', view: node, inDev: facing ?? owned.dev, how: 'owner', evidence: owned.raw,
      explanation: `${target} is ${node.name}'s address on ${owned.dev}`,
    }
  }
  const other = w.podAt(target, pod.node)
  // a device the links read do not show may be the bridge both pods' routes lead to (the engine says it assumed so)
  const bridge = facing === undefined ? undefined : node.linkKindKnown(facing) ? node.link(facing)?.kind : 'unknown'
  if (other !== undefined && other.node === pod.node && other.name !== pod.name && facing !== undefined &&
      (bridge === 'bridge' || bridge === 'unknown') && w.podFacingDevice(node, other) === facing) {
    return {kind: 'bridged', node, bridge: facing, to: podAnswer(w, node, other, target)}
  }
  if (facing !== undefined) return proxyAnswer(node, facing, target, pod.ip)
  return undefined
}

/** From a node out of `dev` towards `target`. */
function fromNode(w: WorldIndex, view: HostView, dev: string, target: string): Answer | undefined {
  const pod = w.podAt(target, view.name)
  // A pod plugged into another device of its node (cni0, while a docker0 holds the same subnet) is not on this link.
  const wired = pod !== undefined && pod.node === view.name ? w.podWiredDevice(view, pod) : undefined
  if (pod !== undefined && pod.node === view.name && (wired === undefined || wired === dev)) {
    if (w.isPodSide(view, dev)) return podAnswer(w, view, pod, target)
    const segment = isVxlanLink(view, dev) ? undefined : view.addressCovering(dev, target)
    if (segment !== undefined) {
      const answer = podAnswer(w, view, pod, target)
      if (answer.kind === 'host') return answer
      return {
        ...answer, segment,
        explanation: `the inventory puts pod ${pod.name} on ${view.name} and ${target} is in ${dev}'s subnet (${segment.local}/${segment.prefixlen}), so the pod is on that segment; its namespace was not captured, so the frame is taken as delivered`,
      }
    }
  }

  const myAddress = view.deviceAddress(dev, target)
  const owners = w.nodeOwners(target).filter(o => o.view !== view && !isVxlanLink(o.view, o.addr.dev))
  // The snapshots record no cabling: a host is on the sender's segment when it has an interface in
  // the subnet of the sender's outgoing device. That also picks the right one of several hosts
  // carrying the same address (a VM's NAT address, docker0's 172.17.0.1). A sender device without
  // an address gives nothing to compare, and then any owner is taken.
  // An address known by its local route alone (no `ip addr`) on a device set down: the down device took its
  // subnet's route, so its prefix reads /32 and faces no one; it is the owner all the same, and its state decides.
  const near = myAddress === undefined ? owners : owners.filter(o => o.view.deviceFacing(myAddress) !== undefined ||
    (o.addr.prefixlen === 32 && o.view.deviceDown(o.addr.dev) === true))
  if (near.length > 0) {
    const pick = near[0]
    const inDev = (myAddress !== undefined ? pick.view.deviceFacing(myAddress)?.dev : undefined) ?? pick.addr.dev
    const rivals = near.filter(o => o !== pick).map(o => o.view.name)
    return {
      kind: 'host', view: pick.view, inDev, how: 'owner', evidence: pick.addr.raw,
      explanation: `${target} is ${pick.view.name}'s address on ${pick.addr.dev}`,
      ambiguous: rivals.length > 0 ? rivals : undefined,
    }
  }
  if (myAddress !== undefined) {
    // Proxy ARP on the segment: scanning every node is fine, it happens only when nobody owns the address.
    for (const other of w.nodeViews()) {
      if (other === view || !other.hasSysctls) continue
      const facing = other.deviceFacing(myAddress)
      if (facing === undefined) continue
      const a = proxyAnswer(other, facing.dev, target, myAddress)
      if (a !== undefined) return a
    }
  }
  return undefined
}

/**
 * Nodes read without their addresses (no `ip addr`, and no local table in their routes to read them
 * from) that may own `target`, an address no host read has: "no one owns it" is not in the tables
 * then. Narrowed by what was read of them: their connected routes, which a subnet holding `target`
 * would show, and the MAC that answered for it (`mac`, from the sender's neighbour entry), which is
 * the receiving device's (a host answers ARP for its own address with the MAC of the device asked):
 * the host with a device of that MAC (`dev`), else those whose links were not read either. A MAC of
 * a device whose host's addresses were read points elsewhere: to no one unseen.
 */
export function unseenOwners(w: WorldIndex, from: HostView, target: string, mac?: string): {view: HostView, dev?: string}[] {
  const blind = w.nodeViews().filter(v => v !== from && v.snap.addresses === undefined &&
    (v.routes === undefined || v.snap.routesFilter !== undefined || v.routes.connectedRoute(target) !== undefined))
  if (mac === undefined || blind.length === 0) return blind.map(view => ({view}))
  const m = mac.toLowerCase()
  const withMac = (v: HostView) => (v.snap.links ?? []).find(l => l.mac?.toLowerCase() === m)?.name
  if (w.nodeViews().some(v => v.snap.addresses !== undefined && withMac(v) !== undefined)) return []
  const holders = blind.flatMap(view => {
    const dev = withMac(view)
    return dev !== undefined ? [{view, dev}] : []
  })
  return holders.length > 0 ? holders : blind.filter(v => !v.hasLinks || v.snap.linksOfSomeDevicesOnly === true).map(view => ({view}))
}

/** Why unseenOwners found `owners`, said: their addresses were not captured */
export function addressesUnseen(owners: HostView[]): string {
  const names = owners.map(v => v.name)
  return `the addresses of ${names.join(', ')} were not captured (no \`ip addr\`, nor a local table in ${names.length === 1 ? 'its' : 'their'} routes)`
}

/** Nodes that own `target` but are not on the segment `view` sends it to (for explaining why ARP fails). */
export function offSegmentOwners(w: WorldIndex, view: HostView, target: string): string[] {
  return w.nodeOwners(target).filter(o => o.view !== view).map(o => o.view.name)
}

/**
 * Why nothing answers ARP for a pod's gateway, and what would make its node answer. Linux answers
 * by proxy only on a device with proxy_arp set, and only for an address it routes out of another
 * device: a Calico node without a default route leaves 169.254.1.1 unanswered.
 */
export function podGatewaySilence(w: WorldIndex, pod: PodRef, target: string): {reason: string, fix: Fix[], unknown?: true} | undefined {
  const node = w.nodeViewOf(pod)
  if (node === undefined) return undefined
  const facing = w.podFacingDevice(node, pod)
  if (facing === undefined) return undefined
  if (node.snap.addresses === undefined) {
    return {unknown: true,
      reason: `${pod.name}'s gateway ${target} would be ${node.name}'s address on ${facing}, and ${addressesUnseen([node])}`,
      fix: [{node: node.name, command: `ip -4 addr show dev ${facing}`}]}
  }
  const gw = node.deviceAddress(facing, pod.ip)
  if (gw !== undefined) {
    return {
      reason: `${target} is not ${node.name}'s address on ${facing} (${gw} is)`,
      fix: [{node: pod.netns ?? pod.name, command: `ip route replace default via ${gw}`}],
    }
  }
  const facingLink = node.link(facing)
  // a proxy_arp not read is not "off": the node may well answer (Calico sets it on every cali device)
  const proxyArpUnread = ['all', facing].filter(d => node.devConf(d, 'proxy_arp') === undefined)
  // (a Calico veth is in no bridge either, but its node answers for the gateway and routes the pod's
  // address through it: one of the two read and not so tells a flannel pod's veth let go of)
  if (facingLink?.kind === 'veth' && facingLink.master === undefined && !node.proxyArp(facing) && node.routes?.lookup(pod.ip)?.dev !== facing &&
      (node.routes !== undefined || proxyArpUnread.length === 0)) {
    // A flannel pod's host end in no bridge: its bridge was deleted and re-created (reset and init), which lets go of the ports.
    const bridge = node.ipv4Addresses().find(a => node.link(a.dev)?.kind === 'bridge' && node.addressCovering(a.dev, target) !== undefined)?.dev
    const deleted = bridge === undefined ? unpluggedPod(w, node, pod) : undefined
    if (deleted !== undefined) return {reason: deleted.why, fix: deleted.fix}
    // The next hop is the gateway, or, to a pod on the same old subnet, that pod itself.
    const neighbour = w.podsByIp.get(target)
    const gone = neighbour !== undefined && neighbour.name !== pod.name ? `is on the subnet of ${target} (${neighbour.name}'s address)` : `holds its gateway ${target}`
    return bridge !== undefined
      ? {reason: `${pod.name}'s veth ${facing} on ${node.name} is plugged into no bridge, so ${bridge}, the segment of ${target}, is not reached through it`,
        fix: [{node: node.name, command: `ip link set ${facing} master ${bridge}`}]}
      : {reason: `${pod.name}'s veth ${facing} on ${node.name} is plugged into no bridge, and no bridge of ${node.name} ${gone} any more: the node's pod subnet changed under the pod, which needs re-creating (CNI ADD gives it an address in the new subnet)`,
        fix: [recreatePodFix(node.name, pod.name)]}
  }
  const bare = facingLink?.kind === 'bridge' ? bareBridgeFix(w, node, pod) : undefined
  if (bare !== undefined) {
    // Proxy ARP would not help: nothing routes the gateway elsewhere. The address back does.
    return {reason: `${facing} on ${node.name}, the bridge ${pod.name} is plugged into, has no address, so nothing answers for ${pod.name}'s gateway ${target}`, fix: [bare]}
  }
  if (!node.proxyArp(facing)) {
    if (proxyArpUnread.length > 0) {
      return {unknown: true,
        reason: `${facing} on ${node.name} has no address, so only proxy ARP would answer for ${target}, and ${proxyArpUnread.map(d => `net.ipv4.conf.${d}.proxy_arp`).join(' and ')} ${proxyArpUnread.length > 1 ? 'were' : 'was'} not captured on ${node.name}`,
        fix: [{node: node.name, command: `sysctl ${proxyArpUnread.map(d => sysctlSpelling(`net.ipv4.conf.${d}.proxy_arp`)).join(' ')}`}]}
    }
    const still = silentWithProxyArp(w, node, pod, facing, target)
    return {
      reason: `${facing} on ${node.name} has no address and proxy_arp is off, so nothing answers for ${target}${still !== undefined ? `; turning it on is not enough: ${still.why}` : ''}`,
      fix: [{node: node.name, command: sysctlCommand(`net.ipv4.conf.${facing}.proxy_arp`, 1)}, ...(still?.fix ?? [])],
    }
  }
  const notForwarding = node.forwardingOff(facing)
  if (notForwarding !== undefined) {
    return {
      reason: `${node.name} has proxy_arp on ${facing} but does not forward what arrives there (${notForwarding} = 0); Linux answers by proxy only on a device that forwards`,
      fix: [{node: node.name, command: sysctlCommand(notForwarding, 1)}],
    }
  }
  if (node.routes === undefined) {
    return {unknown: true,
      reason: `${node.name} has proxy_arp on ${facing}, so it answers for ${target} if it routes it out of another device, and the routes of ${node.name} were not captured`,
      fix: [{node: node.name, command: `ip route get ${target} from ${pod.ip} iif ${facing}`}]}
  }
  const {route: r, rule, missingTable} = node.routeFor({dst: target, src: pod.ip, iif: facing})
  if (rule !== undefined) {
    const what = missingTable !== undefined ? `looks up table ${missingTable}, whose routes were not captured`
      : rule.action !== 'lookup' ? `says ${rule.action}` : r === undefined ? 'finds no route' : `gives ${r.raw}, which does not leave by another device`
    return {
      reason: `${node.name} has proxy_arp on ${facing}, but for a request from ${pod.ip} its policy rule \`${rule.raw}\` ${what}; Linux answers by proxy only for addresses it routes elsewhere`,
      fix: missingTable !== undefined ? [{node: node.name, command: `ip route show table ${missingTable}`}] : [{node: node.name, command: `ip rule del pref ${rule.priority}`}],
    }
  }
  return {
    reason: `${node.name} has proxy_arp on ${facing} but ${r === undefined ? `no route to ${target}` : `its route to ${target} (${r.raw}) does not leave by another device`}; Linux answers by proxy only for addresses it routes elsewhere (a Calico node normally has a default route)`,
    fix: gatewayRouteFix(w, node, target),
  }
}

/** a route for a pod's gateway out of the node's own device: what proxy ARP needs to answer for it */
function gatewayRouteFix(w: WorldIndex, node: HostView, target: string): Fix[] {
  const out = w.nodeAddress(node)
  const dev = out !== undefined ? node.ownAddress(out)?.dev : undefined
  return dev !== undefined ? [{node: node.name, command: `ip route replace ${target} dev ${dev} scope link`}] : []
}

/**
 * What would still keep a node from answering by proxy for a pod's gateway once proxy_arp is on
 * (the tables read can tell): its device not forwarding, a rule's action, or no route out of
 * another device. A fix for proxy_arp alone would leave the pod as silent as before.
 */
function silentWithProxyArp(w: WorldIndex, node: HostView, pod: PodRef, facing: string, target: string): {why: string, fix: Fix[]} | undefined {
  const notForwarding = node.forwardingOff(facing)
  if (notForwarding !== undefined) return {why: `${node.name} does not forward what arrives on ${facing} (${notForwarding} = 0)`, fix: [{node: node.name, command: sysctlCommand(notForwarding, 1)}]}
  if (node.routes === undefined) return undefined
  const {route: r, rule, missingTable, action} = node.routeFor({dst: target, src: pod.ip, iif: facing})
  if (missingTable !== undefined) return undefined
  if (action !== undefined && rule !== undefined) return {why: `for a request from ${pod.ip} its policy rule \`${rule.raw}\` says ${action}`, fix: [{node: node.name, command: `ip rule del pref ${rule.priority}`}]}
  if (r !== undefined && r.type === 'unicast' && routeDevice(node.routes, r) !== facing) return undefined
  return {why: `${node.name} ${r === undefined ? `has no route to ${target}` : `routes ${target} by ${r.raw}, which does not leave by another device`}, and Linux answers by proxy only for addresses it routes elsewhere (a Calico node normally has a default route)`,
    fix: gatewayRouteFix(w, node, target)}
}

export function whoAnswers(w: WorldIndex, from: HostView, dev: string, target: string): Answer | undefined {
  if (loopedVeth(from, dev)) return undefined
  const pod = w.podOf(from)
  if (pod === undefined) return fromNode(w, from, dev, target)
  // only the device holding the pod's address leads to its node; another is a segment of its own
  const own = from.ownAddress(pod.ip)
  return own === undefined || own.dev === dev ? fromPod(w, pod, target) : fromNode(w, from, dev, target)
}

/** A veth whose other end is in the same namespace (`ip link` prints `d0@d1`): its frames come back to the host that sent them. */
export function loopedVeth(view: HostView, dev: string): boolean {
  return view.link(dev)?.peerHere === true
}
