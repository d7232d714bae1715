import {expect} from 'chai'
import {natRangeAddress} from '../../src/core/trace/nat-pick.js'

describe('nat-pick: the address of a NAT range nf_nat gives a connection', () => {
  it('gives what the kernel gave (the router fuzz: a at 10.91.1.2 through DNAT to 10.91.3.2-10.91.3.3)', () => {
    // seen on the kernel: to 10.91.2.2 and to 10.91.1.1 the server got the connection on 10.91.3.3
    for (const dst of ['10.91.2.2', '10.91.1.1']) {
      expect(natRangeAddress('10.91.3.2-10.91.3.3', {src: '10.91.1.2', dst}, {action: 'DNAT', persistent: false})).to.equal('10.91.3.3')
    }
  })

  it('stays inside the range, and a one-address range is that address', () => {
    for (let i = 0; i < 200; i++) {
      const src = `10.${i % 7}.${i}.${(i * 37) % 256}`
      const picked = natRangeAddress('192.0.2.10-192.0.2.13', {src, dst: `198.51.100.${i}`}, {action: 'DNAT', persistent: i % 2 === 0})!
      expect(Number(picked.split('.')[3])).to.be.within(10, 13)
      expect(picked.startsWith('192.0.2.')).to.equal(true)
    }
    expect(natRangeAddress('192.0.2.7-192.0.2.7', {src: '10.0.0.1', dst: '10.0.0.2'}, {action: 'DNAT', persistent: false})).to.equal('192.0.2.7')
  })

  it('a source NAT keeps a source already in the range; --persistent ignores the destination', () => {
    expect(natRangeAddress('10.0.0.1-10.0.0.9', {src: '10.0.0.4', dst: '1.1.1.1'}, {action: 'SNAT', persistent: false})).to.equal('10.0.0.4')
    const a = natRangeAddress('10.0.0.1-10.0.0.200', {src: '172.16.0.9', dst: '1.1.1.1'}, {action: 'SNAT', persistent: true})
    expect(natRangeAddress('10.0.0.1-10.0.0.200', {src: '172.16.0.9', dst: '8.8.8.8'}, {action: 'SNAT', persistent: true})).to.equal(a)
  })

  it('answers nothing for another action, or where a rule may set the connection\'s conntrack zone', () => {
    expect(natRangeAddress('10.0.0.1-10.0.0.9', {src: '10.1.0.1', dst: '10.2.0.2'}, {action: 'MASQUERADE', persistent: false})).to.equal(undefined)
    expect(natRangeAddress('10.0.0.1-10.0.0.9', {src: '10.1.0.1', dst: '10.2.0.2', ctZoneUnknown: true}, {action: 'DNAT', persistent: false})).to.equal(undefined)
  })

  it('answers nothing for a range it cannot read (reversed, IPv6, not addresses)', () => {
    for (const range of ['10.0.0.9-10.0.0.1', 'fd00::1-fd00::9', 'a-b', '10.0.0.1']) {
      expect(natRangeAddress(range, {src: '10.0.0.1', dst: '10.0.0.2'}, {action: 'DNAT', persistent: false}), range).to.equal(undefined)
    }
  })
})
