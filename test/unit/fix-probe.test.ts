/** Which of trace's fixes the kernel fuzzes run, and what counts as the same drop after one (test/helpers/fix-probe.ts). */
import {expect} from 'chai'
import {firstWay, fixRunnable, sameDrop} from '../helpers/fix-probe.js'
import type {Failure, Fix} from '../../src/core/trace/types.js'

describe('the kernel fuzzes\' fix runner: what it runs', () => {
  it('runs table commands with every word filled in, not reads, placeholders, flannelctl or commands run elsewhere', () => {
    const on = (command: string, more: Partial<Fix> = {}) => fixRunnable({node: 'r1', command, ...more}).ok
    expect(on('ip route replace 10.91.3.0/24 via 10.91.2.2 dev m0')).to.equal(true)
    expect(on('iptables -t nat -D POSTROUTING -s 10.93.1.0/24 -j MASQUERADE')).to.equal(true)
    expect(on('sysctl -w net.ipv4.conf.a0.rp_filter=2')).to.equal(true)
    expect(on('nft delete rule ip fz1 prerouting handle 6')).to.equal(true)
    expect(on('bridge fdb replace 0e:00:00:00:00:02 dev flannel.1 dst 10.92.0.2 self permanent')).to.equal(true)
    expect(on('ip neigh show 10.91.2.2')).to.equal(false)
    expect(on('ip -d link show flannel.1')).to.equal(false)
    expect(on('ip route get 10.91.1.2 from 10.91.3.2 iif m0')).to.equal(false)
    expect(on('ping -M do -s 1422 10.93.2.2')).to.equal(false)
    expect(on('ip route replace 10.91.3.0/24 via GATEWAY dev DEVICE')).to.equal(false)
    expect(on('flannelctl sync   # publishes flannel.1\'s MAC')).to.equal(false)
    expect(on('kubectl delete networkpolicy deny', {scope: 'cluster'})).to.equal(false)
  })

  it('takes the first way of several, with what every way needs, and a peer\'s sync by hand', () => {
    const fixes: Fix[] = [
      {node: 'n1', command: 'ip link set flannel.1 up'},
      {node: 'n1', command: 'ip link set cni0 mtu 1400', option: {choice: 2, why: 'b'}},
      {node: 'n1', command: 'ip link set eth0 mtu 1550', option: {choice: 1, why: 'a', recommended: true}},
    ]
    expect(firstWay(fixes).fixes?.map(f => f.command)).to.deep.equal(['ip link set flannel.1 up', 'ip link set eth0 mtu 1550'])
    const synced: Fix[] = [
      {node: 'n1', command: 'flannelctl sync   # n1 takes n2\'s VTEP MAC from its lease', sync: 'peer'},
      {node: 'n1', command: 'ip neigh replace 10.93.2.0 lladdr 0e:00:00:00:00:02 dev flannel.1 nud permanent', byHand: true},
    ]
    expect(firstWay(synced).fixes?.map(f => f.command)).to.deep.equal([synced[1].command])
    // a way with a command not runnable is not run at all: half a fix proves nothing
    expect(firstWay([...fixes, {node: 'n1', command: 'ip route replace 10.0.0.0/8 via GATEWAY'}]).fixes).to.equal(undefined)
  })

  it('the same drop is the same line at the same node and step, its counters aside', () => {
    const drop = (evidence: string, node = 'r1'): {failure: Failure, disposition: string} => ({disposition: 'DENIED_BY_FILTER', failure: {node, step: 'filter', evidence, reason: '', fix: []}})
    expect(sameDrop(drop('counter packets 0 bytes 0 reject comment "n6"'), drop('counter packets 1 bytes 84 reject comment "n6"'))).to.equal(true)
    expect(sameDrop(drop('counter packets 0 bytes 0 drop comment "n5"'), drop('counter packets 1 bytes 84 reject comment "n6"'))).to.equal(false)
    expect(sameDrop(drop('-P FORWARD DROP'), drop('-P FORWARD DROP', 'r2'))).to.equal(false)
  })
})
