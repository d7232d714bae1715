/**
 * `flannelctl bench --only core`: the pure core grows linearly. Each row times a large input against
 * ten times a tenth of it, in the same process: linear code gives ~1×, quadratic code ~10×, and a
 * regular expression that backtracks far more. This replaces timed unit tests, whose limits in
 * milliseconds failed on a busy machine and caught nothing on a fast one.
 */
import {performance} from 'node:perf_hooks'
import {parseFdb, parseIptables, parseLinks, parseNeighbors, parseRoutes, parseSysctls, ParseError} from '../core/parse/index.js'
import {parseNetConf} from '../core/netconf.js'
import {nthSubnet, pickSubnet} from '../core/ipam.js'
import {makeRow, median, type BenchRow} from './bench.js'

/** A node's tables with n routes, neighbours and fdb entries, as `ip`/`bridge` print them (text and JSON routes). */
export function nodeTables(n: number): {routesText: string; routesJson: string; neighText: string; fdbText: string} {
  const routes: string[] = []
  const json: object[] = []
  const neigh: string[] = []
  const fdb: string[] = []
  for (let i = 0; i < n; i++) {
    const a = (i >> 8) & 255
    const b = i & 255
    const mac = `aa:bb:cc:00:${a.toString(16).padStart(2, '0')}:${b.toString(16).padStart(2, '0')}`
    routes.push(`10.${a}.${b}.0/24 via 10.${a}.${b}.0 dev flannel.1 onlink `)
    json.push({dst: `10.${a}.${b}.0/24`, gateway: `10.${a}.${b}.0`, dev: 'flannel.1', flags: ['onlink']})
    neigh.push(`10.${a}.${b}.0 dev flannel.1 lladdr ${mac} PERMANENT `)
    fdb.push(`${mac} dev flannel.1 dst 192.168.${a}.${b} self permanent`)
  }
  return {routesText: routes.join('\n'), routesJson: JSON.stringify(json), neighText: neigh.join('\n'), fdbText: fdb.join('\n')}
}

/** Parses all four tables; the counts prove the parsers read every entry. */
export function parseNode(t: ReturnType<typeof nodeTables>): number {
  return parseRoutes(t.routesText).length + parseRoutes(t.routesJson).length + parseNeighbors(t.neighText).length + parseFdb(t.fdbText).length
}

/** A paste built to make a backtracking pattern explode: long runs of one character, unclosed brackets. */
export function pathologicalText(n: number): string {
  return `${'a'.repeat(n)}${' '.repeat(2 * n)}x\n${'#'.repeat(n)} ip r\n[${'['.repeat(Math.floor(n / 20))}`
}

/** Every text parser on one text: a model or a ParseError, nothing else. */
export function parseAllForms(text: string): void {
  for (const parse of [parseRoutes, parseNeighbors, parseFdb, parseLinks, parseIptables, parseSysctls]) {
    try {
      parse(text)
    } catch (error) {
      if (!(error instanceof ParseError)) throw error
    }
  }
}

const NETWORK_8 = parseNetConf('{"Network":"10.0.0.0/8"}')

/** A /8 cut into /24s with `leased` of them taken, and a pick of a free one. */
export function leasesOf(leased: number): {subnet: string; publicIP: string}[] {
  return Array.from({length: leased}, (_, i) => ({subnet: nthSubnet(NETWORK_8, i), publicIP: `h${i}`}))
}

export function pickAmong(leases: {subnet: string; publicIP: string}[]): string {
  return pickSubnet(NETWORK_8, leases, {publicIP: 'new', random: () => 0.999999}).subnet
}

/** ms of one call of fn */
function timed(fn: () => unknown): number {
  const t0 = performance.now()
  fn()
  return performance.now() - t0
}

/**
 * Median ms of `runs` timings of each of a and b, after two untimed calls of each (the JIT's first
 * tiers), taken in turn: a and b meet the same garbage collector and the same neighbours on the
 * machine, so their ratio holds where timing one after the other let the later one run warmer.
 */
function timeMediansInTurn(a: () => unknown, b: () => unknown, runs: number): [number, number] {
  for (let i = 0; i < 2; i++) {
    a()
    b()
  }
  const as: number[] = []
  const bs: number[] = []
  for (let r = 0; r < runs; r++) {
    as.push(timed(a))
    bs.push(timed(b))
  }
  return [median(as), median(bs)]
}

interface GrowthCase {
  id: string
  what: string
  limitWhat: string
  large: () => unknown
  small: () => unknown
}

export function benchCore(runs = 7): BenchRow[] {
  const large = nodeTables(3000)
  const small = nodeTables(300)
  const bigPaste = pathologicalText(100_000)
  const smallPaste = pathologicalText(10_000)
  const manyLeases = leasesOf(65_000)
  const fewerLeases = leasesOf(6_500)
  const cases: GrowthCase[] = [
    {id: 'core.parse.growth', what: 'parse a node\'s tables: 3000 routes (text, JSON), neighbours, fdb entries', limitWhat: '10 × the same tables of 300',
      large: () => parseNode(large), small: () => parseNode(small)},
    {id: 'core.parse.pathological', what: 'every text parser on a 300,000-character hostile paste', limitWhat: '10 × the same paste of 30,000',
      large: () => parseAllForms(bigPaste), small: () => parseAllForms(smallPaste)},
    {id: 'core.ipam.growth', what: 'pick a subnet in a /8 with 65,000 of its /24s leased', limitWhat: '10 × the same with 6,500 leased',
      large: () => pickAmong(manyLeases), small: () => pickAmong(fewerLeases)},
  ]
  return cases.map(c => {
    const [largeMs, tenSmallMs] = timeMediansInTurn(c.large, () => {
      for (let i = 0; i < 10; i++) c.small()
    }, runs)
    return makeRow({id: c.id, section: 'core', what: c.what, unit: 'ms', measured: largeMs, limit: tenSmallMs, limitWhat: c.limitWhat,
      goal: {kind: 'max', value: 2}})
  })
}
