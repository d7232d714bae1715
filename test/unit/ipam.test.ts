import {expect} from 'chai'
import fc from 'fast-check'
import {FlannelctlError} from '../../src/errors.js'
import {parseNetConf} from '../../src/core/netconf.js'
import {candidateSubnets, freeSubnets, isSubnetCompatible, nthSubnet, peerSubnetMisfit, pickSubnet, subnetCount, subnetMisfit} from '../../src/core/ipam.js'
import {cidrOverlaps, parseCidr} from '../../src/core/addr.js'

const nc16 = parseNetConf('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}')
const first = () => 0
const last = () => 0.999999

describe('ipam', () => {
  it('enumerates SubnetMin..SubnetMax', () => {
    expect(subnetCount(nc16)).to.equal(255)
    expect(nthSubnet(nc16, 0)).to.equal('10.244.1.0/24')
    expect(nthSubnet(nc16, 254)).to.equal('10.244.255.0/24')
    const small = parseNetConf('{"Network":"10.0.0.0/28"}')
    expect([...candidateSubnets(small)]).to.deep.equal(['10.0.0.4/30', '10.0.0.8/30', '10.0.0.12/30'])
  })

  it('re-acquires the subnet that carries this PublicIP', () => {
    const leases = [{subnet: '10.244.7.0/24', publicIP: '192.168.1.10'}, {subnet: '10.244.9.0/24', publicIP: '192.168.1.11'}]
    expect(pickSubnet(nc16, leases, {publicIP: '192.168.1.11', preferredSubnet: '10.244.3.0/24'}))
      .to.deep.equal({subnet: '10.244.9.0/24', reason: 'reuse', discard: []})
  })

  it('says why a held subnet no longer fits a config edited under it', () => {
    expect(subnetMisfit(nc16, '10.244.7.0/24')).to.equal(undefined)
    expect(subnetMisfit(parseNetConf('{"Network":"10.244.0.0/16","SubnetLen":25}'), '10.244.7.0/24')).to.equal('it is a /24, and the network config\'s SubnetLen is 25')
    expect(subnetMisfit(parseNetConf('{"Network":"10.245.0.0/16"}'), '10.244.7.0/24')).to.equal('it is outside the network 10.245.0.0/16')
    expect(subnetMisfit(parseNetConf('{"Network":"10.244.0.0/16","SubnetMin":"10.244.100.0"}'), '10.244.7.0/24')).to.equal('it is below SubnetMin 10.244.100.0')
    expect(subnetMisfit(parseNetConf('{"Network":"10.244.0.0/16","SubnetMax":"10.244.5.0"}'), '10.244.7.0/24')).to.equal('it is above SubnetMax 10.244.5.0')
    // widening the network keeps every subnet
    expect(subnetMisfit(parseNetConf('{"Network":"10.244.0.0/15"}'), '10.244.7.0/24')).to.equal(undefined)
  })

  it('a static peer\'s subnet is a lease of the network: inside it and SubnetLen long, wherever SubnetMin/Max lie', () => {
    // peer add of a /25 on a /24 network was accepted: its route covered half the peer's pods
    expect(peerSubnetMisfit(nc16, '10.244.200.0/25')).to.equal('10.244.200.0/25 is a /25, and the network\'s SubnetLen is 24: every node\'s lease is a /24')
    expect(peerSubnetMisfit(nc16, '10.244.0.0/23')).to.match(/is a \/23/)
    expect(peerSubnetMisfit(nc16, '10.245.2.0/24')).to.equal('10.245.2.0/24 is outside the network 10.244.0.0/16')
    // the README's hand-run network: each init narrowed to its own subnet, the peers lie past SubnetMax
    expect(peerSubnetMisfit(parseNetConf('{"Network":"10.244.0.0/16","SubnetMin":"10.244.1.0","SubnetMax":"10.244.1.0"}'), '10.244.2.0/24')).to.equal(undefined)
  })

  it('discards this PublicIP\'s lease when it no longer fits the config', () => {
    const narrow = parseNetConf('{"Network":"10.244.0.0/16","SubnetMin":"10.244.100.0"}')
    const pick = pickSubnet(narrow, [{subnet: '10.244.7.0/24', publicIP: '192.168.1.10'}], {publicIP: '192.168.1.10', random: first})
    expect(pick).to.deep.equal({subnet: '10.244.100.0/24', reason: 'random', among: 100, discard: ['10.244.7.0/24']})
  })

  describe('a SubnetLen, SubnetMin or SubnetMax edited under running nodes', () => {
    const len25 = parseNetConf('{"Network":"10.244.0.0/16","SubnetLen":25}')
    const len23 = parseNetConf('{"Network":"10.244.0.0/16","SubnetLen":23}')
    const held = [{subnet: '10.244.1.0/24', publicIP: 'a'}, {subnet: '10.244.2.0/24', publicIP: 'b'}, {subnet: '10.244.5.0/24', publicIP: 'c'}]

    it('a node keeps the misfit subnet its bridge serves (keep), and gives up only its other misfit leases', () => {
      expect(pickSubnet(len25, held, {publicIP: 'a', preferredSubnet: '10.244.1.0/24', keep: '10.244.1.0/24'}))
        .to.deep.equal({subnet: '10.244.1.0/24', reason: 'reuse', discard: []})
      const twice = [...held, {subnet: '10.244.9.0/24', publicIP: 'a'}]
      expect(pickSubnet(len25, twice, {publicIP: 'a', keep: '10.244.1.0/24'})).to.deep.equal({subnet: '10.244.1.0/24', reason: 'reuse', discard: ['10.244.9.0/24']})
      // below SubnetMin too
      const min = parseNetConf('{"Network":"10.244.0.0/16","SubnetMin":"10.244.100.0"}')
      expect(pickSubnet(min, held, {publicIP: 'c', keep: '10.244.5.0/24'}).subnet).to.equal('10.244.5.0/24')
      // its lease gone (expired, deleted): taken again while no other lease overlaps it
      expect(pickSubnet(len25, held.slice(1), {publicIP: 'a', keep: '10.244.1.0/24'})).to.deep.equal({subnet: '10.244.1.0/24', reason: 'preferred', discard: []})
      const over = [...held.slice(1), {subnet: '10.244.1.128/25', publicIP: 'd'}]
      expect(pickSubnet(len25, over, {publicIP: 'a', keep: '10.244.1.0/24', random: first}).subnet).to.not.equal('10.244.1.0/24')
    })

    it('never keeps a subnet outside the network, nor one it was not asked to keep', () => {
      const moved = parseNetConf('{"Network":"10.245.0.0/16"}')
      expect(pickSubnet(moved, [{subnet: '10.244.1.0/24', publicIP: 'a'}], {publicIP: 'a', keep: '10.244.1.0/24', random: first}))
        .to.deep.equal({subnet: '10.245.1.0/24', reason: 'random', among: 100, discard: ['10.244.1.0/24']})
      expect(pickSubnet(len25, held, {publicIP: 'a', preferredSubnet: '10.244.1.0/24', random: first}).discard).to.deep.equal(['10.244.1.0/24'])
    })

    it('a new node\'s subnet at the new size overlaps no misfit lease still held, smaller or larger', () => {
      const disjoint = (pick: string) => held.every(l => !cidrOverlaps(parseCidr(pick), parseCidr(l.subnet)))
      for (const nc of [len25, len23]) {
        for (const random of [first, () => 0.5, last]) {
          const pick = pickSubnet(nc, held, {publicIP: 'new', random})
          expect(pick.subnet.endsWith(`/${nc.subnetLen}`)).to.equal(true)
          expect(disjoint(pick.subnet), pick.subnet).to.equal(true)
        }
        // nor the subnet.env of a host set up before the edit, inside a misfit lease
        expect(pickSubnet(nc, held, {publicIP: 'new', preferredSubnet: nc === len25 ? '10.244.2.0/25' : '10.244.4.0/23', random: first}).reason).to.equal('random')
      }
      expect(pickSubnet(len25, held, {publicIP: 'new', random: first}).subnet).to.equal('10.244.0.128/25')
      expect(pickSubnet(len23, held, {publicIP: 'new', random: first}).subnet).to.equal('10.244.6.0/23')
    })
  })

  it('takes the preferred subnet when it is free and in range', () => {
    const leases = [{subnet: '10.244.3.0/24', publicIP: '192.168.1.10'}]
    expect(pickSubnet(nc16, leases, {publicIP: '192.168.1.11', preferredSubnet: '10.244.4.0/24'}).reason).to.equal('preferred')
    const taken = pickSubnet(nc16, leases, {publicIP: '192.168.1.11', preferredSubnet: '10.244.3.0/24', random: first})
    expect(taken).to.deep.include({subnet: '10.244.1.0/24', reason: 'random'})
    for (const out of ['10.244.0.0/24', '10.245.4.0/24', '10.244.4.0/25', '10.244.4.1/24']) {
      expect(pickSubnet(nc16, [], {publicIP: 'x', preferredSubnet: out, random: first}).reason, out).to.equal('random')
    }
  })

  it('draws among the lowest 100 free subnets, as flannel does', () => {
    const leases = [{subnet: '10.244.1.0/24', publicIP: 'a'}, {subnet: '10.244.2.0/23', publicIP: 'b'}]
    expect(pickSubnet(nc16, leases, {publicIP: 'c', random: first}).subnet).to.equal('10.244.4.0/24')
    expect(pickSubnet(nc16, leases, {publicIP: 'c', random: last}).subnet).to.equal('10.244.103.0/24')
  })

  it('says the space is exhausted, with numbers', () => {
    const all = [...candidateSubnets(nc16)].map((subnet) => ({subnet, publicIP: 'x'}))
    try {
      pickSubnet(nc16, all, {publicIP: 'y'})
      expect.fail('picked from a full network')
    } catch (e) {
      expect(e).to.be.instanceOf(FlannelctlError)
      expect((e as FlannelctlError).message).to.equal('subnet space exhausted: all 255 subnets of 10.244.0.0/16 (/24) are leased')
      expect((e as FlannelctlError).hint).to.contain('lease list')
    }
    // a wide stray lease covering everything exhausts it too
    expect(() => pickSubnet(nc16, [{subnet: '10.244.0.0/16', publicIP: 'x'}], {publicIP: 'y'})).to.throw('exhausted')
  })

  it('picks in a /8 cut into /24s with almost every subnet leased (its growth: bench --only core)', () => {
    const nc8 = parseNetConf('{"Network":"10.0.0.0/8"}')
    expect(subnetCount(nc8)).to.equal(65535)
    const leases = []
    for (let i = 0; i < 65000; i++) leases.push({subnet: nthSubnet(nc8, i), publicIP: `h${i}`})
    const pick = pickSubnet(nc8, leases, {publicIP: 'new', random: last})
    expect(pick.subnet).to.equal(nthSubnet(nc8, 65099))
    expect(freeSubnets(nc8, leases.map((l) => l.subnet))).to.have.length(535)
  })

  it('never hands out a leased, misaligned or out-of-range subnet (property)', () => {
    fc.assert(fc.property(
      fc.integer({min: 8, max: 24}),
      fc.integer({min: 2, max: 6}),
      fc.array(fc.tuple(fc.nat(), fc.integer({min: 0, max: 4})), {maxLength: 40}),
      fc.double({min: 0, max: 1, maxExcluded: true, noNaN: true}),
      (prefix, extra, leaseSeeds, r) => {
        const subnetLen = Math.min(30, Math.max(prefix + 2, 24 - 6 + extra))
        const nc = parseNetConf(JSON.stringify({Network: `10.0.0.0/${prefix}`, SubnetLen: subnetLen}))
        const count = subnetCount(nc)
        // leases of mixed sizes, as after a SubnetLen change
        const leases = leaseSeeds.map(([n, widen], i) => {
          const len = Math.max(prefix, subnetLen - widen)
          const c = parseCidr(`${nthSubnet(nc, n % count).split('/')[0]}/${len}`)
          return {subnet: `${[c.base >>> 24, (c.base >>> 16) & 255, (c.base >>> 8) & 255, c.base & 255].join('.')}/${len}`, publicIP: `p${i}`}
        })
        let pick
        try {
          pick = pickSubnet(nc, leases, {publicIP: 'me', random: () => r})
        } catch (e) {
          expect((e as Error).message).to.contain('exhausted')
          expect(freeSubnets(nc, leases.map((l) => l.subnet), 1)).to.have.length(0)
          return
        }
        expect(isSubnetCompatible(nc, pick.subnet)).to.equal(true)
        for (const l of leases) expect(cidrOverlaps(parseCidr(pick.subnet), parseCidr(l.subnet))).to.equal(false)
      }), {numRuns: 300})
  })
})
