/** One screen about this node: lease, backend, devices, peers in sync or drifted, chains, last sync. */
import {peerRows, plannedSync, NodeOptions, PeerRow} from './node.js'
import {vxlanDeviceName, MASQ_CHAIN, FWD_CHAIN} from '../core/flannel.js'
import {NFT_FWD_CHAIN, NFT_MASQ_CHAIN, NFT_TABLE_V4, flannelV4Table, rulesMode, type RulesMode} from '../core/flannel-nft.js'
import type {ServiceContext} from './context.js'

export interface DeviceState {
  name: string
  present: boolean
  up: boolean
  mtu?: number
  mac?: string
}

export interface NodeStatus {
  publicIP: string
  iface: string
  store: string
  subnet: string | null
  /**
   * whether the store still holds this host's lease: held, missing (expired or the store lost it:
   * peers drop their routes to this host on their next sync), or taken (another host's now)
   */
  leaseInStore: {state: 'held' | 'missing' | 'taken'; holder?: string}
  /** the backend this host routes with */
  backend: string | null
  /** vxlan: whether the network config says DirectRouting (null: not read, sync would stop) */
  directRouting: boolean | null
  /**
   * the backend its lease announces in the store, when held: vxlan while a migration to host-gw
   * keeps this host's VTEP for peers not yet switched
   */
  announced: string | null
  lastSync: string | null
  forwarding: boolean | null
  /** where flannel's masquerade and forward rules belong: nftables when the network config says EnableNFTables */
  rules: 'iptables' | 'nftables'
  /** the iptables flavour, and (rules: iptables) whether each of flannel's chains is there */
  iptables: {flavour: string | null; chains: Record<string, boolean>}
  /** rules: nftables: whether each of flanneld's chains in its table is there (`ip flannel-ipv4/forward`); null in iptables mode */
  nftables: {chains: Record<string, boolean>} | null
  devices: DeviceState[]
  peers: PeerRow[]
  /**
   * what `flannelctl sync` would change now (a missing FORWARD jump, ip_forward off, an MTU, a
   * stray route…), or why it would stop: empty when the host is as sync leaves it
   */
  drift: string[]
  /** what sync would warn about (a peer it cannot route to, peers reached through another interface): shown, not counted as drift */
  warnings: string[]
}

export async function nodeStatus(ctx: ServiceContext, o: NodeOptions): Promise<NodeStatus> {
  // The plan sync would make is the drift: the same planner judges what it would repair.
  const planned = await plannedSync(ctx, o)
  const {record: r, leases, snapshot: snap} = planned
  const drift = 'result' in planned ? planned.result.plan : [`sync would stop: ${planned.refused.message}`]
  const peers = peerRows(r, leases, snap, 'result' in planned ? planned.result.ops : [])
  const stored = leases.find(l => l.subnet === r.subnet)
  const leaseInStore: NodeStatus['leaseInStore'] = stored === undefined ? {state: 'missing'}
    : stored.publicIP === r.publicIP ? {state: 'held'} : {state: 'taken', holder: stored.publicIP}
  const device = (name: string): DeviceState => {
    const l = snap.links?.find(x => x.name === name)
    return {name, present: Boolean(l), up: Boolean(l?.up), mtu: l?.mtu, mac: l?.mac}
  }
  const devices = [device(r.iface), device(r.bridge)]
  // a migration off vxlan keeps the VTEP until every peer has switched: it is still this node's
  const vtep = vxlanDeviceName(r.vni ?? 1)
  if (r.backendType === 'vxlan' || (r.vni !== undefined && snap.links?.some(l => l.name === vtep && l.kind === 'vxlan'))) devices.push(device(vtep))
  const chains = snap.iptables?.chains ?? []
  // The config decides; a sync that would stop read none, and the host's own table tells then.
  const nftMode = 'result' in planned ? planned.result.netConf.enableNFTables === true
    : flannelV4Table(snap.flannelNft) !== undefined
  // --no-ip-masq without static peers masquerades nothing, so there is no nat chain to miss
  const masquerades = r.ipMasq || r.staticPeers.length > 0
  const nftChains = flannelV4Table(snap.flannelNft)?.chains ?? []
  return {
    publicIP: r.publicIP,
    iface: r.iface,
    store: r.store,
    subnet: r.subnet ?? null,
    leaseInStore,
    backend: r.backendType ?? null,
    directRouting: 'result' in planned && planned.result.netConf.backend.type === 'vxlan' ? planned.result.netConf.backend.directRouting : null,
    announced: leaseInStore.state === 'held' ? stored!.backendType : null,
    lastSync: r.lastSync ?? null,
    forwarding: snap.sysctls?.['net.ipv4.ip_forward'] === undefined ? null : snap.sysctls['net.ipv4.ip_forward'] === '1',
    rules: nftMode ? 'nftables' : 'iptables',
    iptables: {
      flavour: snap.iptables?.flavour ?? null,
      chains: nftMode ? {} : {
        ...(masquerades ? {[`nat/${MASQ_CHAIN}`]: chains.some(c => c.table === 'nat' && c.name === MASQ_CHAIN)} : {}),
        [`filter/${FWD_CHAIN}`]: chains.some(c => c.table === 'filter' && c.name === FWD_CHAIN),
      },
    },
    nftables: !nftMode ? null : {
      chains: {
        ...(masquerades ? {[`ip ${NFT_TABLE_V4}/${NFT_MASQ_CHAIN}`]: nftChains.some(c => c.name === NFT_MASQ_CHAIN)} : {}),
        [`ip ${NFT_TABLE_V4}/${NFT_FWD_CHAIN}`]: nftChains.some(c => c.name === NFT_FWD_CHAIN),
      },
    },
    devices,
    peers,
    drift,
    warnings: 'result' in planned ? [...planned.result.warnings, ...misplacedRules(rulesMode(snap), nftMode)] : [],
  }
}

/** Where the rules are, said when it is not where the network config puts them (doctor's RULES_MODE_MISMATCH, RULES_IN_BOTH). */
export function misplacedRules(found: RulesMode, nftMode: boolean): string[] {
  const wanted = nftMode ? 'nftables' : 'iptables'
  if (found !== 'both' && (found === wanted || found === 'none' || found === 'unknown')) return []
  return [`flannel's rules are in ${found === 'both' ? 'both iptables and nftables' : found}, but the network config puts them in ${wanted}${nftMode ? ' (EnableNFTables)' : ''}: flannelctl sync moves them (the drift below)`]
}
