import {expect} from 'chai'
import {planNode, type NodeIntent} from '../../src/core/planner.js'
import type {HostSnapshot, Link} from '../../src/core/model.js'

const intent: NodeIntent = {
  network: '10.244.0.0/16', subnet: '10.244.1.0/24', backend: {type: 'host-gw', vni: 1, port: 8472, directRouting: false}, iface: 'eth0', publicIP: '192.168.100.11',
  vtepMAC: '02:00:00:00:00:01', bridge: 'cni0', mtu: 1500, ipMasq: false, peers: [], onLinkPeers: new Set(), subnetFile: '/x/subnet.env',
  cniConfDir: '/x/cni', cniPlugin: 'bridge', ownedRoutes: [],
}
const veth = (name: string, master?: string): Link => ({name, kind: 'veth', mtu: 1500, up: true, raw: '', ...(master ? {master} : {})})

/** A node after `ip link del cni0`: the pods' veths are left, plugged into nothing. */
function withoutBridge(extra: Link[], looseVethPeerAddresses: Record<string, string[]> = {vethfe3b4783: ['10.244.1.2'], veth2d7c1a35: ['10.244.1.3']}): HostSnapshot {
  return {
    looseVethPeerAddresses,
    name: 'n1',
    links: [{name: 'eth0', kind: 'ether', mtu: 1500, up: true, raw: ''}, ...extra],
    addresses: [{dev: 'eth0', family: 4, local: '192.168.100.11', prefixlen: 24, raw: ''}, {dev: 'veth0ddba11e', family: 4, local: '172.20.0.1', prefixlen: 30, raw: ''}],
    routes: [], neighbors: [], fdb: [], sysctls: {'net.ipv4.ip_forward': '1'},
  }
}
const ipLines = (snap: HostSnapshot) => planNode(intent, snap, {}).ops.flatMap(o => (o.tool === 'ip' ? [o.args.join(' ')] : []))
const plugged = (snap: HostSnapshot) => ipLines(snap).filter(l => l.includes('master'))

describe('planner: the pod bridge deleted under its pods', () => {
  it('re-creates the bridge and plugs the pods\' veths back in, as the bridge plugin had them (kernel: a re-created bridge takes no port back)', () => {
    const lines = ipLines(withoutBridge([veth('vethfe3b4783'), veth('veth2d7c1a35')]))
    expect(lines.slice(0, 4)).to.deep.equal(['link add cni0 type bridge', 'link set cni0 mtu 1500', 'addr add 10.244.1.1/24 dev cni0', 'link set cni0 up'])
    expect(lines.slice(4)).to.deep.equal([
      'link set vethfe3b4783 master cni0', 'link set vethfe3b4783 type bridge_slave hairpin on',
      'link set veth2d7c1a35 master cni0', 'link set veth2d7c1a35 type bridge_slave hairpin on',
    ])
  })

  it('says why the new bridge has its MTU as the backend has it: room for the vxlan header, none for host-gw', () => {
    const why = (type: 'vxlan' | 'host-gw') => planNode({...intent, backend: {...intent.backend, type}}, withoutBridge([]), {}).ops
      .find(o => o.tool === 'ip' && o.args.join(' ') === `link set cni0 mtu ${intent.mtu}`)?.why
    expect(why('host-gw')).to.equal('pod MTU: host-gw adds no header')
    expect(why('vxlan')).to.equal('pod MTU leaves room for the vxlan header')
  })

  it('leaves veths that are not a loose pod\'s: in a bridge already, docker\'s (7 digits), Calico\'s, one with an address', () => {
    const lines = ipLines(withoutBridge([veth('vethfe3b4783', 'docker0'), veth('veth1a2b3c4'), veth('cali1234567890a'), veth('veth0ddba11e')]))
    expect(lines.filter(l => l.includes('master'))).to.deep.equal([])
  })

  it('leaves another network\'s pod, whose bridge was deleted, out of this one (its veth is named as the bridge plugin names every pod\'s), and says so', () => {
    const snap = withoutBridge([veth('vethfe3b4783'), veth('vethdeadbeef'), veth('veth0badf00d')], {vethfe3b4783: ['10.244.1.2'], vethdeadbeef: ['10.88.0.2']})
    expect(plugged(snap)).to.deep.equal(['link set vethfe3b4783 master cni0'])
    expect(planNode(intent, snap, {}).warnings).to.deep.equal([
      'vethdeadbeef is plugged into no bridge, and its other end has 10.88.0.2, not on this node\'s subnet 10.244.1.0/24: left alone, as another network\'s (its bridge deleted?); if it is a pod of this node from before its subnet changed, re-create it (plugged into cni0, its old address would still be unrouted)',
      'veth0badf00d is plugged into no bridge, and its other end is in no namespace this host names (ip netns): left alone, as another network\'s (its bridge deleted?); if it is a pod of this node: ip link set veth0badf00d master cni0',
    ])
  })
})
