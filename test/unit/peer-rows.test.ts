/** Each peer's state on this host, as peer list and status show it. */
import {expect} from 'chai'
import {peerRows, type NodeRecord} from '../../src/services/node.js'
import type {HostSnapshot, Route} from '../../src/core/model.js'
import type {Lease} from '../../src/core/lease.js'
import type {Op} from '../../src/core/ops.js'

const route = (dst: string, extra: Partial<Route>): Route => ({dst, type: 'unicast', raw: '', ...extra})

describe('peerRows: each peer\'s state on this host', () => {
  // a hand-run host-gw node (README): one static peer on its segment, one behind a router
  const rec = {store: 'file:/x', iface: 'eth0', publicIP: '192.168.100.12', bridge: 'cni0', subnetFile: '/x/subnet.env', cniConfDir: '/x/cni', cniPlugin: 'bridge',
    ipMasq: false, subnet: '10.244.1.0/24', backendType: 'host-gw', ownedRoutes: [],
    staticPeers: [{subnet: '10.244.2.0/24', publicIP: '192.168.100.13', backendType: 'host-gw'}, {subnet: '10.244.3.0/24', publicIP: '192.168.200.9', backendType: 'host-gw'}],
  } as unknown as NodeRecord
  const snap = {routes: [
    route('192.168.100.0/24', {dev: 'eth0', scope: 'link'}),
    route('default', {gateway: '192.168.100.1', dev: 'eth0'}),
    route('10.244.2.0/24', {gateway: '192.168.100.13', dev: 'eth0'}),
  ]} as unknown as HostSnapshot

  it('a host-gw peer behind a router, which sync cannot route to, is off-link, not missing: status keeps exit 0 for it, as its help says', () => {
    // before: 'missing', and status exited 1 while its drift said "none: the host is as flannelctl sync leaves it"
    expect(peerRows(rec, [] as Lease[], snap).map(p => [p.subnet, p.state])).to.deep.equal([['10.244.2.0/24', 'in-sync'], ['10.244.3.0/24', 'off-link']])
  })

  it('an on-link peer without its route is missing (sync adds it)', () => {
    const without = {routes: snap.routes!.filter(r => r.dst !== '10.244.2.0/24')} as HostSnapshot
    expect(peerRows(rec, [] as Lease[], without).find(p => p.subnet === '10.244.2.0/24')?.state).to.equal('missing')
  })

  it('a peer whose entries sync would change is drifted, though it has a route: status\'s peers and its drift agree', () => {
    // lab: backend set vxlan --directrouting, then status on a node not yet synced said "peers 1/1
    // in sync" above a drift that replaced that very peer's route (and deleted its neigh and fdb)
    const vxlanRec = {...rec, backendType: 'vxlan', staticPeers: []} as unknown as NodeRecord
    const lease = {subnet: '10.244.2.0/24', publicIP: '192.168.100.13', backendType: 'vxlan', backendData: {VtepMAC: '16:58:7b:64:7f:ad'}} as unknown as Lease
    const viaVtep = {
      routes: [route('10.244.2.0/24', {gateway: '10.244.2.0', dev: 'flannel.1', flags: ['onlink']})],
      neighbors: [{dst: '10.244.2.0', dev: 'flannel.1', lladdr: '16:58:7b:64:7f:ad', state: ['PERMANENT']}],
      fdb: [{mac: '16:58:7b:64:7f:ad', dev: 'flannel.1', dst: '192.168.100.13'}],
    } as unknown as HostSnapshot
    const state = (planned: Op[]) => peerRows(vxlanRec, [lease], viaVtep, planned).map(p => p.state)
    expect(state([])).to.deep.equal(['in-sync'])
    expect(state([{tool: 'ip', args: ['route', 'replace', '10.244.2.0/24', 'via', '192.168.100.13', 'dev', 'eth0'], why: ''}])).to.deep.equal(['drifted'])
    expect(state([{tool: 'ip', args: ['neigh', 'del', '10.244.2.0', 'dev', 'flannel.1'], why: ''}])).to.deep.equal(['drifted'])
    expect(state([{tool: 'bridge', args: ['fdb', 'del', '16:58:7b:64:7f:ad', 'dev', 'flannel.1', 'dst', '192.168.100.13', 'self'], why: ''}])).to.deep.equal(['drifted'])
    // another peer's entries, or the node's own, leave it in sync
    expect(state([{tool: 'ip', args: ['route', 'replace', '10.244.9.0/24', 'via', '10.244.9.0', 'dev', 'flannel.1', 'onlink'], why: ''},
      {tool: 'sysctl', key: 'net.ipv4.ip_forward', value: '1', why: ''}])).to.deep.equal(['in-sync'])
  })
})
