/** The kernel fuzzes' counters of native rules (test/helpers/kernel-probe.ts), on what `nft -j list ruleset` prints. */
import {expect} from 'chai'
import {readFileSync} from 'node:fs'
import {nativeCounters} from '../helpers/kernel-probe.js'

describe('the kernel fuzzes\' native rule counters', () => {
  it('prints a dnat to a range as iptables-save does, also when nft lists the range as a prefix', () => {
    // captured from nft 1.0.6: "to 10.91.3.2-10.91.3.3" comes back as {"prefix": {"addr": "10.91.3.2", "len": 31}}
    const json = readFileSync('test/fixtures/kernel-probe/nft-dnat-ranges.json', 'utf8')
    const keys = nativeCounters('r2', json).map(([key]) => key)
    expect(keys).to.deep.equal([
      'r2 nft "n1" dnat --to-destination 10.91.3.2-10.91.3.3',
      'r2 nft "n2" dnat --to-destination 10.91.3.2:8080',
      'r2 nft "n3" dnat --to-destination 10.91.3.2-10.91.3.3:80-90',
      'r2 nft "n5" dnat --to-destination 10.91.3.2-10.91.3.4',
      'r2 nft "n6" dnat --to-destination 10.91.3.3',
      'r2 nft "n4" dnat --to-destination 10.91.3.2-10.91.3.3',
    ])
    expect(keys.join('\n')).not.to.include('[object Object]')
  })
})
