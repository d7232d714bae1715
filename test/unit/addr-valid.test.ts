import {expect} from 'chai'
import fc from 'fast-check'
import {Address4} from 'ip-address'
import {isCanonicalCidr, isIPv4, parseCidr} from '../../src/core/addr.js'

describe('IPv4 validation', () => {
  // isIPv4 refuses names and IPv6 before ip-address sees them (it throws to refuse): the answers must stay ip-address's
  it('says what ip-address says, for addresses, near-addresses, names and IPv6', () => {
    const octet = fc.oneof(fc.integer({min: 0, max: 300}).map(String), fc.constantFrom('00', '010', '', '-1', '1e2'))
    const near = fc.tuple(fc.array(octet, {minLength: 3, maxLength: 5}), fc.option(fc.constantFrom('/0', '/8', '/05', '/32', '/33', '/999', '/', '/x')))
      .map(([parts, len]) => parts.join('.') + (len ?? ''))
    const any = fc.oneof(near, fc.string(), fc.constantFrom('10.0.0.0/05', '10.0.0.1/00', 'pod-1a', 'default', 'fe80::1', '::ffff:10.0.0.1', '10.0.0.1 ', ' 10.0.0.1', '10.0.0.1\n'))
    fc.assert(fc.property(any, s => {
      expect(isIPv4(s), s).to.equal(Address4.isValid(s) && !s.includes('/'))
      // with a prefix length too: parseCidr refuses as "not an IPv4 CIDR" exactly what ip-address refuses
      let refused = false
      try {
        parseCidr(s)
      } catch (error) {
        refused = (error as Error).message.startsWith('not an IPv4 CIDR')
      }
      expect(refused, s).to.equal(!Address4.isValid(s))
    }), {numRuns: 3000})
  })

  it('takes the forms ip-address takes', () => {
    expect(['10.0.0.1', '0.0.0.0', '255.255.255.255'].map(isIPv4)).to.deep.equal([true, true, true])
    expect(['10.0.0.256', '10.0.0', 'node-1', '10.0.0.1/24', 'fe80::1'].map(isIPv4)).to.deep.equal([false, false, false, false, false])
    expect(['10.0.0.0/8', '10.1.0.0/16', '10.1.0.1/16', 'default', '10.0.0.0/33'].map(isCanonicalCidr)).to.deep.equal([true, true, false, false, false])
  })
})
