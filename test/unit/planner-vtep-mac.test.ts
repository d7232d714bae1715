/**
 * Two leases announcing one VtepMAC (hosts cloned with one machine-id, an edited lease): the fdb holds
 * one entry per MAC, so only one VTEP can be reached. The plan must be stable (it flipped the entry
 * between the two on every agent round) and say why the other peer is not routed.
 */
import {expect} from 'chai'
import {planNode, type NodeIntent, type Peer} from '../../src/core/planner.js'
import type {HostSnapshot} from '../../src/core/model.js'
import {predictAfterOps} from '../../src/core/predict.js'
import {isValidMac, notUnicastMac} from '../../src/core/addr.js'
import {announcedVtepMac} from '../../src/services/node.js'
import type {Lease} from '../../src/store/store.js'
import fc from 'fast-check'

const peer = (n: number, mac: string): Peer => ({subnet: `10.244.${n}.0/24`, publicIP: `192.168.100.${n}`, backendType: 'vxlan', vtepMAC: mac})

const intent = (peers: Peer[]): NodeIntent => ({
  network: '10.244.0.0/16', subnet: '10.244.1.0/24', backend: {type: 'vxlan', vni: 1, port: 8472, directRouting: false}, iface: 'eth0',
  publicIP: '192.168.100.11', vtepMAC: '02:00:00:00:00:01', bridge: 'cni0', mtu: 1450, ipMasq: true, peers, onLinkPeers: new Set(),
  subnetFile: '/x/subnet.env', cniConfDir: '/x/cni', cniPlugin: 'bridge', ownedRoutes: [],
})

const host: HostSnapshot = {
  name: 'n1',
  links: [{name: 'eth0', kind: 'ether', mtu: 1500, up: true, raw: ''}],
  addresses: [{dev: 'eth0', family: 4, local: '192.168.100.11', prefixlen: 24, raw: ''}],
  routes: [], neighbors: [], fdb: [], sysctls: {'net.ipv4.ip_forward': '1'},
}

const entries = (ops: {tool: string; args?: string[]}[]) => ops.filter(o => o.tool === 'ip' || o.tool === 'bridge').map(o => o.args!.join(' '))
  .filter(a => /^(route|neigh|fdb) /.test(a) && !a.includes('10.244.1.'))

describe('planner: a VtepMAC in upper case', () => {
  it('matches the kernel\'s lower-case entries: nothing to change, and its fdb entry is not deleted as stale', () => {
    const built: HostSnapshot = {...host,
      routes: [{dst: '10.244.2.0/24', gateway: '10.244.2.0', dev: 'flannel.1', onlink: true, type: 'unicast', raw: ''}],
      neighbors: [{dst: '10.244.2.0', dev: 'flannel.1', lladdr: '02:ab:00:00:00:02', state: ['PERMANENT'], raw: ''}],
      fdb: [{mac: '02:ab:00:00:00:02', dev: 'flannel.1', dst: '192.168.100.2', raw: ''}]}
    expect(entries(planNode(intent([peer(2, '02:AB:00:00:00:02')]), built, {}).ops)).to.deep.equal([])
  })
})

