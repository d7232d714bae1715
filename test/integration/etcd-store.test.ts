/**
 * EtcdStore against a real etcd (/usr/bin/etcd) on loopback, random ports, a throw-away data dir.
 */
import {expect} from 'chai'
import {execFile, spawn, type ChildProcess} from 'node:child_process'
import {promisify} from 'node:util'
import {existsSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {createServer, type Socket} from 'node:net'
import {createServer as createHttp2Server} from 'node:http2'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Etcd3} from 'etcd3'
import {FlannelctlError} from '../../src/errors.js'
import {parseNetConf} from '../../src/core/netconf.js'
import {EtcdStore} from '../../src/store/etcd-store.js'
import {openStore} from '../../src/store/store.js'
import {cli} from '../helpers/cli.js'

const ETCD = '/usr/bin/etcd'
const execFileAsync = promisify(execFile)
const CONFIG = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}'
const nc = parseNetConf(CONFIG)
const vxlan = (mac: string) => ({backendType: 'vxlan', backendData: {VNI: 1, VtepMAC: mac}})

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as {port: number}).port
      srv.close(() => resolve(port))
    })
  })
}

async function expectError(p: Promise<unknown>, text: string): Promise<FlannelctlError> {
  try {
    await p
  } catch (e) {
    expect((e as Error).name).to.equal('FlannelctlError')
    expect((e as Error).message).to.contain(text)
    return e as FlannelctlError
  }
  throw new Error(`no error containing "${text}"`)
}

