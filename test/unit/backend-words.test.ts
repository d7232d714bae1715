/** One spelling of a backend, whichever command prints it. */
import {expect} from 'chai'
import {backendWords} from '../../src/core/netconf.js'
import {backendLabel, backendLabelInFull} from '../../src/core/migrate-plan.js'
import {reconcileJson, renderReconcile} from '../../src/ui/plan.js'
import {renderLabStatus} from '../../src/ui/lab.js'
import {renderStatus} from '../../src/ui/status.js'
import type {ReconcileResult} from '../../src/services/node.js'
import type {LabState} from '../../src/services/lab.js'
import type {NodeStatus} from '../../src/services/status.js'

const DR = 'vxlan + DirectRouting'

describe('backendWords: the one way a backend is spelled', () => {
  it('names DirectRouting after the type and any VNI or port, and only on vxlan', () => {
    expect(backendWords({type: 'vxlan', directRouting: true})).to.equal(DR)
    expect(backendWords({type: 'vxlan', directRouting: false})).to.equal('vxlan')
    expect(backendWords({type: 'host-gw', directRouting: true})).to.equal('host-gw')
    expect(backendWords({type: 'vxlan', directRouting: true}, ' VNI 2 port 4789')).to.equal('vxlan VNI 2 port 4789 + DirectRouting')
  })

  it('lab status, sync\'s header, status\'s lease line and migrate spell it the same', () => {
    // before: lab "vxlan + DirectRouting", sync and status "(vxlan, DirectRouting)", migrate "vxlan (DirectRouting)"
    const lab = renderLabStatus({name: 'w', backend: 'vxlan', directRouting: true, segments: 1, store: 'file:/s', nodes: [], pods: []} as unknown as LabState)
    expect(lab.split('\n')[0]).to.equal(`lab w: ${DR}, 1 segment, store file:/s`)
    const sync = renderReconcile({lease: {subnet: '10.244.1.0/24'}, node: {publicIP: '192.168.100.11'}, peers: [], warnings: [], ops: [], applied: true,
      netConf: {network: '10.244.0.0/16', backend: {type: 'vxlan', directRouting: true}}} as unknown as ReconcileResult, 'sync')
    expect(sync.split('\n')[0]).to.equal(`sync: lease 10.244.1.0/24 for 192.168.100.11 (${DR}), network 10.244.0.0/16, 0 peers`)
    const status = renderStatus({publicIP: '192.168.100.11', iface: 'eth0', store: 'file:/s', subnet: '10.244.1.0/24', leaseInStore: {state: 'held'},
      backend: 'vxlan', directRouting: true, announced: 'vxlan', lastSync: null, forwarding: true, rules: 'iptables',
      iptables: {flavour: 'nft', chains: {}}, nftables: null, devices: [], peers: [], drift: [], warnings: []} as unknown as NodeStatus)
    expect(status.split('\n')[1]).to.equal(`lease     10.244.1.0/24 (${DR}) in file:/s`)
    const dr = {type: 'vxlan', vni: 1, port: 8472, directRouting: true} as const
    expect(backendLabel(dr)).to.equal(DR)
    expect(backendLabelInFull(dr)).to.equal(`vxlan VNI 1 port 8472 + DirectRouting`)
  })

  it('sync\'s JSON says DirectRouting where its header does (before: "backend": "vxlan" alone)', () => {
    const result = (backend: object) => ({lease: {subnet: '10.244.1.0/24'}, node: {}, peers: [], warnings: [], ops: [], plan: [], applied: true,
      netConf: {network: '10.244.0.0/16', backend}}) as unknown as ReconcileResult
    expect(reconcileJson(result({type: 'vxlan', directRouting: true}))).to.include({backend: 'vxlan', directRouting: true})
    expect(reconcileJson(result({type: 'vxlan'}))).to.include({backend: 'vxlan', directRouting: false})
    expect(reconcileJson(result({type: 'host-gw', directRouting: true}))).to.include({backend: 'host-gw', directRouting: false})
  })
})
