/**
 * Entities back to the lines `ip` / `bridge` print (iproute2 6.x field order), so evidence and
 * planned operations read exactly like what a user finds on the host.
 */
import {hasCarrier, type Address, type FdbEntry, type Link, type Neighbor, type Route} from '../model.js'
import {withoutHostPrefix} from './common.js'

/** `10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink`, `blackhole 10.244.99.0/24`. */
export function formatRoute(r: Omit<Route, 'raw'>): string {
  const out: string[] = []
  if (r.type !== 'unicast') out.push(r.type)
  out.push(withoutHostPrefix(r.dst))
  if (r.gateway !== undefined) out.push('via', r.gateway)
  if (r.dev !== undefined) out.push('dev', r.dev)
  if (r.table !== undefined && r.table !== 'main') out.push('table', r.table)
  if (r.proto !== undefined) out.push('proto', r.proto)
  if (r.scope !== undefined) out.push('scope', r.scope)
  if (r.src !== undefined) out.push('src', r.src)
  if (r.metric !== undefined) out.push('metric', String(r.metric))
  if (r.onlink) out.push('onlink')
  return out.join(' ')
}

/** `10.244.2.0 dev flannel.1 lladdr aa:bb:cc:dd:ee:02 PERMANENT`. */
export function formatNeighbor(n: Omit<Neighbor, 'raw'>): string {
  const out = [n.dst, 'dev', n.dev]
  if (n.lladdr !== undefined) out.push('lladdr', n.lladdr)
  out.push(...n.state)
  return out.join(' ')
}

const FDB_STATES = new Set(['permanent', 'static', 'stale'])

/** `aa:bb:cc:dd:ee:ff dev flannel.1 dst 192.168.100.12 self permanent`. */
export function formatFdb(f: Omit<FdbEntry, 'raw'>): string {
  const out = [f.mac, 'dev', f.dev]
  if (f.dst !== undefined) out.push('dst', f.dst)
  if (f.vlan !== undefined) out.push('vlan', String(f.vlan))
  if (f.via !== undefined) out.push('via', typeof f.via === 'number' ? `ifindex ${f.via}` : f.via)
  // bridge prints flags, then master, then the state
  for (const flag of f.flags) if (!FDB_STATES.has(flag)) out.push(flag)
  if (f.master !== undefined) out.push('master', f.master)
  for (const flag of f.flags) if (FDB_STATES.has(flag)) out.push(flag)
  return out.join(' ')
}

/** `inet 10.244.1.1/24 scope global cni0`; IPv6 lines carry no label, as `ip addr` prints them. */
export function formatAddress(a: Omit<Address, 'raw'>): string {
  const out = [a.family === 4 ? 'inet' : 'inet6']
  out.push(a.peer !== undefined ? `${a.local} peer ${a.peer}/${a.prefixlen}` : `${a.local}/${a.prefixlen}`)
  if (a.scope !== undefined) out.push('scope', a.scope)
  if (a.family === 4) out.push(a.dev)
  return out.join(' ')
}

/**
 * `5: flannel.1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 state UNKNOWN`, plus for a vxlan
 * device its `vxlan id ...` line: the header line of `ip -d link` with the fields the model keeps.
 */
export function formatLink(l: Omit<Link, 'raw'>): string {
  const name = l.peerIndex !== undefined ? `${l.name}@if${l.peerIndex}` : l.name
  const flags: string[] = []
  if (l.kind === 'loopback') flags.push('LOOPBACK')
  else flags.push('BROADCAST', 'MULTICAST')
  // as iproute2 prints them: NO-CARRIER for a device up but not RUNNING (operstate neither UP nor
  // UNKNOWN), LOWER_UP for one with carrier; the two disagree until the link watch has run
  if (l.up && l.operstate !== undefined && l.operstate !== 'UP' && l.operstate !== 'UNKNOWN') flags.unshift('NO-CARRIER')
  if (l.up) flags.push('UP')
  if (hasCarrier(l)) flags.push('LOWER_UP')
  let header = `${l.index ?? 0}: ${name}: <${flags.join(',')}> mtu ${l.mtu}`
  if (l.master !== undefined) header += ` master ${l.master}`
  if (l.operstate !== undefined) header += ` state ${l.operstate}`
  const lines = [header]
  if (l.mac !== undefined) lines.push(`    link/${l.kind === 'loopback' ? 'loopback' : 'ether'} ${l.mac}`)
  if (l.vxlan !== undefined) lines.push(`    ${formatVxlan(l.vxlan)}`)
  return lines.join('\n')
}

export function formatVxlan(v: NonNullable<Link['vxlan']>): string {
  const out = ['vxlan', 'id', String(v.id)]
  if (v.local !== undefined) out.push('local', v.local)
  if (v.dev !== undefined) out.push('dev', v.dev)
  out.push('dstport', String(v.port))
  if (!v.learning) out.push('nolearning')
  return out.join(' ')
}
