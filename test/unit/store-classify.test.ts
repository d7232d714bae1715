import {expect} from 'chai'
import fc from 'fast-check'
import {mkdtemp, mkdir, rm, unlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {sameFingerprint, storeFingerprint} from '../../src/services/agent.js'
import type {StoreView} from '../../src/services/node.js'
import {intToIp, ipToInt} from '../../src/core/addr.js'
import {FileStore} from '../../src/store/file-store.js'
import {classifyEntries, EntryClassifier, leaseToJson, type Lease, type RawEntry} from '../../src/store/store.js'

// A small space of keys, so that wide and narrow entries overlap often: 10.244.0.0/20 cut at /20../26,
// entries outside the network, keys that name no subnet, flanneld's IPv6-only key.
const key = fc.oneof(
  {weight: 8, arbitrary: fc.tuple(fc.integer({min: 0, max: 4095}), fc.constantFrom(20, 22, 24, 24, 24, 25, 26))
    .map(([offset, len]) => `${intToIp(ipToInt('10.244.0.0') + offset - (offset % 2 ** (32 - len)))}-${len}`)},
  {weight: 1, arbitrary: fc.constantFrom('10.245.1.0-24', 'garbage', '0.0.0.0-0&fc00:0:0:5::-64', '10.244.3.0-24&fc00::-64', '10.244.3.1-24')},
)
const value = fc.oneof(
  {weight: 8, arbitrary: fc.tuple(fc.integer({min: 1, max: 6}), fc.integer({min: 0, max: 3}), fc.constantFrom('vxlan', 'host-gw')).map(([ip, mac, type]) =>
    leaseToJson({subnet: '', publicIP: `192.168.0.${ip}`, publicIPv6: null, backendType: type, backendData: type === 'vxlan' ? {VNI: 1, VtepMAC: `02:00:00:00:00:0${mac}`} : {}}))},
  {weight: 1, arbitrary: fc.constantFrom('not json', '[]', '{"PublicIP":"x"}', '{"PublicIP":"192.168.0.9","BackendType":3}')},
)
/** a step of a store's life: an entry written (new lease, new public IP or VTEP MAC, renewed), removed, or time passing */
const step = fc.oneof(
  {weight: 5, arbitrary: fc.record({put: key, value, ttlMs: fc.option(fc.integer({min: 1, max: 5000}), {nil: undefined})})},
  {weight: 2, arbitrary: fc.record({remove: key})},
  {weight: 1, arbitrary: fc.record({advanceMs: fc.integer({min: 0, max: 3000})})},
  {weight: 1, arbitrary: fc.record({network: fc.constantFrom('10.244.0.0/16', '10.244.0.0/20', '10.244.0.0/22', undefined)})},
)

describe('EntryClassifier (the agent\'s listings: readings kept between rounds)', () => {
  it('gives what classifying every entry afresh gives, after any sequence of writes, removals, expiries and network changes', () => {
    fc.assert(fc.property(fc.array(step, {maxLength: 40}), steps => {
      const classifier = new EntryClassifier()
      const entries = new Map<string, RawEntry>()
      let now = 1_000_000
      let network: string | undefined = '10.244.0.0/16'
      for (const s of steps) {
        if ('put' in s) entries.set(s.put, {key: s.put, value: s.value, ...(s.ttlMs === undefined ? {} : {expiresAtMs: now + s.ttlMs})})
        else if ('remove' in s) entries.delete(s.remove)
        else if ('advanceMs' in s) now += s.advanceMs
        else network = s.network
        // the watch keeps the objects of entries that did not change, in the order they were first seen
        const listed = [...entries.values()]
        expect(classifier.classify(listed, network, now)).to.deep.equal(classifyEntries(listed, network, now))
      }
    }), {numRuns: 300})
  })
})

describe('storeFingerprint', () => {
  const lease = fc.record({
    subnet: fc.constantFrom('10.244.1.0/24', '10.244.2.0/24'),
    publicIP: fc.constantFrom('192.168.0.1', '192.168.0.2'),
    publicIPv6: fc.constant(null),
    backendType: fc.constantFrom('vxlan', 'host-gw'),
    backendData: fc.constantFrom({}, {VNI: 1, VtepMAC: '02:00:00:00:00:01'}, {VNI: 1, VtepMAC: '02:00:00:00:00:02'}),
    expiresAt: fc.option(fc.constantFrom('2026-01-01T00:00:00.000Z', '2026-01-02T00:00:00.000Z'), {nil: undefined}),
  }) as fc.Arbitrary<Lease>
  const view = fc.tuple(fc.option(fc.constantFrom('{"Network":"10.244.0.0/16"}', '{"Network":"10.244.0.0/20"}\n'), {nil: undefined}),
    fc.option(fc.constantFrom('{}', '[]'), {nil: undefined}), fc.array(lease, {maxLength: 4}))
    .map(([config, migration, leases]): StoreView => [config, migration, {leases, invalid: []}])
  /** the fingerprint as it was before lease texts were kept: one JSON text of everything but the lifetimes */
  const plain = ([config, migration, {leases}]: StoreView) => JSON.stringify([config, leases.map(({expiresAt: _ttl, ...l}) => l), migration])

  it('tells two views apart exactly when they differ in more than lease lifetimes, whichever lease objects it saw before', () => {
    fc.assert(fc.property(view, view, (a, b) => {
      // a lease seen before (its text kept) and the same lease as a fresh object read alike
      const again: StoreView = [b[0], b[1], {leases: b[2].leases.map(l => ({...l})), invalid: []}]
      expect(sameFingerprint(storeFingerprint(a), storeFingerprint(b))).to.equal(plain(a) === plain(b))
      expect(sameFingerprint(storeFingerprint(again), storeFingerprint(b))).to.equal(true)
    }), {numRuns: 500})
  })
})

describe('FileStore listing from its watch', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fcap-classify-'))
  })
  afterEach(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('lists what a fresh store lists, after random lease files are written, changed (public IP, VTEP MAC), broken and removed', async () => {
    const fileStep = fc.oneof({weight: 3, arbitrary: fc.record({put: key, value})}, {weight: 1, arbitrary: fc.record({remove: key})})
    await fc.assert(fc.asyncProperty(fc.array(fileStep, {minLength: 1, maxLength: 6}), async steps => {
      const storeDir = await mkdtemp(join(dir, 's-'))
      const subnets = join(storeDir, 'coreos.com', 'network', 'subnets')
      await mkdir(subnets, {recursive: true})
      await writeFile(join(storeDir, 'coreos.com', 'network', 'config'), '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}')
      const store = new FileStore(storeDir)
      let events = 0
      const stop = await store.watch(() => events++)
      try {
        await store.listLeases({fromWatch: true})
        for (const s of steps) {
          const seen = events
          if ('put' in s) await writeFile(join(subnets, s.put), s.value)
          else await unlink(join(subnets, s.remove)).catch(() => {})
          // bounded: the watch reports within milliseconds; a removal of an absent file reports nothing
          for (let i = 0; i < 50 && events === seen; i++) await new Promise(r => setTimeout(r, 10))
          await new Promise(r => setTimeout(r, 20))
          expect(await store.listLeases({fromWatch: true})).to.deep.equal(await new FileStore(storeDir).listLeases())
        }
      } finally {
        stop()
        await store.close()
      }
    }), {numRuns: 12})
  })
})