describe('EtcdStore (real etcd)', function () {
  this.timeout(60_000)
  let dataDir: string
  let etcd: ChildProcess | undefined
  let endpoint: string
  let raw: Etcd3
  const stores: EtcdStore[] = []
  const connect = async (prefix?: string) => {
    const s = await EtcdStore.connect({endpoints: [endpoint], prefix})
    stores.push(s)
    return s
  }

  before(async function () {
    if (!existsSync(ETCD)) this.skip()
    dataDir = await mkdtemp(join(tmpdir(), 'flannelctl-etcd-'))
    const [client, peer] = [await freePort(), await freePort()]
    endpoint = `127.0.0.1:${client}`
    etcd = spawn(ETCD, [
      '--name', 'test', '--data-dir', dataDir,
      '--listen-client-urls', `http://${endpoint}`, '--advertise-client-urls', `http://${endpoint}`,
      '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-cluster', `test=http://127.0.0.1:${peer}`,
      // each login hashes the password (bcrypt, cost 10 by default): on a loaded 2-CPU machine the
      // auth test's CLI runs came near their 3 s first-contact deadline, which a hung etcd must meet
      '--bcrypt-cost', '4',
    ], {stdio: 'ignore'})
    const deadline = Date.now() + 30_000
    for (;;) {
      try {
        await (await EtcdStore.connect({endpoints: [endpoint], timeoutMs: 1000})).close()
        break
      } catch (e) {
        if (Date.now() > deadline || etcd.exitCode !== null) throw e
        await new Promise((r) => setTimeout(r, 200))
      }
    }
    raw = new Etcd3({hosts: `http://${endpoint}`})
  })

  after(async () => {
    for (const s of stores) await s.close()
    raw?.close()
    if (etcd && etcd.exitCode === null) {
      const exited = new Promise((r) => etcd!.once('exit', r))
      etcd.kill('SIGTERM')
      await exited
    }
    if (dataDir) await rm(dataDir, {recursive: true, force: true})
  })

  beforeEach(async () => {
    await raw?.delete().all()
  })
  /** the network config, as every host's init leaves it: a lease is written only while it is there */
  const configured = (prefix = '/coreos.com/network/') => raw.put(`${prefix}config`).value(CONFIG)

  it('keeps the config at /coreos.com/network/config', async () => {
    const store = await connect()
    expect(store.describe()).to.equal(`etcd://${endpoint}`)
    expect(await store.getConfig()).to.equal(undefined)
    const config = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}'
    await store.putConfig(config)
    expect(await raw.get('/coreos.com/network/config').string()).to.equal(config)
    expect(await store.getConfig()).to.equal(config)
    await expectError(store.putConfig('{"Network":"10.244.0.0/16","SubnetLen":"24"}'), 'SubnetLen')
    // a first init creates it only where none is: another host's, created meanwhile, stays
    expect(await store.putConfig('{"Network":"10.102.0.0/16","Backend":{"Type":"vxlan"}}', {ifAbsent: true})).to.equal(false)
    expect(await store.getConfig()).to.equal(config)
    await raw.delete().key('/coreos.com/network/config')
    expect(await store.putConfig(config, {ifAbsent: true})).to.equal(true)
    expect(await store.getConfig()).to.equal(config)
  })

  it('writes flannel\'s lease value under a 24 h etcd lease', async () => {
    await configured()
    const store = await connect()
    const lease = await store.acquireLease(nc, {publicIP: '192.168.122.11', ...vxlan('a2:99:54:8b:35:bd'), random: () => 0})
    expect(lease.subnet).to.equal('10.244.1.0/24')
    const kv = (await raw.getAll().prefix('/coreos.com/network/subnets/').exec()).kvs
    expect(kv.map((k) => k.key.toString())).to.deep.equal(['/coreos.com/network/subnets/10.244.1.0-24'])
    expect(kv[0].value.toString()).to.equal(
      '{"PublicIP":"192.168.122.11","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"a2:99:54:8b:35:bd"}}')
    const ttl = await raw.leaseClient.leaseTimeToLive({ID: kv[0].lease})
    expect(Number(ttl.grantedTTL)).to.equal(86400)
    expect(Date.parse(lease.expiresAt!) - Date.now()).to.be.within(86000_000, 86401_000)
    const {leases, invalid} = await store.listLeases()
    expect(invalid).to.deep.equal([])
    expect(leases.map((l) => [l.subnet, l.publicIP, l.backendData.VtepMAC])).to.deep.equal([['10.244.1.0/24', '192.168.122.11', 'a2:99:54:8b:35:bd']])
  })

  it('re-acquires by PublicIP, renews, releases', async () => {
    await configured()
    const store = await connect()
    // the first subnet of the network (a random pick could be the 10.244.77.0/24 b prefers below)
    const a = await store.acquireLease(nc, {publicIP: '10.0.0.1', ...vxlan('02:00:00:00:00:01'), random: () => 0})
    const again = await store.acquireLease(nc, {publicIP: '10.0.0.1', ...vxlan('02:00:00:00:00:99')})
    expect(again.subnet).to.equal(a.subnet)
    expect((await store.listLeases()).leases.map((l) => l.backendData.VtepMAC)).to.deep.equal(['02:00:00:00:00:99'])
    const b = await store.acquireLease(nc, {publicIP: '10.0.0.2', preferredSubnet: '10.244.77.0/24', ...vxlan('02:00:00:00:00:02')})
    expect(b.subnet).to.equal('10.244.77.0/24')

    const renewed = await store.renewLease(b.subnet)
    expect(renewed.publicIP).to.equal('10.0.0.2')
    expect(Date.parse(renewed.expiresAt!)).to.be.at.least(Date.parse(b.expiresAt!))
    // a host giving back a subnet another host holds now deletes nothing
    expect(await store.releaseLease(b.subnet, '10.0.0.1')).to.equal(false)
    expect(await raw.get('/coreos.com/network/subnets/10.244.77.0-24').string()).to.not.equal(null)
    expect(await store.releaseLease(b.subnet, '10.0.0.2')).to.equal(true)
    expect(await store.releaseLease(b.subnet)).to.equal(false)
    expect(await raw.get('/coreos.com/network/subnets/10.244.77.0-24').string()).to.equal(null)
    await expectError(store.renewLease(b.subnet), 'no longer in etcd://')
  })

  it('a SubnetLen edited under held leases: a host keeping its subnet (keep) renews and rewrites it; a new host leases beside it', async () => {
    await configured()
    const store = await connect()
    const a = await store.acquireLease(nc, {publicIP: '10.0.0.1', ...vxlan('02:00:00:00:00:01'), random: () => 0})
    const b = await store.acquireLease(nc, {publicIP: '10.0.0.2', ...vxlan('02:00:00:00:00:02'), random: () => 0})
    const nc25 = parseNetConf('{"Network":"10.244.0.0/16","SubnetLen":25,"Backend":{"Type":"vxlan"}}')
    const kept = (mac: string) => store.acquireLease(nc25, {publicIP: '10.0.0.1', preferredSubnet: a.subnet, keep: a.subnet, heldSubnet: true, ...vxlan(mac)})
    expect((await kept('02:00:00:00:00:01')).subnet).to.equal(a.subnet)
    // a changed value takes the full path: rewritten under a new 24 h etcd lease, not given up
    const rewritten = await kept('02:00:00:00:00:11')
    expect(rewritten.subnet).to.equal(a.subnet)
    expect(Date.parse(rewritten.expiresAt!)).to.be.at.least(Date.parse(a.expiresAt!))
    expect(await raw.get('/coreos.com/network/subnets/10.244.1.0-24').string()).to.contain('02:00:00:00:00:11')
    expect((await store.renewLease(a.subnet)).publicIP).to.equal('10.0.0.1')
    const c = await store.acquireLease(nc25, {publicIP: '10.0.0.3', ...vxlan('02:00:00:00:00:03'), random: () => 0})
    expect(c.subnet).to.equal('10.244.0.128/25')
    const d = await store.acquireLease(nc25, {publicIP: '10.0.0.4', preferredSubnet: '10.244.2.0/25', ...vxlan('02:00:00:00:00:04'), random: () => 0})
    expect(d.subnet).to.equal('10.244.3.0/25')
    expect((await store.listLeases()).leases.map(l => l.subnet)).to.include.members([a.subnet, b.subnet])
  })

  it('moves a lease flanneld keyed for dual stack to the IPv4 key, and never revokes an etcd lease other entries share', async () => {
    await configured()
    const store = await connect()
    const dir = '/coreos.com/network/subnets/'
    const value = (ip: string) => `{"PublicIP":"${ip}","PublicIPv6":"fd00::1","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"02:00:00:00:00:01"},"BackendV6Data":{"VNI":1,"VtepMAC":"02:00:00:00:00:02"}}`
    // entries written by hand: two hosts' on one etcd lease, as `etcdctl put --lease` allows
    const shared = await raw.lease(3600, {autoKeepAlive: false}).grant()
    await raw.put(`${dir}10.244.7.0-24&fc00:0:0:7::-64`).value(value('10.0.0.7')).lease(shared).exec()
    await raw.put(`${dir}10.244.8.0-24`).value(value('10.0.0.8')).lease(shared).exec()
    await raw.put(`${dir}10.244.9.0-24&fc00:0:0:9::-64`).value(value('10.0.0.9')).lease(shared).exec()

    const lease = await store.acquireLease(nc, {publicIP: '10.0.0.7', ...vxlan('02:00:00:00:00:07')})
    expect(lease.subnet).to.equal('10.244.7.0/24')
    const keys = async () => (await raw.getAll().prefix(dir).keys()).map((k) => k.slice(dir.length)).sort()
    expect(await keys()).to.deep.equal(['10.244.7.0-24', '10.244.8.0-24', '10.244.9.0-24&fc00:0:0:9::-64'])
    expect((await store.listLeases()).invalid).to.deep.equal([])
    // renewed in place from now on: still one entry
    await store.acquireLease(nc, {publicIP: '10.0.0.7', preferredSubnet: '10.244.7.0/24', heldSubnet: true, ...vxlan('02:00:00:00:00:07')})
    expect(await keys()).to.deep.equal(['10.244.7.0-24', '10.244.8.0-24', '10.244.9.0-24&fc00:0:0:9::-64'])

    expect(await store.releaseLease('10.244.9.0/24', '10.0.0.8')).to.equal(false)
    expect(await store.releaseLease('10.244.9.0/24', '10.0.0.9')).to.equal(true)
    expect(await store.releaseLease('10.244.7.0/24', '10.0.0.7')).to.equal(true)
    // the shared etcd lease still carries 10.244.8.0/24
    expect(await keys()).to.deep.equal(['10.244.8.0-24'])
  })

  it('lets only one of several racing hosts create a subnet (version-0 transaction)', async () => {
    await configured()
    const racers = await Promise.all([1, 2, 3, 4].map(() => connect()))
    // every racer draws the lowest free subnet: only the transaction keeps them apart
    const leases = await Promise.all(racers.map((s, i) =>
      s.acquireLease(nc, {publicIP: `10.0.0.${i + 1}`, ...vxlan(`02:00:00:00:00:0${i + 1}`), random: () => 0})))
    expect(new Set(leases.map((l) => l.subnet)).size).to.equal(4)
    expect((await racers[0].listLeases()).leases).to.have.length(4)
  })

  it('writes no lease while the network config is gone (an etcd restarted empty after the round read it): says so, and writes nothing', async () => {
    const store = await connect()
    // the round read the config before the store lost it; its pick, a new subnet or its own again, is not written
    await expectError(store.acquireLease(nc, {publicIP: '10.0.0.1', ...vxlan('02:00:00:00:00:01'), random: () => 0}), `the store etcd://${endpoint} holds no network config`)
    await configured()
    const held = await store.acquireLease(nc, {publicIP: '10.0.0.1', ...vxlan('02:00:00:00:00:01'), random: () => 0})
    await raw.delete().key('/coreos.com/network/config')
    await expectError(store.acquireLease(nc, {publicIP: '10.0.0.1', ...vxlan('02:00:00:00:00:02')}), 'holds no network config')
    const kvs = (await raw.getAll().prefix('/coreos.com/network/').exec()).kvs
    expect(kvs.map((k) => k.key.toString())).to.deep.equal([`/coreos.com/network/subnets/${held.subnet.replace('/', '-')}`])
    expect(kvs[0].value.toString()).to.contain('02:00:00:00:00:01')
  })

  it('reports malformed entries, lists reservations, honours a custom prefix', async () => {
    const store = await connect()
    await store.putConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}')
    const good = '{"PublicIP":"10.0.0.5","PublicIPv6":null,"BackendType":"host-gw"}'
    await raw.put('/coreos.com/network/subnets/10.244.5.0-24').value(good)
    await raw.put('/coreos.com/network/subnets/10.244.6.0-24').value('{oops')
    await raw.put('/coreos.com/network/subnets/10.9.0.0-24').value(good)
    const {leases, invalid} = await store.listLeases()
    expect(leases).to.deep.equal([{subnet: '10.244.5.0/24', publicIP: '10.0.0.5', publicIPv6: null, backendType: 'host-gw', backendData: {}}])
    expect(invalid.map((i) => i.key).sort()).to.deep.equal(['10.244.6.0-24', '10.9.0.0-24'])

    const other = await connect('/example.org/net/')
    expect(other.describe()).to.contain('prefix /example.org/net')
    await configured('/example.org/net/')
    await other.acquireLease(nc, {publicIP: '10.0.0.1', ...vxlan('02:00:00:00:00:01'), random: () => 0})
    expect(await raw.get('/example.org/net/subnets/10.244.1.0-24').string()).to.contain('10.0.0.1')
  })

  it('swaps a meta key only over the value it was given (one of two racing writers wins)', async () => {
    const store = await connect()
    expect(await store.swapMeta('migration', undefined, 'a')).to.equal(true)
    expect(await store.swapMeta('migration', undefined, 'b')).to.equal(false)
    const racing = await Promise.all([store.swapMeta('migration', 'a', 'run 1'), store.swapMeta('migration', 'a', 'run 2')])
    expect(racing.filter(Boolean)).to.have.length(1)
    expect(await raw.get('/coreos.com/network/flannelctl/migration').string()).to.equal(racing[0] ? 'run 1' : 'run 2')
  })

  it('watches the prefix', async () => {
    await configured()
    const store = await connect()
    const seen = new Promise<void>((resolve) => void store.watch(() => resolve()))
    await new Promise((r) => setTimeout(r, 200))
    await store.acquireLease(nc, {publicIP: '10.0.0.1', ...vxlan('02:00:00:00:00:01')})
    await Promise.race([seen, new Promise((_, reject) => setTimeout(() => reject(new Error('no watch event')), 10_000))])
  })

  it('opens through openStore, and names an unreachable endpoint', async () => {
    const opened = await openStore(`etcd://${endpoint}`)
    try {
      expect(opened.describe()).to.equal(`etcd://${endpoint}`)
      expect(await opened.getConfig()).to.equal(undefined)
    } finally {
      await opened.close()
    }
    const dead = await freePort()
    const e = await expectError(openStore(`etcd://127.0.0.1:${dead}`), `etcd at 127.0.0.1:${dead} is unreachable`)
    expect(e.hint).to.contain('etcd://HOST:2379')
  })

  it('takes flanneld\'s --etcd-endpoints form, http://HOST:PORT[,…]', async () => {
    const dead = await freePort()
    const opened = await openStore(`http://${endpoint}/,http://127.0.0.1:${dead}`)
    try {
      expect(opened.describe()).to.equal(`etcd://${endpoint},127.0.0.1:${dead}`)
      expect(await opened.getConfig()).to.equal(undefined)
    } finally {
      await opened.close()
    }
    await expectError(openStore(`https://${endpoint}`), 'etcd over TLS needs the CA certificate')
  })

  it('a hung member among the endpoints (takes the connection, never answers) does not fail calls: the one that answers serves them', async () => {
    const accepted: Socket[] = []
    const hung = createServer((socket) => accepted.push(socket))
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve))
    const hungEndpoint = `127.0.0.1:${(hung.address() as {port: number}).port}`
    try {
      // etcd3 picks a member at random: before, 3 of 4 such runs failed ("no answer within 0 s")
      for (let run = 0; run < 6; run++) {
        const store = await EtcdStore.connect({endpoints: run % 2 ? [hungEndpoint, endpoint] : [endpoint, hungEndpoint], connectTimeoutMs: 500, timeoutMs: 1000})
        try {
          for (let call = 0; call < 4; call++) {
            expect(await store.getConfig()).to.equal(undefined)
            expect((await store.listLeases()).leases).to.deep.equal([])
          }
        } finally {
          await store.close()
        }
      }
    } finally {
      for (const socket of accepted) socket.destroy()
      await new Promise((resolve) => hung.close(resolve))
    }
  })

  it('etcd with auth enabled: says it needs authentication, or which prefix it denies, with what to do', async () => {
    const etcdctl = (...args: string[]) => execFileAsync('etcdctl', ['--endpoints', endpoint, ...args], {env: {...process.env, ETCDCTL_API: '3'}})
    await etcdctl('user', 'add', 'root:rootpw')
    await etcdctl('user', 'grant-role', 'root', 'root')
    await etcdctl('user', 'add', 'flannel:flannelpw')
    await etcdctl('role', 'add', 'flannel')
    await etcdctl('role', 'grant-permission', 'flannel', '--prefix=true', 'readwrite', '/coreos.com/network/')
    await etcdctl('user', 'grant-role', 'flannel', 'flannel')
    await etcdctl('auth', 'enable')
    try {
      const store = await connect()
      const anonymous = await expectError(store.getConfig(), `etcd at ${endpoint} requires authentication: user name is empty`)
      expect(anonymous.exitCode).to.equal(2)
      expect(anonymous.hint).to.contain('--etcd-username and --etcd-password')
      expect(anonymous.hint).to.contain('client certificate whose CN is an etcd user')
      // flanneld's way in: a user and password, by flag or by flanneld's environment variables
      const asFlannel = await openStore(`etcd://${endpoint}`, {etcdUsername: 'flannel', etcdPassword: 'flannelpw'})
      try {
        expect(await asFlannel.getConfig()).to.equal(undefined)
      } finally {
        await asFlannel.close()
      }
      const wrong = await openStore(`etcd://${endpoint}`, {etcdUsername: 'flannel', etcdPassword: 'nope'}).then(s => s.getConfig().finally(() => s.close()))
        .then(() => undefined, (e: unknown) => e as FlannelctlError)
      expect(wrong?.message).to.contain(`did not accept etcd user flannel: authentication failed`)
      expect(wrong?.hint).to.contain('--etcd-password')
      await expectError(openStore(`etcd://${endpoint}`, {etcdUsername: 'flannel'}), 'etcd user flannel needs its password')
      const byFlag = await cli(['lease', 'list', '--store', `etcd://${endpoint}`, '--etcd-username', 'flannel', '--etcd-password', 'flannelpw'])
      expect(byFlag.exitCode, byFlag.stderr).to.equal(0)
      expect(byFlag.stdout).to.contain('no leases')
      const byEnv = await cli(['lease', 'list', '--store', `etcd://${endpoint}`], {env: {FLANNELD_ETCD_USERNAME: 'flannel', FLANNELD_ETCD_PASSWORD: 'flannelpw'}})
      expect(byEnv.exitCode, byEnv.stderr).to.equal(0)
      const noPassword = await cli(['lease', 'list', '--store', `etcd://${endpoint}`, '--etcd-username', 'flannel'])
      expect(noPassword.exitCode).to.equal(2)
      expect(noPassword.stderr).to.contain('Error: etcd user flannel needs its password')
      // a user whose role covers /coreos.com/network/ only, pointed at another prefix, through the
      // store's own error path
      const flannel = new Etcd3({hosts: `http://${endpoint}`, auth: {username: 'flannel', password: 'flannelpw'}})
      try {
        const denied = await expectError((store as unknown as {call: (fn: () => Promise<unknown>) => Promise<unknown>}).call(() => flannel.get('/other/config').string()), 'denied this client access to /coreos.com/network/: permission denied')
        expect(denied.hint).to.contain('etcdctl role grant-permission ROLE --prefix=true readwrite /coreos.com/network/')
      } finally {
        flannel.close()
      }
    } finally {
      await etcdctl('--user', 'root:rootpw', 'auth', 'disable')
    }
    // a user (recorded by init) logging in to an etcd whose authentication is off again: what to drop
    const stale = await cli(['lease', 'list', '--store', `etcd://${endpoint}`, '--etcd-username', 'flannel', '--etcd-password', 'flannelpw'])
    expect(stale.exitCode).to.equal(2)
    expect(stale.stderr).to.contain(`Error: etcd at ${endpoint} does not use authentication, and this client logs in as etcd user flannel`)
    expect(stale.stderr).to.contain('--etcd-username \'\'')
  })

  it('says so when the endpoint is an HTTP server but not etcd v3', async () => {
    const notEtcd = createHttp2Server((_req, res) => {
      res.statusCode = 404
      res.end('404 page not found')
    })
    await new Promise<void>((resolve) => notEtcd.listen(0, '127.0.0.1', resolve))
    const port = (notEtcd.address() as {port: number}).port
    try {
      const e = await expectError(openStore(`etcd://127.0.0.1:${port}`), `etcd at 127.0.0.1:${port} does not answer as an etcd v3 server`)
      expect(e.message).to.contain('404')
      expect(e.hint).to.contain('address and port')
    } finally {
      await new Promise((resolve) => notEtcd.close(resolve))
    }
  })
})
