import type {NodeStatus} from '../services/status.js'
import {peerTable} from './peers.js'
import {backendWords} from '../core/netconf.js'

export function renderStatus(s: NodeStatus): string {
  const yes = (b: boolean | null) => (b === null ? 'unknown' : b ? 'yes' : 'NO')
  const lines = [
    `node      ${s.publicIP} on ${s.iface}`,
    `lease     ${s.subnet ?? 'none'} (${s.backend === null ? '?' : backendWords({type: s.backend, directRouting: s.directRouting === true})}${s.announced && s.announced !== s.backend ? `, announced as ${s.announced}` : ''}) in ${s.store}${leaseNote(s)}`,
    `forward   ip_forward ${yes(s.forwarding)}`,
    ...(s.nftables === null
      ? [`iptables  ${s.iptables.flavour ?? 'unknown flavour'}; ${chainList(s.iptables.chains)}`]
      : [`nftables  flanneld's native rules (EnableNFTables); ${chainList(s.nftables.chains)}`]),
    `devices   ${s.devices.map(d => `${d.name} ${d.present ? `${d.up ? 'up' : 'DOWN'} mtu ${d.mtu}` : 'MISSING'}`).join(', ')}`,
    `last sync ${s.lastSync ?? 'never'}`,
  ]
  const inSync = s.peers.filter(p => p.state === 'in-sync').length
  const offLink = s.peers.filter(p => p.state === 'off-link').length
  lines.push(`peers     ${inSync}/${s.peers.length} in sync${offLink > 0 ? `, ${offLink} off-link (host-gw cannot route to ${offLink === 1 ? 'it' : 'them'}: see the warning)` : ''}`)
  if (s.peers.length) {
    lines.push('', peerTable(s.peers))
  }
  for (const w of s.warnings) lines.push(`warning   ${w}`)
  if (s.drift.length) lines.push('', `drift     flannelctl sync would ${s.drift.length === 1 && s.drift[0].startsWith('sync would stop') ? 'stop' : 'change'}:`, ...s.drift.map(d => `  ${d}`))
  else lines.push(`drift     none: the host is as flannelctl sync leaves it`)
  return lines.join('\n')
}

function chainList(chains: Record<string, boolean>): string {
  return Object.entries(chains).map(([c, ok]) => `${c} ${ok ? 'present' : 'MISSING'}`).join(', ')
}

function leaseNote(s: NodeStatus): string {
  switch (s.leaseInStore.state) {
    case 'held': return ''
    case 'missing': return ': MISSING from the store (expired, or the store lost it); peers drop their routes here on their next sync: run flannelctl sync'
    case 'taken': return `: TAKEN in the store by ${s.leaseInStore.holder} (the store handed it out again); flannelctl sync leases this host another subnet, and its pods need re-creating`
  }
}
