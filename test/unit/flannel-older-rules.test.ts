import {expect} from 'chai'
import {olderFlanneldRules} from '../../src/core/flannel.js'

const nat = (spec: string) => ({table: 'nat', chain: 'POSTROUTING', spec})
const fwd = (spec: string) => ({table: 'filter', chain: 'FORWARD', spec})

describe('olderFlanneldRules: what a flanneld before 0.20 wrote into POSTROUTING and FORWARD (flannel-io/flannel network/iptables.go, by tag)', () => {
  it('0.10 (no comments, no --random-fully), 0.11-0.16 (--random-fully), 0.17-0.19 (comments)', () => {
    expect(olderFlanneldRules([nat('-s 10.244.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE'), fwd('-s 10.244.0.0/16 -j ACCEPT'), fwd('-d 10.244.0.0/16 -j ACCEPT')]))
      .to.deep.equal({network: '10.244.0.0/16', masquerade: true, forward: true})
    expect(olderFlanneldRules([nat('-s 10.244.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE --random-fully')])).to.deep.equal({network: '10.244.0.0/16', masquerade: true, forward: false})
    expect(olderFlanneldRules([nat('-s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully'),
      fwd('-s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT'), fwd('-d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT')]))
      .to.deep.equal({network: '10.244.0.0/16', masquerade: true, forward: true})
  })

  it('accepts alone are flanneld\'s only with its comment: uncommented, a hand (or doctor\'s FORWARD_DROP fix) wrote them as well', () => {
    expect(olderFlanneldRules([fwd('-s 10.244.0.0/16 -j ACCEPT'), fwd('-d 10.244.0.0/16 -j ACCEPT')])).to.equal(undefined)
    expect(olderFlanneldRules([fwd('-s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT'), fwd('-d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT')]))
      .to.deep.equal({network: '10.244.0.0/16', masquerade: false, forward: true})
    // flannelctl's own rules are in FLANNEL-POSTRTG, not POSTROUTING
    expect(olderFlanneldRules([{table: 'nat', chain: 'FLANNEL-POSTRTG', spec: '-s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully'}])).to.equal(undefined)
  })
})