describe('planner: peers announcing one VtepMAC', () => {
  it('the first lease keeps the MAC; the other is not routed and is named in a warning', () => {
    const plan = planNode(intent([peer(2, '02:ee:00:00:00:01'), peer(3, '02:EE:00:00:00:01'), peer(4, '02:00:00:00:00:04')]), host, {})
    const lines = entries(plan.ops)
    expect(lines.some(l => l.includes('10.244.2.0'))).to.equal(true)
    expect(lines.some(l => l.includes('10.244.3.0') || l.includes('192.168.100.3'))).to.equal(false)
    expect(lines.some(l => l.includes('10.244.4.0'))).to.equal(true)
    expect(plan.warnings).to.include('peer 10.244.3.0/24 (192.168.100.3) announces VtepMAC 02:ee:00:00:00:01, which is the VTEP MAC of 10.244.2.0/24 (192.168.100.2) too: '
      + 'one MAC reaches one host, so it is not routed; give each host\'s flannel.1 its own MAC (VMs cloned with one /etc/machine-id get the same one)')
  })

  it('is stable: planned again against the host it left, nothing to change', () => {
    const i = intent([peer(2, '02:ee:00:00:00:01'), peer(3, '02:ee:00:00:00:01')])
    const first = planNode(i, host, {})
    // the peers' entries applied (the device and bridge ops are not the point here)
    const after = predictAfterOps(host, first.ops.filter(o => (o.tool === 'ip' || o.tool === 'bridge') && /^(route|neigh|fdb) /.test(o.args.join(' '))))
    expect(after).to.not.equal(undefined)
    expect(entries(planNode(i, after!, {}).ops)).to.deep.equal([])
  })

  it('a peer announcing this host\'s own VTEP MAC is not routed', () => {
    const plan = planNode(intent([peer(2, '02:00:00:00:00:01')]), host, {})
    expect(entries(plan.ops)).to.deep.equal([])
    expect(plan.warnings.join('\n')).to.contain('announces VtepMAC 02:00:00:00:00:01, which is this host\'s own VTEP MAC')
  })
})

describe('announcedVtepMac (the MAC a new VTEP device keeps)', () => {
  /** the form it had before it stopped making a Peer of every lease on every round */
  const reference = (leases: Lease[], publicIP: string) => {
    const announced = leases.map(l => {
      const raw = l.backendData?.VtepMAC
      return {publicIP: l.publicIP, vtepMAC: typeof raw === 'string' && isValidMac(raw) ? raw.toLowerCase() : undefined}
    })
    const mac = announced.find(p => p.publicIP === publicIP)?.vtepMAC
    return mac !== undefined && announced.filter(p => p.vtepMAC === mac).length === 1 ? mac : undefined
  }
  it('is this host\'s lease\'s MAC when no other lease announces it, for any leases', () => {
    const lease = fc.record({
      subnet: fc.constantFrom('10.244.1.0/24', '10.244.2.0/24', '10.244.3.0/24'),
      publicIP: fc.constantFrom('192.168.0.1', '192.168.0.2', '192.168.0.3'),
      publicIPv6: fc.constant(null),
      backendType: fc.constantFrom('vxlan', 'host-gw'),
      backendData: fc.constantFrom({}, {VNI: 1}, {VNI: 1, VtepMAC: '02:00:00:00:00:01'}, {VNI: 1, VtepMAC: '02:00:00:00:00:0A'},
        {VNI: 1, VtepMAC: '02:00:00:00:00:0a'}, {VNI: 1, VtepMAC: 'not a mac'}, {VNI: 1, VtepMAC: 7}),
    }) as fc.Arbitrary<Lease>
    fc.assert(fc.property(fc.array(lease, {maxLength: 6}), fc.constantFrom('192.168.0.1', '192.168.0.2', '192.168.0.4'), (leases, publicIP) => {
      expect(announcedVtepMac(leases, publicIP)).to.equal(reference(leases, publicIP))
    }), {numRuns: 2000})
  })
})

describe('a VtepMAC that is no device\'s (notUnicastMac)', () => {
  it('names broadcast, multicast and the all-zero MAC (the fdb\'s default entry); a locally administered unicast MAC passes', () => {
    expect(notUnicastMac('ff:ff:ff:ff:ff:ff')).to.equal('the broadcast MAC')
    expect(notUnicastMac('01:00:5e:00:00:01')).to.equal('a multicast MAC (its first octet is odd)')
    expect(notUnicastMac('33:33:00:00:00:01')).to.equal('a multicast MAC (its first octet is odd)')
    expect(notUnicastMac('00:00:00:00:00:00')).to.contain('the all-zero MAC')
    expect(notUnicastMac('02:00:00:00:00:01')).to.equal(undefined)
    expect(notUnicastMac('5A:1F:00:00:00:02')).to.equal(undefined)
  })
})
