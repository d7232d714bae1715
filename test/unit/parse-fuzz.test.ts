import {readFileSync, readdirSync} from 'node:fs'
import {expect} from 'chai'
import fc from 'fast-check'
import {
  ParseError, parseAddrs, parseBridgeFdbJson, parseFdb, parseIpAddrJson, parseIpLinkJson, parseIpNeighJson,
  parseIpRouteJson, parseIptables, parseLinks, parseNeighbors, parseRoutes, parseSysctls,
} from '../../src/core/parse/index.js'

const fixtureDirs = ['real', 'pasted'].map(d => new URL(`../fixtures/parse/${d}/`, import.meta.url))
const fixtures: string[] = fixtureDirs.flatMap(dir => readdirSync(dir).sort().map(f => readFileSync(new URL(f, dir), 'utf8')))
const jsonFixtures = fixtureDirs.flatMap(dir => readdirSync(dir).filter(f => f.endsWith('.json')).sort()
  .map(f => JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as unknown[]))

const parsers: Array<[string, (text: string) => unknown]> = [
  ['parseRoutes', t => parseRoutes(t, 'fuzz')],
  ['parseNeighbors', t => parseNeighbors(t, 'fuzz')],
  ['parseAddrs', t => parseAddrs(t, 'fuzz')],
  ['parseLinks', t => parseLinks(t, 'fuzz')],
  ['parseFdb', t => parseFdb(t, 'fuzz')],
  ['parseIptables', t => parseIptables(t, 'fuzz')],
  ['parseSysctls', t => parseSysctls(t, 'fuzz')],
  ['parseIpRouteJson', t => parseIpRouteJson(t, 'fuzz')],
  ['parseIpNeighJson', t => parseIpNeighJson(t, {source: 'fuzz', dev: 'flannel.1'})],
  ['parseIpLinkJson', t => parseIpLinkJson(t, 'fuzz')],
  ['parseIpAddrJson', t => parseIpAddrJson(t, 'fuzz')],
  ['parseBridgeFdbJson', t => parseBridgeFdbJson(t, 'fuzz')],
]

/** A model or a ParseError; anything else is a bug. (Backtracking is timed by `bench --only core`; a hang hits mocha's timeout.) */
function survives(text: string): boolean {
  for (const [name, parse] of parsers) {
    try {
      parse(text)
    } catch (e) {
      if (!(e instanceof ParseError)) {
        throw new Error(`${name} threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)} on ${JSON.stringify(text.slice(0, 300))}`)
      }
      expect(e.message.length, name).to.be.lessThan(400)
    }
  }
  return true
}

const settings = {seed: 42, numRuns: 200}

const fixture = fc.constantFrom(...fixtures)

/** Words that steer a line into one parser or another. */
const vocabulary = fc.constantFrom('via', 'dev', 'lladdr', 'dst', 'master', 'metric', 'table', 'proto', 'scope', 'src',
  'peer', 'inet', 'inet6', 'link/ether', 'vxlan', 'id', 'dstport', 'PERMANENT', 'self', 'permanent', 'onlink', 'default',
  'blackhole', 'local', 'nexthop', '1:', 'lo:', '<UP>', 'mtu', '-A', ':FORWARD', '*nat', 'COMMIT', '#', '$', '=',
  '10.244.1.0/24', '10.244.1.0', 'fe80::1', '::', 'aa:bb:cc:dd:ee:ff', '255.255.255.0', '0.0.0.0', 'UG', '!', '*',
  '(incomplete)', 'flags=4163<UP>', 'Link', 'encap:Ethernet', 'addr:1.2.3.4', 'Mask:255.0.0.0', 'MTU:1500', '{', '[', ']',
  '}', '"', '\\', '\t', 'Kernel IP routing table', 'Destination Gateway Genmask Flags Metric Ref Use Iface',
  'Address HWtype HWaddress Flags Mask Iface', '? (10.0.0.1) at', 'root@n1:~#', 'ip neigh show dev', '65536', '4294967296',
  '-1', 'NaN', '1e400', '\u0000', '\r', '\u00e9', '\ud83d\ude00')

