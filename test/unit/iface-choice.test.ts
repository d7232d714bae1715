/** Which interface init takes for node traffic, and what it lists when it cannot tell. */
import {expect} from 'chai'
import {resolveIface} from '../../src/services/node.js'
import type {Address, HostSnapshot, Link} from '../../src/core/model.js'

const link = (name: string, kind: Link['kind']): Link => ({name, kind, mtu: 1500, up: true})
const addr = (dev: string, local: string): Address => ({dev, family: 4, local, prefixlen: 24, scope: 'global', raw: ''})

describe('resolveIface: the interface for node traffic', () => {
  // a lab node after `flannelctl reset`: no default route, its pods' veths left loose by the bridge's removal
  const afterReset: HostSnapshot = {
    links: [link('lo', 'loopback'), link('eth0', 'veth'), link('vethdd7c0a0c', 'veth'), link('vethf2cf564a', 'veth')],
    addresses: [addr('eth0', '192.168.100.11')],
    routes: [],
  } as unknown as HostSnapshot

  it('without a default route lists the interfaces peers could send to, not the pods\' loose veths', () => {
    // before: "interfaces here: eth0 (192.168.100.11), vethdd7c0a0c, vethf2cf564a"
    expect(() => resolveIface(afterReset, undefined, undefined)).to.throw('cannot tell which interface carries node traffic')
      .with.property('hint', 'pass --iface; interfaces here: eth0 (192.168.100.11)')
    expect(() => resolveIface(afterReset, 'eth9', undefined)).to.throw('unknown interface \'eth9\'')
      .with.property('hint', 'pass --iface with one of: eth0 (192.168.100.11)')
    expect(resolveIface(afterReset, 'eth0', undefined)).to.deep.equal({iface: 'eth0', publicIP: '192.168.100.11'})
  })

  it('a host with lo alone (a fresh namespace) says what is missing, not "one of: none" (or "interfaces here: " and nothing)', () => {
    const alone = {links: [link('lo', 'loopback')], addresses: [{...addr('lo', '127.0.0.1'), scope: 'host'}], routes: []} as unknown as HostSnapshot
    const hint = 'this host has no interface toward other nodes (only lo): give it one with an IPv4 address, then pass it with --iface'
    expect(() => resolveIface(alone, undefined, undefined)).to.throw(/no IPv4 default route/).with.property('hint', hint)
    expect(() => resolveIface(alone, 'eth0', undefined)).to.throw('unknown interface \'eth0\'').with.property('hint', hint)
    expect(() => resolveIface(alone, 'lo', undefined)).to.throw('interface \'lo\' has only host-scope IPv4 addresses').with.property('hint', hint)
  })

  it('lists every interface when none has an address yet', () => {
    const bare = {...afterReset, addresses: []} as unknown as HostSnapshot
    expect(() => resolveIface(bare, undefined, undefined)).to.throw(/no IPv4 default route/)
      .with.property('hint', 'pass --iface; interfaces here: eth0, vethdd7c0a0c, vethf2cf564a')
  })

  it('does not offer the pod bridge or flannel\'s vxlan device, which --iface refuses, though they have addresses', () => {
    const node = {
      links: [link('lo', 'loopback'), link('eth0', 'veth'), link('br-pods', 'bridge'), link('flannel.1', 'vxlan')],
      addresses: [addr('eth0', '192.168.100.11'), addr('br-pods', '10.244.4.1'), addr('flannel.1', '10.244.4.0')],
      routes: [],
    } as unknown as HostSnapshot
    // before: "pass --iface with one of: eth0 (192.168.100.11), cni0 (10.244.4.1), flannel.1 (10.244.4.0)"
    expect(() => resolveIface(node, 'nope', undefined, 'br-pods')).to.throw('unknown interface \'nope\'')
      .with.property('hint', 'pass --iface with one of: eth0 (192.168.100.11)')
  })
})
