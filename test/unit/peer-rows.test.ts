/** Each peer's state on this host, as peer list and status show it. */
import {expect} from 'chai'
import {peerRows, type NodeRecord} from '../../src/services/node.js'
import type {HostSnapshot, Route} from '../../src/core/model.js'
import type {Lease} from '../../src/core/lease.js'

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
})