const mutation = fc.oneof(
  fc.record({kind: fc.constant('cut' as const), at: fc.nat()}),
  fc.record({kind: fc.constant('insert' as const), at: fc.nat(), text: fc.oneof(fc.string({unit: 'binary'}), vocabulary)}),
  fc.record({kind: fc.constant('delete' as const), at: fc.nat(), length: fc.nat({max: 40})}),
  fc.record({kind: fc.constant('dropLine' as const), at: fc.nat()}),
  fc.record({kind: fc.constant('swapWords' as const), at: fc.nat(), other: fc.nat()}),
  fc.record({kind: fc.constant('replaceWord' as const), at: fc.nat(), word: vocabulary}),
)

type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never

function mutate(text: string, m: Mutation): string {
  if (text.length === 0) return text
  const at = m.at % text.length
  switch (m.kind) {
    case 'cut': return text.slice(0, at)
    case 'insert': return text.slice(0, at) + m.text + text.slice(at)
    case 'delete': return text.slice(0, at) + text.slice(at + m.length)
    case 'dropLine': {
      const lines = text.split('\n')
      lines.splice(m.at % lines.length, 1)
      return lines.join('\n')
    }
    case 'swapWords': {
      const words = text.split(' ')
      const a = m.at % words.length
      const b = m.other % words.length;
      [words[a], words[b]] = [words[b], words[a]]
      return words.join(' ')
    }
    case 'replaceWord': {
      const words = text.split(' ')
      words[m.at % words.length] = m.word
      return words.join(' ')
    }
  }
}

describe('parse fuzz: every parser returns a model or throws ParseError', () => {
  it('random strings', () => {
    fc.assert(fc.property(fc.string({unit: 'binary', maxLength: 400}), survives), settings)
  })

  it('random lines made of the parsers\' own words', () => {
    const line = fc.array(vocabulary, {maxLength: 12}).map(ws => ws.join(' '))
    const prefix = fc.constantFrom('', ' ', '    ', '\t', '2: ', '$ ip r\n', 'root@w3:~# bridge fdb show dev flannel.1\n')
    fc.assert(fc.property(fc.array(fc.tuple(prefix, line).map(([p, l]) => p + l), {maxLength: 8}),
      lines => survives(lines.join('\n'))), settings)
  })

  it('truncated real outputs', () => {
    fc.assert(fc.property(fixture, fc.nat(), (text, at) => survives(text.slice(0, at % (text.length + 1)))), settings)
  })

  it('mutated real outputs', () => {
    fc.assert(fc.property(fixture, fc.array(mutation, {minLength: 1, maxLength: 5}),
      (text, ms) => survives(ms.reduce(mutate, text))), settings)
  })

  it('real JSON with values replaced by arbitrary JSON', () => {
    const path = fc.record({entry: fc.nat(), key: fc.nat(), nested: fc.boolean()})
    fc.assert(fc.property(fc.constantFrom(...jsonFixtures), path, fc.jsonValue({maxDepth: 2}), (doc, p, value) => {
      const copy = structuredClone(doc) as unknown[]
      if (copy.length > 0) {
        const entry = copy[p.entry % copy.length]
        if (entry !== null && typeof entry === 'object') {
          const o = entry as Record<string, unknown>
          const keys = Object.keys(o)
          const key = keys[p.key % Math.max(keys.length, 1)] ?? 'dst'
          const inner = o[key]
          if (p.nested && inner !== null && typeof inner === 'object' && !Array.isArray(inner)) {
            const innerKeys = Object.keys(inner)
            ;(inner as Record<string, unknown>)[innerKeys[p.key % Math.max(innerKeys.length, 1)] ?? 'info_data'] = value
          } else o[key] = value
        } else copy[p.entry % copy.length] = value
      }
      return survives(JSON.stringify(copy))
    }), settings)
  })
})
