/**
 * A NAT to an address range: the kernel's pick for each connection is the one core/trace/nat-pick.ts
 * computes (nf_nat's hash of the source, seeded by the destination), for iptables' DNAT with and
 * without --persistent, nft's `dnat to A-B` and iptables' SNAT (real kernel).
 *
 * Two namespaces on a veth pair: the client has several source addresses, the server answers for
 * every address of the ranges, and an INPUT rule per address counts where each ping landed.
 */
import {expect} from 'chai'
import {execa} from 'execa'
import {inNs, shIn, uniqueLab} from '../helpers/cli.js'
import {natRangeAddress} from '../../src/core/trace/nat-pick.js'

const SOURCES = ['10.50.1.7', '10.50.1.23', '10.50.1.150', '10.50.1.201']
const DESTINATIONS = ['10.50.9.5', '10.50.9.77', '10.50.9.200']
const DNAT_RANGE = '10.60.0.10-10.60.0.17'
const SNAT_RANGE = '10.50.2.1-10.50.2.6'

const addressesOf = (range: string): string[] => {
  const [first, last] = range.split('-')
  const stem = first.slice(0, first.lastIndexOf('.') + 1)
  const from = Number(first.split('.')[3])
  return Array.from({length: Number(last.split('.')[3]) - from + 1}, (_, i) => `${stem}${from + i}`)
}

describe('trace: the address of a NAT range the kernel gives a connection (real kernel)', function () {
  this.timeout(120000)
  const tag = uniqueLab('fcnr')
  const client = `${tag}-c`
  const server = `${tag}-s`

  before(async function () {
    this.timeout(60000)
    const ip = (...args: string[]) => execa('ip', args)
    await ip('netns', 'add', client)
    await ip('netns', 'add', server)
    await ip('link', 'add', `${tag}a`, 'netns', client, 'type', 'veth', 'peer', 'name', `${tag}b`, 'netns', server)
    await shIn(client, `ip link set lo up && ip link set ${tag}a up && ip addr add 10.50.0.1/16 dev ${tag}a && ` +
      `${SOURCES.map(s => `ip addr add ${s}/16 dev ${tag}a`).join(' && ')} && ` +
      `${addressesOf(SNAT_RANGE).map(s => `ip addr add ${s}/32 dev lo`).join(' && ')} && ip route add 10.60.0.0/24 via 10.50.0.2`)
    await shIn(server, `ip link set lo up && ip link set ${tag}b up && ip addr add 10.50.0.2/16 dev ${tag}b && ` +
      `${DESTINATIONS.map(d => `ip addr add ${d}/16 dev ${tag}b`).join(' && ')} && ` +
      `${addressesOf(DNAT_RANGE).map(t => `ip addr add ${t}/32 dev lo`).join(' && ')} && ip route add 10.50.2.0/24 via 10.50.0.1`)
  })

  after(async () => {
    for (const ns of [client, server]) await execa('ip', ['netns', 'del', ns], {reject: false})
  })

  /** Where each client → destination ping landed, by the server's INPUT counters on `field` (-d or -s) over `addresses`. */
  async function landings(field: '-d' | '-s', addresses: string[], pairs: [string, string][]): Promise<string[]> {
    await shIn(server, `iptables -F INPUT && ${addresses.map(a => `iptables -A INPUT ${field} ${a}`).join(' && ')}`)
    const seen: string[] = []
    for (const [src, dst] of pairs) {
      await shIn(server, 'iptables -Z INPUT')
      await shIn(client, `ping -c 1 -W 2 -I ${src} ${dst} > /dev/null`)
      const counters = await inNs(server, 'iptables', '-L', 'INPUT', '-v', '-n', '-x')
      const hit = counters.split('\n').map(l => l.trim().split(/\s+/)).find(f => /^[1-9]/.test(f[0] ?? ''))
      seen.push(hit === undefined ? 'none' : field === '-d' ? hit[7] : hit[6])
    }
    return seen
  }

  const pairs = SOURCES.flatMap(s => DESTINATIONS.map(d => [s, d] as [string, string]))

  it('DNAT --to-destination A-B, with and without --persistent, and nft dnat to A-B (a range and a whole prefix)', async () => {
    const nft = (range: string) => `nft add table ip fcnr && nft 'add chain ip fcnr pre { type nat hook prerouting priority -100; }' && nft add rule ip fcnr pre ip daddr 10.50.9.0/24 dnat to ${range}`
    // 10.60.0.12-10.60.0.15 is a whole /30: nft lists it as a prefix (`dnat to 10.60.0.12/30`), still a range to the kernel
    const variants: {rules: string; range: string; persistent: boolean; clear: string}[] = [
      {rules: `iptables -t nat -A PREROUTING -d 10.50.9.0/24 -j DNAT --to-destination ${DNAT_RANGE}`, range: DNAT_RANGE, persistent: false, clear: 'iptables -t nat -F PREROUTING'},
      {rules: `iptables -t nat -A PREROUTING -d 10.50.9.0/24 -j DNAT --to-destination ${DNAT_RANGE} --persistent`, range: DNAT_RANGE, persistent: true, clear: 'iptables -t nat -F PREROUTING'},
      {rules: nft(DNAT_RANGE), range: DNAT_RANGE, persistent: false, clear: 'nft delete table ip fcnr'},
      {rules: nft('10.60.0.12-10.60.0.15'), range: '10.60.0.12-10.60.0.15', persistent: false, clear: 'nft delete table ip fcnr'},
    ]
    for (const v of variants) {
      await shIn(server, v.rules)
      try {
        const kernel = await landings('-d', addressesOf(DNAT_RANGE), pairs)
        const model = pairs.map(([src, dst]) => natRangeAddress(v.range, {src, dst}, {action: 'DNAT', persistent: v.persistent}))
        expect(kernel, v.rules).to.deep.equal(model)
        // the hash spreads the pairs: a trace that took the first address would be wrong for most of them
        expect(new Set(kernel).size, v.rules).to.be.above(1)
      } finally {
        await shIn(server, v.clear)
      }
    }
  })

  it('SNAT --to-source A-B picks by the same hash (the client\'s own addresses lie outside the range)', async () => {
    await shIn(client, `iptables -t nat -A POSTROUTING -o ${tag}a -j SNAT --to-source ${SNAT_RANGE}`)
    try {
      const kernel = await landings('-s', addressesOf(SNAT_RANGE), pairs)
      expect(kernel).to.deep.equal(pairs.map(([src, dst]) => natRangeAddress(SNAT_RANGE, {src, dst}, {action: 'SNAT', persistent: false})))
    } finally {
      await shIn(client, 'iptables -t nat -F POSTROUTING')
    }
  })
})
