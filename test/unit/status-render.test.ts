/** status's one screen, as text. */
import {expect} from 'chai'
import {renderStatus} from '../../src/ui/status.js'
import type {NodeStatus} from '../../src/services/status.js'

const status = (over: Partial<NodeStatus>): NodeStatus => ({
  publicIP: '192.168.100.11', iface: 'eth0', store: 'file:/x', subnet: '10.244.2.0/24', leaseInStore: {state: 'held'},
  backend: 'vxlan', directRouting: false, announced: 'vxlan', lastSync: null, forwarding: true, rules: 'iptables',
  iptables: {flavour: 'nft', chains: {}}, nftables: null, devices: [], peers: [], drift: [], warnings: [], ...over,
})

describe('renderStatus', () => {
  it('the lease line names DirectRouting where the network config has it, as sync\'s header does', () => {
    // lab: after backend set vxlan --directrouting, sync named DirectRouting and status did not
    const lease = (s: NodeStatus) => renderStatus(s).split('\n')[1]
    expect(lease(status({directRouting: true}))).to.equal('lease     10.244.2.0/24 (vxlan + DirectRouting) in file:/x')
    expect(lease(status({}))).to.equal('lease     10.244.2.0/24 (vxlan) in file:/x')
    expect(lease(status({backend: 'host-gw', announced: 'host-gw', directRouting: null}))).to.equal('lease     10.244.2.0/24 (host-gw) in file:/x')
  })
})
