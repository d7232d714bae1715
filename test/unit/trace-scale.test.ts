import {expect} from 'chai'
import type {HostSnapshot} from '../../src/core/model.js'
import {traceFlow} from '../../src/core/trace/engine.js'
import type {PodRef, World} from '../../src/core/trace/types.js'

/** node i (1-based) owns 10.<i / 256 + 10>.<i % 256>.0/24, underlay 172.16.<i / 256>.<i % 256>. */
function flannelVxlanWorld(n: number): World {
  const sub = (i: number) => `10.${10 + Math.floor(i / 256)}.${i % 256}`
  const under = (i: number) => `172.16.${Math.floor(i / 256)}.${i % 256}`
  const mac = (i: number) => `0e:00:00:00:${(Math.floor(i / 256)).toString(16).padStart(2, '0')}:${(i % 256).toString(16).padStart(2, '0')}`
  const hosts: HostSnapshot[] = []
  const pods: PodRef[] = []
  // A peer's route, neighbour and fdb entry read the same on every other host: build them once.
  const peerRoute: NonNullable<HostSnapshot['routes']> = []
  const peerNeigh: NonNullable<HostSnapshot['neighbors']> = []
  const peerFdb: NonNullable<HostSnapshot['fdb']> = []
  for (let j = 1; j <= n; j++) {
    peerRoute.push({dst: `${sub(j)}.0/24`, type: 'unicast', gateway: `${sub(j)}.0`, dev: 'flannel.1', onlink: true, raw: `${sub(j)}.0/24 via ${sub(j)}.0 dev flannel.1 onlink`})
    peerNeigh.push({dst: `${sub(j)}.0`, dev: 'flannel.1', lladdr: mac(j), state: ['PERMANENT'], raw: `${sub(j)}.0 dev flannel.1 lladdr ${mac(j)} PERMANENT`})
    peerFdb.push({mac: mac(j), dev: 'flannel.1', dst: under(j), flags: ['self', 'permanent'], raw: `${mac(j)} dev flannel.1 dst ${under(j)} self permanent`})
  }
  const others = <T>(list: T[], i: number): T[] => [...list.slice(0, i - 1), ...list.slice(i)]
  for (let i = 1; i <= n; i++) {
    const routes: HostSnapshot['routes'] = [
      {dst: '172.16.0.0/16', type: 'unicast', dev: 'eth0', src: under(i), raw: `172.16.0.0/16 dev eth0 proto kernel scope link src ${under(i)}`},
      {dst: `${sub(i)}.0/24`, type: 'unicast', dev: 'cni0', src: `${sub(i)}.1`, raw: `${sub(i)}.0/24 dev cni0 proto kernel scope link src ${sub(i)}.1`},
      ...others(peerRoute, i),
    ]
    const neighbors = others(peerNeigh, i)
    const fdb = others(peerFdb, i)
    hosts.push({
      name: `node${i}`,
      links: [
        {name: 'eth0', index: 2, kind: 'ether', mtu: 1500, up: true, raw: '2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500'},
        {name: 'cni0', index: 3, kind: 'bridge', mtu: 1450, up: true, raw: '3: cni0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450'},
        {name: 'flannel.1', index: 4, kind: 'vxlan', mtu: 1450, up: true, mac: mac(i), vxlan: {id: 1, local: under(i), dev: 'eth0', port: 8472, learning: false},
          raw: `4: flannel.1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450\n    vxlan id 1 local ${under(i)} dev eth0 dstport 8472 nolearning`},
      ],
      addresses: [
        {dev: 'eth0', family: 4, local: under(i), prefixlen: 16, raw: `inet ${under(i)}/16 scope global eth0`},
        {dev: 'cni0', family: 4, local: `${sub(i)}.1`, prefixlen: 24, raw: `inet ${sub(i)}.1/24 scope global cni0`},
        {dev: 'flannel.1', family: 4, local: `${sub(i)}.0`, prefixlen: 32, raw: `inet ${sub(i)}.0/32 scope global flannel.1`},
      ],
      routes, neighbors, fdb,
      iptables: {chains: [{table: 'filter', name: 'FORWARD', policy: 'ACCEPT'}], rules: []},
      sysctls: {'net.ipv4.ip_forward': '1'},
    })
    pods.push({name: `pod-${i}`, ip: `${sub(i)}.5`, node: `node${i}`})
  }
  return {hosts, pods}
}

describe('trace at scale', () => {
  it('traces across a 1000-node flannel vxlan world', () => {
    const world = flannelVxlanWorld(1000)
    const t = traceFlow(world, {src: 'pod-1', dst: 'pod-1000'})
    expect(t.disposition, t.failure?.reason).to.equal('DELIVERED')
    expect(t.hops.map(h => h.node)).to.deep.equal(['node1', 'node1000'])
    expect(t.traceroute).to.deep.equal(['10.10.1.1', '10.13.232.0', '10.13.232.5'])
    expect(t.returnPath.disposition).to.equal('DELIVERED')
  })
})
