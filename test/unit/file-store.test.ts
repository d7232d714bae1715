import {expect} from 'chai'
import {execFile, spawnSync} from 'node:child_process'
import {mkdtemp, mkdir, readdir, readFile, rm, stat, utimes, writeFile} from 'node:fs/promises'
import {existsSync} from 'node:fs'
import {hostname, tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'
import {FlannelctlError} from '../../src/errors.js'
import {parseNetConf} from '../../src/core/netconf.js'
import {FileStore} from '../../src/store/file-store.js'
import fc from 'fast-check'
import {isoTime, leaseFromJson, leaseToJson, openStore, parseStoredNetConf, type Lease} from '../../src/store/store.js'
import {EtcdStore} from '../../src/store/etcd-store.js'
import {readStoreView} from '../../src/services/node.js'

const repoRoot = fileURLToPath(new URL('../..', import.meta.url))
const nc = parseNetConf('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}')
const DAY = 24 * 3600 * 1000
const vxlan = (mac: string) => ({backendType: 'vxlan', backendData: {VNI: 1, VtepMAC: mac}})

describe('lease JSON', () => {
  it('is flannel\'s exact value', () => {
    const lease: Lease = {subnet: '10.244.1.0/24', publicIP: '192.168.122.11', publicIPv6: null, ...vxlan('a2:99:54:8b:35:bd')}
    const json = '{"PublicIP":"192.168.122.11","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"a2:99:54:8b:35:bd"}}'
    expect(leaseToJson(lease)).to.equal(json)
    expect(leaseFromJson('10.244.1.0/24', json)).to.deep.equal(lease)
    // host-gw: flannel leaves BackendData out (omitempty)
    expect(leaseToJson({...lease, backendType: 'host-gw', backendData: {}}))
      .to.equal('{"PublicIP":"192.168.122.11","PublicIPv6":null,"BackendType":"host-gw"}')
  })
})

describe('lease lifetimes as text', () => {
  it('isoTime writes what Date.toISOString writes, for any instant', () => {
    const same = (ms: number) => {
      let want: string | Error
      try {
        want = new Date(ms).toISOString()
      } catch (error) {
        want = error as Error
      }
      if (want instanceof Error) expect(() => isoTime(ms)).to.throw(RangeError)
      else expect(isoTime(ms), String(ms)).to.equal(want)
    }
    fc.assert(fc.property(fc.integer({min: 0, max: 253_402_300_799_999}), same), {numRuns: 2000})
    fc.assert(fc.property(fc.double({min: -1e16, max: 1e16}), same), {numRuns: 2000})
    for (const ms of [0, 0.5, 999.999, 86_399_999, 86_400_000, 951_782_400_000, 253_402_300_799_999, 253_402_300_800_000, -1, -0.5, NaN, Infinity, 8.64e15, 8.64e15 + 1]) same(ms)
  })
})

describe('FileStore', () => {
  let dir: string
  let clock: number
  let store: FileStore

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flannelctl-store-'))
    clock = Date.parse('2025-01-01T00:00:00Z')
    store = new FileStore(dir, {now: () => clock})
  })
  afterEach(async () => {
    await store.close()
    await rm(dir, {recursive: true, force: true})
  })

  const subnetsDir = () => join(dir, 'coreos.com/network/subnets')
  // as init leaves the store: a lease is written only while the network config is there
  const configured = () => store.putConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}')

  it('keeps config and leases in flannel\'s key layout, expiring 24 h after mtime', async () => {
    expect(store.describe()).to.equal(`file:${dir}`)
    expect(await store.getConfig()).to.equal(undefined)
    const config = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}'
    await store.putConfig(config)
    expect(await readFile(join(dir, 'coreos.com/network/config'), 'utf8')).to.equal(config)
    expect(await store.getConfig()).to.equal(config)

    const lease = await store.acquireLease(nc, {publicIP: '192.168.122.11', ...vxlan('a2:99:54:8b:35:bd'), random: () => 0})
    expect(lease.subnet).to.equal('10.244.1.0/24')
    expect(lease.expiresAt).to.equal('2025-01-02T00:00:00.000Z')
    const file = join(subnetsDir(), '10.244.1.0-24')
    expect(await readFile(file, 'utf8')).to.equal(
      '{"PublicIP":"192.168.122.11","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"a2:99:54:8b:35:bd"}}')
    expect((await stat(file)).mtimeMs).to.equal(clock)
    expect(await store.listLeases()).to.deep.equal({leases: [lease], invalid: []})
  })

  it('creates a config only where none is (ifAbsent): a second first init does not overwrite the first', async () => {
    const first = '{"Network":"10.101.0.0/16","Backend":{"Type":"vxlan"}}'
    expect(await store.putConfig(first, {ifAbsent: true})).to.equal(true)
    expect(await store.putConfig('{"Network":"10.102.0.0/16","Backend":{"Type":"vxlan"}}', {ifAbsent: true})).to.equal(false)
    expect(await store.getConfig()).to.equal(first)
    // backend set and friends replace it
    expect(await store.putConfig('{"Network":"10.101.0.0/16","Backend":{"Type":"host-gw"}}')).to.equal(true)
    expect(await store.getConfig()).to.contain('host-gw')
  })

  it('refuses to store an invalid config', async () => {
    try {
      await store.putConfig('{"Network":"10.244.0.0/16","SubnetLen":"24"}')
      expect.fail('stored')
    } catch (e) {
      expect(e).to.be.instanceOf(FlannelctlError)
    }
  })

  it('re-acquires by PublicIP (refreshing attrs), else the preferred subnet, else a free one', async () => {
    await configured()
    const a = await store.acquireLease(nc, {publicIP: '10.0.0.1', ...vxlan('02:00:00:00:00:01')})
    clock += 3600_000
    const again = await store.acquireLease(nc, {publicIP: '10.0.0.1', preferredSubnet: '10.244.200.0/24', ...vxlan('02:00:00:00:00:99')})
    expect(again.subnet).to.equal(a.subnet)
    expect(again.backendData.VtepMAC).to.equal('02:00:00:00:00:99')
    expect(again.expiresAt).to.equal(new Date(clock + DAY).toISOString())
    const b = await store.acquireLease(nc, {publicIP: '10.0.0.2', preferredSubnet: '10.244.200.0/24', ...vxlan('02:00:00:00:00:02')})
    expect(b.subnet).to.equal('10.244.200.0/24')
    const c = await store.acquireLease(nc, {publicIP: '10.0.0.3', preferredSubnet: '10.244.200.0/24', ...vxlan('02:00:00:00:00:03')})
    expect([a.subnet, b.subnet]).to.not.include(c.subnet)
    expect((await store.listLeases()).leases.map((l) => l.publicIP).sort()).to.deep.equal(['10.0.0.1', '10.0.0.2', '10.0.0.3'])
  })

  it('a SubnetLen edited under held leases: a host keeping its subnet (keep) renews it in place; a new host leases beside it', async () => {
    await configured()
    const a = await store.acquireLease(nc, {publicIP: '10.0.0.1', ...vxlan('02:00:00:00:00:01'), random: () => 0})
    const b = await store.acquireLease(nc, {publicIP: '10.0.0.2', ...vxlan('02:00:00:00:00:02'), random: () => 0})
    const nc25 = parseNetConf('{"Network":"10.244.0.0/16","SubnetLen":25,"Backend":{"Type":"vxlan"}}')
    const kept = (heldSubnet: boolean) => store.acquireLease(nc25, {publicIP: '10.0.0.1', preferredSubnet: a.subnet, keep: a.subnet, heldSubnet, ...vxlan('02:00:00:00:00:01')})
    expect(await kept(true)).to.deep.equal(a)
    // due for renewal, by the held path and by the full one
    for (const heldSubnet of [true, false]) {
      clock += 2 * 3600_000
      const renewed = await kept(heldSubnet)
      expect(renewed.subnet).to.equal(a.subnet)
      expect(renewed.expiresAt).to.equal(new Date(clock + DAY).toISOString())
      expect((await stat(join(subnetsDir(), '10.244.1.0-24'))).mtimeMs).to.equal(clock)
    }
    clock += 3600_000
    expect((await store.renewLease(a.subnet)).expiresAt).to.equal(new Date(clock + DAY).toISOString())
    for (const random of [() => 0, () => 0.999999]) {
      const c = await store.acquireLease(nc25, {publicIP: `10.0.0.${random() === 0 ? 3 : 4}`, ...vxlan('02:00:00:00:00:03'), random})
      expect(c.subnet).to.match(/\/25$/)
      expect(['10.244.1.', '10.244.2.'].some(p => c.subnet.startsWith(p)), c.subnet).to.equal(false)
    }
    expect((await store.listLeases()).leases.map(l => l.subnet)).to.include.members([a.subnet, b.subnet])
    // not kept, it goes, as flanneld's does
    const moved = await store.acquireLease(nc25, {publicIP: '10.0.0.2', preferredSubnet: b.subnet, ...vxlan('02:00:00:00:00:02'), random: () => 0})
    expect(moved.subnet).to.match(/\/25$/)
    expect(await readdir(subnetsDir())).to.not.include('10.244.2.0-24')
  })

  it('writes no lease while the network config is gone (the store emptied after the round read it): says so, and writes nothing', async () => {
    const acquire = (mac: string) => store.acquireLease(nc, {publicIP: '10.0.0.1', ...vxlan(mac), random: () => 0})
    const noConfig = async (mac: string) => {
      try {
        await acquire(mac)
        expect.fail('leased')
      } catch (e) {
        expect(e).to.be.instanceOf(FlannelctlError)
        expect((e as Error).message).to.equal(`the store file:${dir} holds no network config`)
      }
    }
    await noConfig('02:00:00:00:00:01')
    expect(await readdir(subnetsDir())).to.deep.equal([])
    await configured()
    const held = await acquire('02:00:00:00:00:01')
    await rm(join(dir, 'coreos.com/network/config'))
    // its own subnet again, with a changed attribute: a write, refused
    await noConfig('02:00:00:00:00:02')
    expect(await readdir(subnetsDir())).to.deep.equal([held.subnet.replace('/', '-')])
    expect(await readFile(join(subnetsDir(), held.subnet.replace('/', '-')), 'utf8')).to.contain('02:00:00:00:00:01')
  })

  it('renews by touching, forgets expired leases and refuses to renew them', async () => {
    await configured()
    const lease = await store.acquireLease(nc, {publicIP: '10.0.0.1', ...vxlan('02:00:00:00:00:01'), random: () => 0})
    const before = await readFile(join(subnetsDir(), '10.244.1.0-24'), 'utf8')
    clock += DAY - 1000
    const renewed = await store.renewLease(lease.subnet)
    expect(renewed.expiresAt).to.equal(new Date(clock + DAY).toISOString())
    expect(await readFile(join(subnetsDir(), '10.244.1.0-24'), 'utf8')).to.equal(before)
    clock += DAY
    expect((await store.listLeases()).leases).to.deep.equal([])
    try {
      await store.renewLease(lease.subnet)
      expect.fail('renewed an expired lease')
    } catch (e) {
      expect((e as FlannelctlError).message).to.contain('no longer in file:')
    }
    // an expired subnet is free again, and the stale file is removed
    const other = await store.acquireLease(nc, {publicIP: '10.0.0.2', ...vxlan('02:00:00:00:00:02'), random: () => 0})
    expect(other.subnet).to.equal('10.244.1.0/24')
    // a host giving back a subnet another host holds now deletes nothing
    expect(await store.releaseLease(other.subnet, '10.0.0.1')).to.equal(false)
    expect(await readdir(subnetsDir())).to.deep.equal(['10.244.1.0-24'])
    expect(await store.releaseLease(other.subnet, '10.0.0.2')).to.equal(true)
    expect(await store.releaseLease(other.subnet)).to.equal(false)
    expect(await readdir(subnetsDir())).to.deep.equal([])
  })

  it('moves a lease flanneld keyed for dual stack (10.244.7.0-24&fc00::-64) to the IPv4 key, and releases it under either', async () => {
    await configured()
    await mkdir(subnetsDir(), {recursive: true})
    const flanneld = '{"PublicIP":"10.0.0.7","PublicIPv6":"fd00::7","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"02:00:00:00:00:07"},"BackendV6Data":{"VNI":1,"VtepMAC":"02:00:00:00:00:77"}}'
    await writeFile(join(subnetsDir(), '10.244.7.0-24&fc00:0:0:7::-64'), flanneld)
    await writeFile(join(subnetsDir(), '10.244.8.0-24&fc00:0:0:8::-64'), flanneld.replace('10.0.0.7', '10.0.0.8'))
    for (const name of await readdir(subnetsDir())) await utimes(join(subnetsDir(), name), clock / 1000, clock / 1000)
    expect((await store.listLeases()).leases.map((l) => [l.subnet, l.publicIP])).to.deep.equal([['10.244.7.0/24', '10.0.0.7'], ['10.244.8.0/24', '10.0.0.8']])

    const lease = await store.acquireLease(nc, {publicIP: '10.0.0.7', ...vxlan('02:00:00:00:00:07')})
    expect(lease.subnet).to.equal('10.244.7.0/24')
    expect((await readdir(subnetsDir())).sort()).to.deep.equal(['10.244.7.0-24', '10.244.8.0-24&fc00:0:0:8::-64'])
    // the next round finds one entry for its subnet, not its own lease overlapped
    const {leases, invalid} = await store.listLeases()
    expect(invalid).to.deep.equal([])
    expect(leases.map((l) => [l.subnet, l.publicIP, l.publicIPv6])).to.deep.equal([['10.244.7.0/24', '10.0.0.7', null], ['10.244.8.0/24', '10.0.0.8', 'fd00::7']])
    expect(await store.releaseLease('10.244.8.0/24', '10.0.0.7')).to.equal(false)
    expect(await store.releaseLease('10.244.8.0/24', '10.0.0.8')).to.equal(true)
    expect(await readdir(subnetsDir())).to.deep.equal(['10.244.7.0-24'])
  })

  it('skips an IPv6-only lease of a flanneld with EnableIPv4 false (0.0.0.0-0&fc00:0:0:5::-64), saying what it is, and leases beside it', async () => {
    await store.putConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}')
    await mkdir(subnetsDir(), {recursive: true})
    await writeFile(join(subnetsDir(), '0.0.0.0-0&fc00:0:0:5::-64'), '{"PublicIP":"0.0.0.0","PublicIPv6":"fd00::5","BackendType":"vxlan","BackendV6Data":{"VNI":1,"VtepMAC":"02:00:00:00:00:55"}}')
    for (const name of await readdir(subnetsDir())) await utimes(join(subnetsDir(), name), clock / 1000, clock / 1000)
    const {leases, invalid} = await store.listLeases()
    expect(leases).to.deep.equal([])
    expect(invalid.map(i => i.reason)).to.deep.equal(['an IPv6-only lease (a flanneld with EnableIPv4 false): it has no IPv4 subnet to route'])
    // it takes no IPv4 subnet: before, its 0.0.0.0/0 made the network 'exhausted: all 255 subnets are leased'
    const lease = await store.acquireLease(nc, {publicIP: '10.0.0.9', ...vxlan('02:00:00:00:00:09')})
    expect(lease.subnet).to.match(/^10\.244\.\d+\.0\/24$/)
  })

  it('reports malformed entries and never hands their subnets out', async () => {
    await store.putConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}')
    await mkdir(subnetsDir(), {recursive: true})
    const good = '{"PublicIP":"10.0.0.1","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"02:00:00:00:00:01"}}'
    const files: Record<string, string> = {
      '10.244.1.0-24': '{"PublicIP":"10.0.0.1",',
      '10.244.2.0-24': '{"PublicIP":"not-an-ip"}',
      '10.245.3.0-24': good,
      '10.244.4.0-24': good,
      '10.244.4.0-25': good,
      'README': 'hello',
      '10.244.5.7-24': good,
    }
    for (const [name, value] of Object.entries(files)) {
      await writeFile(join(subnetsDir(), name), value)
      await utimes(join(subnetsDir(), name), clock / 1000, clock / 1000)
    }
    const {leases, invalid} = await store.listLeases()
    expect(leases.map((l) => l.subnet)).to.deep.equal(['10.244.4.0/25'])
    expect(Object.fromEntries(invalid.map((i) => [i.key, i.reason]))).to.deep.equal({
      '10.244.1.0-24': 'value is not JSON',
      '10.244.2.0-24': 'PublicIP is not an IPv4 address: "not-an-ip"',
      '10.244.4.0-24': 'subnet 10.244.4.0/24 overlaps the lease of 10.244.4.0/25',
      '10.244.5.7-24': 'key is not a subnet such as 10.244.1.0-24',
      '10.245.3.0-24': 'subnet 10.245.3.0/24 is outside the network 10.244.0.0/16',
      'README': 'key is not a subnet such as 10.244.1.0-24',
    })
    const lease = await store.acquireLease(nc, {publicIP: '10.0.0.9', preferredSubnet: '10.244.1.0/24', ...vxlan('02:00:00:00:00:09'), random: () => 0})
    expect(lease.subnet).to.equal('10.244.3.0/24')
    expect(await readFile(join(subnetsDir(), '10.244.1.0-24'), 'utf8')).to.equal(files['10.244.1.0-24'])
  })

  it('checks the entries against the config the caller is reading (readStoreView reads it once), else against its own read', async () => {
    await store.putConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}')
    await mkdir(subnetsDir(), {recursive: true})
    for (const name of ['10.244.1.0-24', '10.245.1.0-24']) {
      await writeFile(join(subnetsDir(), name), '{"PublicIP":"10.0.0.1","PublicIPv6":null,"BackendType":"host-gw"}')
      await utimes(join(subnetsDir(), name), clock / 1000, clock / 1000)
    }
    const invalidKeys = async (opts?: Parameters<FileStore['listLeases']>[0]) => (await store.listLeases(opts)).invalid.map(i => i.key)
    expect(await invalidKeys()).to.deep.equal(['10.245.1.0-24'])
    // the config handed in decides, not the stored one: no read of its own
    expect(await invalidKeys({config: Promise.resolve('{"Network":"10.245.0.0/16","Backend":{"Type":"vxlan"}}')})).to.deep.equal(['10.244.1.0-24'])
    // none, or one that does not parse: no network to check against, as a stored one of those
    expect(await invalidKeys({config: Promise.resolve(undefined)})).to.deep.equal([])
    expect(await invalidKeys({config: Promise.resolve('{"Network":')})).to.deep.equal([])
    const [config, migration, leases] = await readStoreView(store)
    expect([config, migration, leases]).to.deep.equal([await store.getConfig(), undefined, await store.listLeases()])
  })

  it('gives 20 concurrent processes 20 distinct subnets', async function () {
    this.timeout(120_000)
    const script = join(dir, 'acquire.mts')
    await writeFile(script, `
      import {FileStore} from ${JSON.stringify(join(repoRoot, 'src/store/file-store.ts'))}
      import {parseNetConf} from ${JSON.stringify(join(repoRoot, 'src/core/netconf.ts'))}
      const [storeDir, ip] = process.argv.slice(2)
      const nc = parseNetConf('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}')
      // everyone draws the same subnet unless the lock serialises them
      const lease = await new FileStore(storeDir).acquireLease(nc, {publicIP: ip, backendType: 'vxlan', backendData: {VNI: 1}, random: () => 0})
      console.log(lease.subnet)
    `)
    const storeDir = join(dir, 'shared')
    await new FileStore(storeDir).putConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}')
    const run = promisify(execFile)
    const outputs = await Promise.all(Array.from({length: 20}, (_, i) =>
      run(process.execPath, ['--import', 'tsx', script, storeDir, `10.0.0.${i + 1}`], {cwd: repoRoot})))
    const subnets = outputs.map((o) => o.stdout.trim())
    expect(new Set(subnets).size).to.equal(20)
    const shared = new FileStore(storeDir)
    const {leases, invalid} = await shared.listLeases()
    expect(invalid).to.deep.equal([])
    expect(leases.map((l) => l.subnet).sort()).to.deep.equal([...subnets].sort())
    expect((await readdir(storeDir)).filter((n) => n.includes('lock'))).to.deep.equal([])
    expect((await readdir(join(storeDir, 'coreos.com/network/subnets'))).filter((n) => n.startsWith('.'))).to.deep.equal([])
  })

  describe('lock', () => {
    const lockOf = (pid: number, time: number) => JSON.stringify({pid, host: hostname(), time, token: 'x'})
    const acquire = (s: FileStore) => s.acquireLease(nc, {publicIP: '10.0.0.1', ...vxlan('02:00:00:00:00:01')})

    it('recovers a lock left by a dead process at once', async () => {
      await configured()
      const dead = spawnSync('true').pid!
      await mkdir(dir, {recursive: true})
      await writeFile(join(dir, 'flannelctl.lock'), lockOf(dead, Date.now()))
      const patient = new FileStore(dir, {lock: {staleMs: 600_000, timeoutMs: 10_000}})
      // waiting for the lock instead would fail with the 10 s timeout, well before it goes stale
      await acquire(patient)
      expect(await readdir(dir)).to.not.include('flannelctl.lock')
    })

    it('steals an old lock of a live process, and waits for a fresh one, naming its holder', async () => {
      await configured()
      await writeFile(join(dir, 'flannelctl.lock'), lockOf(process.pid, Date.now() - 60_000))
      await acquire(store)
      await writeFile(join(dir, 'flannelctl.lock'), lockOf(process.pid, Date.now()))
      const hasty = new FileStore(dir, {lock: {timeoutMs: 200}})
      try {
        await acquire(hasty)
        expect.fail('acquired a held lock')
      } catch (e) {
        expect(e).to.be.instanceOf(FlannelctlError)
        expect((e as FlannelctlError).message).to.contain(`locked by pid ${process.pid}`)
        expect((e as FlannelctlError).hint).to.contain('flannelctl.lock')
      }
    })
  })

  it('watches for changes', async () => {
    await configured()
    let calls = 0
    const changed = new Promise<void>((resolve) => {
      void store.watch(() => {
        calls++
        resolve()
      })
    })
    await new Promise((r) => setTimeout(r, 50))
    await store.acquireLease(nc, {publicIP: '10.0.0.1', ...vxlan('02:00:00:00:00:01')})
    await Promise.race([changed, new Promise((_, reject) => setTimeout(() => reject(new Error('no change seen')), 5000))])
    expect(calls).to.be.at.least(1)
  })

  it('lists from its watch what a full read lists, after creates, rewrites, renewals and removals', async () => {
    await store.putConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}')
    const settle = () => new Promise((r) => setTimeout(r, 100))
    const leases = [] as Lease[]
    for (let i = 0; i < 6; i++) leases.push(await store.acquireLease(nc, {publicIP: `10.0.0.${i + 1}`, ...vxlan(`02:00:00:00:00:0${i}`)}))
    await store.watch(() => {})
    expect(await store.listLeases({fromWatch: true})).to.deep.equal(await store.listLeases())
    await store.acquireLease(nc, {publicIP: '10.0.0.9', ...vxlan('02:00:00:00:00:09')})
    await store.acquireLease(nc, {publicIP: '10.0.0.1', ...vxlan('02:00:00:00:00:aa')})
    clock += 3600_000
    await store.renewLease(leases[1].subnet)
    await store.releaseLease(leases[2].subnet)
    await writeFile(join(subnetsDir(), '10.244.250.0-24'), 'not json')
    await settle()
    const fromWatch = await store.listLeases({fromWatch: true})
    expect(fromWatch).to.deep.equal(await store.listLeases())
    expect(fromWatch.leases.map((l) => l.publicIP)).to.include('10.0.0.9').and.not.include('10.0.0.3')
    expect(fromWatch.invalid.map((i) => i.key)).to.deep.equal(['10.244.250.0-24'])
  })

  it('a write\'s temp file caught by the watch before its rename is no entry (agents warned "skipped store entry .X.tmp")', async () => {
    await store.putConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}')
    await store.acquireLease(nc, {publicIP: '10.0.0.1', ...vxlan('02:00:00:00:00:01')})
    await store.watch(() => {})
    await store.listLeases({fromWatch: true})
    const tmp = join(subnetsDir(), `.10.244.7.0-24.${process.pid}.0a0b0c0d.tmp`)
    await writeFile(tmp, '{"PublicIP":"10.0.0.7"')
    await new Promise((r) => setTimeout(r, 100))
    const fromWatch = await store.listLeases({fromWatch: true})
    expect(fromWatch.invalid).to.deep.equal([])
    expect(fromWatch).to.deep.equal(await store.listLeases())
  })

  it('says before writing whether the config can be written there (init --dry-run creates nothing)', async () => {
    // before: `init --store file:/proc/x --dry-run` said it "would create the network config" there; the real run refused
    await store.checkConfigWritable()
    expect(existsSync(join(dir, 'coreos.com')), 'nothing created').to.equal(false)
    await writeFile(join(dir, 'in-the-way'), '')
    for (const [where, problem] of [['/proc/flannelctl-store', 'cannot create files there: /proc'], [join(dir, 'in-the-way'), `not a directory: ${join(dir, 'in-the-way')}`]]) {
      let error: unknown
      await new FileStore(where).checkConfigWritable().catch(e => { error = e })
      expect(error, where).to.be.instanceOf(FlannelctlError).and.include({exitCode: 2, message: `store file:${where} is not usable: ${problem}`})
    }
  })

  it('is what openStore gives for file:DIR', async () => {
    await configured()
    // Under mocha the tests load as CommonJS while openStore's lazy import() loads ES modules: two
    // copies of each class, so compare by name rather than instanceof.
    const opened = await openStore(`file:${dir}`)
    expect(opened.constructor.name).to.equal('FileStore')
    expect(opened.describe()).to.equal(`file:${dir}`)
    await opened.acquireLease(nc, {publicIP: '10.0.0.1', ...vxlan('02:00:00:00:00:01')})
    expect((await store.listLeases()).leases).to.have.length(1)
    for (const bad of ['file:', 'consul://x:1', 'etcd://nohost', 'etcd://10.0.0.5:99999', 'http://10.0.0.5:0', '/var/lib/flannelctl/store']) {
      try {
        await openStore(bad)
        expect.fail(`opened ${bad}`)
      } catch (e) {
        expect((e as Error).name, bad).to.equal('FlannelctlError')
        expect((e as FlannelctlError).hint, bad).to.contain('--store')
      }
    }
    // a port out of range was Node's RangeError from the socket (exit 1); a bare directory names its fix
    const refusal = (spec: string) => openStore(spec).then(() => expect.fail(`opened ${spec}`), (e: FlannelctlError) => e)
    expect((await refusal('etcd://10.0.0.5:99999')).message).to.contain('"10.0.0.5:99999" has no valid port (1 to 65535)')
    expect((await refusal('/srv/store')).hint).to.equal('use --store file:/srv/store')
    // a store's own directories, one or two levels too deep, would be a second store, empty, inside it
    for (const inner of [join(dir, 'coreos.com', 'network'), `${join(dir, 'coreos.com', 'network')}/`, join(dir, 'coreos.com')]) {
      const e = await refusal(`file:${inner}`)
      expect(e.message).to.contain(`is inside the file store file:${dir}`)
      expect(e.hint).to.equal(`use --store file:${dir}`)
    }
  })
})

describe('a stored network config that does not parse', () => {
  it('names where to correct it: the file store\'s own file, or the etcd key under the store\'s prefix', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fc-conf-'))
    try {
      const store = new FileStore(dir)
      const refusal = (() => {
        try {
          parseStoredNetConf(store, '{"Network":"10.244.0.0/16","EnableNFTables":"yes"}')
        } catch (e) {
          return e as FlannelctlError
        }
        return expect.fail('parsed')
      })()
      expect(refusal.message).to.equal(`the network config in file:${dir} is not valid: EnableNFTables must be true or false, got the string "yes"`)
      expect(refusal.hint).to.match(new RegExp(`in the store's config, the file ${dir}/coreos\\.com/network/config$`))
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
    // (no etcd to connect to here: the key is the store's prefix's, as its reads use)
    const etcd = Object.assign(Object.create(EtcdStore.prototype) as EtcdStore, {prefix: '/example.com/network'})
    expect(etcd.configLocation()).to.equal('the etcd key /example.com/network/config')
  })
})
