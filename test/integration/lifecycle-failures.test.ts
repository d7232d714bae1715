/**
 * What a failed init or reset leaves behind. A refused init must leave no lease (peers would route
 * to a host that was never built, for 24 h) and no config; reset --release with a store it cannot
 * use must keep what a rerun needs; a file store on a path the file system refuses is one clear
 * error, fast. One namespace (life-…) with its own store per test.
 */
import {expect} from 'chai'
import {mkdir, readdir, readFile, rename, rm, writeFile} from 'node:fs/promises'
import {existsSync} from 'node:fs'
import {join} from 'node:path'
import {addNodeNamespace, cli, inNs, sh, uniqueLab, BIN, type CliResult} from '../helpers/cli.js'
import {tempDirHooks} from '../helpers/temp-dir.js'

describe('failed init and reset leave what a rerun needs, and nothing else (real namespace)', function () {
  this.timeout(60000)
  const ns = `life-${uniqueLab('f')}`
  let dir: string

  const store = () => join(dir, 'store')
  const nodeArgs = (storeSpec = `file:${store()}`) => ['--store', storeSpec, '--subnet-file', join(dir, 'subnet.env'),
    '--cni-conf-dir', join(dir, 'cni'), '--state-file', join(dir, 'node.json')]
  const init = (...extra: string[]) => cli(['init', '--iface', 'eth0', '--network', '10.244.0.0/16', '--yes', ...nodeArgs(), ...extra], {netns: ns})
  const leases = async () => {
    const subnets = join(store(), 'coreos.com', 'network', 'subnets')
    return existsSync(subnets) ? (await readdir(subnets)).filter(n => !n.startsWith('.')) : []
  }
  const links = async () => JSON.parse(await inNs(ns, 'ip', '-j', 'link', 'show')).map((l: {ifname: string}) => l.ifname).sort()

  function expectOneError(r: CliResult, exitCode: number, message: RegExp) {
    expect(r.exitCode, r.stderr + r.stdout).to.equal(exitCode)
    const lines = r.stderr.trim().split('\n')
    expect(lines[0]).to.match(/^Error: /)
    expect(lines[0]).to.match(message)
    expect(lines[1] ?? '').to.match(/^Hint: /)
    expect(r.stderr).to.not.match(/^\s+at /m)
    expect(r.stderr).to.not.contain('Code: E')
  }

  before(async () => {
    await addNodeNamespace(ns, '192.168.152.1/24')
  })
  after(async () => {
    await sh('ip', ['netns', 'del', ns])
  })
  tempDirHooks('life-', d => (dir = d), {each: true})

  describe('a refused init leaves no lease', () => {
    it('subnet.env written by another host: refused before the store is written, in a new store and in one in use', async () => {
      await writeFile(join(dir, 'subnet.env'), 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.77.1/24\nFLANNEL_MTU=1400\nFLANNEL_IPMASQ=false\n')
      expectOneError(await init(), 2, /subnet\.env was not written by flannelctl/)
      expect(existsSync(store()), 'a brand-new store stays unmade').to.equal(false)
      expect(existsSync(join(dir, 'node.json'))).to.equal(false)
      // a store another host already uses
      await mkdir(join(store(), 'coreos.com', 'network', 'subnets'), {recursive: true})
      await writeFile(join(store(), 'coreos.com', 'network', 'config'), '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}')
      await writeFile(join(store(), 'coreos.com', 'network', 'subnets', '10.244.5.0-24'), '{"PublicIP":"192.168.152.9","PublicIPv6":null,"BackendType":"host-gw"}')
      expectOneError(await init(), 2, /subnet\.env was not written by flannelctl/)
      expect(await leases()).to.deep.equal(['10.244.5.0-24'])
      expect(await links()).to.deep.equal(['eth0', 'eth0p', 'lo'])
    })

    it('a bridge of other software named cni0: refused, no lease, no config', async () => {
      await inNs(ns, 'ip', 'link', 'add', 'cni0', 'type', 'bridge')
      try {
        await inNs(ns, 'ip', 'addr', 'add', '172.31.0.1/24', 'dev', 'cni0')
        expectOneError(await init(), 2, /cni0 is a bridge of other software/)
        expect(existsSync(store())).to.equal(false)
        expect(existsSync(join(dir, 'node.json'))).to.equal(false)
        expect(JSON.parse(await inNs(ns, 'ip', '-j', 'addr', 'show', 'dev', 'cni0'))[0].addr_info.map((a: {local: string}) => a.local)).to.deep.equal(['172.31.0.1'])
      } finally {
        await inNs(ns, 'ip', 'link', 'del', 'cni0')
      }
    })

    it('a failure after the lease was taken (the kernel refuses flannel.1) releases it and says so; reset cleans up', async () => {
      // another vxlan device already has VNI 1 on port 8472: only the kernel says no, once the lease is taken
      await inNs(ns, 'ip', 'link', 'add', 'vx-other', 'type', 'vxlan', 'id', '1', 'dstport', '8472', 'dev', 'eth0')
      try {
        const r = await init()
        expect(r.exitCode, r.stderr).to.equal(3)
        // one line naming the program and why, not Node's error
        expect(r.stderr.split('\n').find(l => l.startsWith('Error: '))).to.match(/^Error: ip link add flannel\.1 .* failed on this host: Error: A VXLAN device with the specified VNI already exists\.$/)
        expect(r.stderr.replace(/\s+/g, ' ')).to.match(/the lease 10\.244\.\d+\.0\/24 this run had taken was released/)
        expect(await leases()).to.deep.equal([])
      } finally {
        await inNs(ns, 'ip', 'link', 'del', 'vx-other')
      }
      // what the run built is recorded, so reset removes it
      const reset = await cli(['reset', '--state-file', join(dir, 'node.json')], {netns: ns})
      expect(reset.exitCode, reset.stderr).to.equal(0)
      expect(await links()).to.deep.equal(['eth0', 'eth0p', 'lo'])
    })

    it('a conflist directory with a file in the way is refused before the lease is taken (exit 2, nothing built)', async () => {
      await writeFile(join(dir, 'cni'), 'a file where the CNI directory should be')
      expectOneError(await init(), 2, new RegExp(`^Error: --cni-conf-dir: ${join(dir, 'cni', '10-flannel.conflist')} cannot be written: not a directory: ${join(dir, 'cni')}$`))
      expect(await leases()).to.deep.equal([])
      expect(await links()).to.deep.equal(['eth0', 'eth0p', 'lo'])
    })

    it('a rerun of init on a built host keeps its lease when it then fails', async () => {
      const first = await init()
      expect(first.exitCode, first.stderr).to.equal(0)
      const [held] = await leases()
      // another program's conflist appears: the rerun refuses, the lease this host holds stays
      await writeFile(join(dir, 'cni', '10-flannel.conflist'), '{"cniVersion":"0.3.1","name":"other","plugins":[]}')
      expectOneError(await init(), 2, /10-flannel\.conflist was not written by flannelctl/)
      expect(await leases()).to.deep.equal([held])
      expect((await cli(['reset', '--release', '--state-file', join(dir, 'node.json')], {netns: ns})).exitCode).to.equal(0)
    })

    it('its subnet leased to another address while its own lease is alive: sync refuses, nothing changes; the entry deleted, it leases the subnet again', async () => {
      expect((await init()).exitCode).to.equal(0)
      const [key] = await leases()
      const file = join(store(), 'coreos.com', 'network', 'subnets', key)
      const value = await readFile(file, 'utf8')
      await writeFile(file, value.replace(/"PublicIP":"[^"]*"/, '"PublicIP":"192.168.152.99"'))
      const before = await inNs(ns, 'ip', '-br', 'addr')
      const r = await cli(['sync', ...nodeArgs()], {netns: ns})
      expectOneError(r, 2, new RegExp(`this host's subnet ${key.replace('-', '/').replace(/\./g, '\\.')} is leased to 192\\.168\\.152\\.99 .* cannot have expired yet`))
      expect(await inNs(ns, 'ip', '-br', 'addr')).to.equal(before)
      expect(await leases()).to.deep.equal([key])
      await rm(file)
      const again = await cli(['sync', ...nodeArgs()], {netns: ns})
      expect(again.exitCode, again.stderr).to.equal(0)
      expect(await leases()).to.deep.equal([key])
      expect(await inNs(ns, 'ip', '-br', 'addr')).to.equal(before)
      expect((await cli(['reset', '--release', '--state-file', join(dir, 'node.json')], {netns: ns})).exitCode).to.equal(0)
    })

    it('--dry-run says it would create the network config, and creates nothing', async () => {
      const r = await init('--dry-run')
      expect(r.exitCode, r.stderr).to.equal(0)
      expect(r.stderr).to.contain(`would create the network config in file:${store()}`)
      expect(r.stderr).to.not.contain('network config created')
      expect(existsSync(store())).to.equal(false)
    })
  })

  describe('sync pointed at another store than init recorded (--store, FLANNELCTL_STORE, FLANNELD_ETCD_ENDPOINTS)', () => {
    it('refuses a move that would change the subnet or leave the network, names both stores; a move that keeps the subnet warns', async () => {
      const first = await init()
      expect(first.exitCode, first.stderr).to.equal(0)
      const [held] = await leases()
      const subnet = held.replace('-', '/')
      const other = join(dir, 'other')
      const put = async (config: object, entries: Record<string, string> = {}) => {
        await rm(other, {recursive: true, force: true})
        await mkdir(join(other, 'coreos.com', 'network', 'subnets'), {recursive: true})
        await writeFile(join(other, 'coreos.com', 'network', 'config'), JSON.stringify(config))
        for (const [key, value] of Object.entries(entries)) await writeFile(join(other, 'coreos.com', 'network', 'subnets', key), value)
      }
      const sync = () => cli(['sync', '--state-file', join(dir, 'node.json')], {netns: ns, env: {FLANNELCTL_STORE: `file:${other}`}})
      const before = await readFile(join(dir, 'node.json'), 'utf8')
      // another network: flannelctl's own bridge is not "a bridge of other software"
      await put({Network: '10.99.0.0/16', Backend: {Type: 'vxlan'}})
      let r = await sync()
      expectOneError(r, 2, /is outside the network/)
      expect(r.stderr).to.contain(`Error: this host's subnet ${subnet} is outside the network 10.99.0.0/16 that file:${other} holds`)
      expect(r.stderr).to.contain(`pass --store file:${store()}`)
      // the same network, its subnet another host's there: its pods would be stranded
      await put({Network: '10.244.0.0/16', Backend: {Type: 'vxlan'}}, {[held]: '{"PublicIP":"192.168.152.9","PublicIPv6":null,"BackendType":"host-gw"}'})
      r = await sync()
      expectOneError(r, 2, /is not the store this host was set up with/)
      expect(r.stderr).to.contain(`Error: file:${other} is not the store this host was set up with (file:${store()}), and there its subnet ${subnet} is another host's`)
      expect(await readFile(join(dir, 'node.json'), 'utf8')).to.equal(before)
      expect(await readdir(join(other, 'coreos.com', 'network', 'subnets'))).to.deep.equal([held])
      // its subnet free there: it moves, and says what it leaves behind
      await put({Network: '10.244.0.0/16', Backend: {Type: 'vxlan'}})
      r = await sync()
      expect(r.exitCode, r.stderr).to.equal(0)
      expect(r.stdout.replace(/\s+/g, ' ')).to.contain(`warning: this host moved from file:${store()} to file:${other}, where it leased ${subnet} again; its lease in file:${store()} stays until it expires`)
      expect(r.stdout).to.not.contain('store lost')
      expect(JSON.parse(await readFile(join(dir, 'node.json'), 'utf8')).store).to.equal(`file:${other}`)
      expect((await cli(['reset', '--release', '--state-file', join(dir, 'node.json')], {netns: ns})).exitCode).to.equal(0)
    })
  })

  describe('reset --release with a store it cannot use', () => {
    it('changes nothing and keeps the state file; a rerun once the store is back releases and finishes', async () => {
      const first = await init()
      expect(first.exitCode, first.stderr).to.equal(0)
      const [held] = await leases()
      const built = await links()
      await rename(store(), `${store()}.away`)
      await writeFile(store(), 'not a directory')
      const reset = () => cli(['reset', '--release', '--state-file', join(dir, 'node.json')], {netns: ns})
      const r = await reset()
      expectOneError(r, 2, new RegExp(`cannot release the lease ${held.replace('-', '/').replace(/\./g, '\\.')}: store file:.* is not usable: not a directory`))
      expect(r.stderr).to.match(/^Hint: nothing on this host was changed and its state file is kept: run flannelctl reset --state-file \S+node\.json --release again/m)
      expect(existsSync(join(dir, 'node.json'))).to.equal(true)
      expect(await links()).to.deep.equal(built)
      await rm(store())
      await rename(`${store()}.away`, store())
      // the plan names the release too, and releases nothing
      const dry = await cli(['reset', '--release', '--dry-run', '--state-file', join(dir, 'node.json')], {netns: ns})
      expect(dry.exitCode, dry.stderr).to.equal(0)
      expect(dry.stdout).to.contain(`would release lease ${held.replace('-', '/')} in the store first`)
      expect(await leases()).to.deep.equal([held])
      expect(await links()).to.deep.equal(built)
      const again = await reset()
      expect(again.exitCode, again.stderr).to.equal(0)
      expect(again.stdout).to.contain(`released lease ${held.replace('-', '/')}`)
      expect(await leases()).to.deep.equal([])
      expect(existsSync(join(dir, 'node.json'))).to.equal(false)
      expect(await links()).to.deep.equal(['eth0', 'eth0p', 'lo'])
    })

    it('an etcd that does not answer: exit 3, nothing changed; status, lease list, peer list and a --dry-run, which only read, exit 2', async () => {
      const first = await init()
      expect(first.exitCode, first.stderr).to.equal(0)
      const statePath = join(dir, 'node.json')
      const rec = JSON.parse(await readFile(statePath, 'utf8'))
      // nothing listens on port 1 of the namespace's loopback
      await writeFile(statePath, JSON.stringify({...rec, store: 'etcd://127.0.0.1:1'}))
      const status = await cli(['status', '--state-file', statePath], {netns: ns})
      expectOneError(status, 2, /etcd at 127\.0\.0\.1:1 is unreachable/)
      const list = await cli(['lease', 'list', '--state-file', statePath], {netns: ns})
      expectOneError(list, 2, /etcd at 127\.0\.0\.1:1 is unreachable/)
      expectOneError(await cli(['peer', 'list', '--state-file', statePath], {netns: ns}), 2, /etcd at 127\.0\.0\.1:1 is unreachable/)
      // a dry run only reads too; nothing (no interface chosen for a plan) is said before the error
      expectOneError(await cli(['sync', '--dry-run', '--state-file', statePath], {netns: ns}), 2, /etcd at 127\.0\.0\.1:1 is unreachable/)
      // before: migrate's plan (--plan, --dry-run, or no --yes) exited 3, "run it again", though it only reads; --yes stays 3 (rerun resumes)
      for (const plan of [['--plan'], ['--dry-run'], []]) {
        expectOneError(await cli(['migrate', '--backend', 'host-gw', ...plan, '--state-file', statePath], {netns: ns}), 2, /etcd at 127\.0\.0\.1:1 is unreachable/)
      }
      expectOneError(await cli(['migrate', '--backend', 'host-gw', '--yes', '--state-file', statePath], {netns: ns}), 3, /etcd at 127\.0\.0\.1:1 is unreachable/)
      await inNs(ns, 'ip', 'route', 'add', 'default', 'via', '192.168.152.254', 'dev', 'eth0')
      try {
        const fresh = ['--subnet-file', join(dir, 'fresh.env'), '--cni-conf-dir', join(dir, 'fresh-cni'), '--state-file', join(dir, 'fresh.json')]
        const dryInit = (storeSpec: string) => cli(['init', '--network', '10.244.0.0/16', '--dry-run', '--store', storeSpec, ...fresh], {netns: ns})
        expectOneError(await dryInit('etcd://127.0.0.1:1'), 2, /etcd at 127\.0\.0\.1:1 is unreachable/)
        expectOneError(await dryInit('etcd://:x'), 2, /store "etcd:\/\/:x": ":x" is not HOST:PORT/)
        const usable = await dryInit(`file:${store()}`)
        expect(usable.exitCode, usable.stderr).to.equal(0)
        expect(usable.stderr).to.contain('using eth0 (192.168.152.1), the interface of the default route')
      } finally {
        await inNs(ns, 'ip', 'route', 'del', 'default')
      }
      const r = await cli(['reset', '--release', '--state-file', statePath], {netns: ns})
      expectOneError(r, 3, /^Error: cannot release the lease .*: etcd at 127\.0\.0\.1:1 is unreachable/)
      expect(r.stderr).to.contain('nothing on this host was changed and its state file is kept')
      expect(existsSync(statePath)).to.equal(true)
      expect(await links()).to.include('flannel.1')
      await writeFile(statePath, JSON.stringify(rec))
      // before: a --store that does not answer made status list the recorded store's leases as that store's, exit 1 ("sync would stop")
      for (const read of [['status'], ['peer', 'list']]) {
        expectOneError(await cli([...read, '--store', 'etcd://127.0.0.1:1', '--state-file', statePath], {netns: ns}), 2, /etcd at 127\.0\.0\.1:1 is unreachable/)
      }
      const again = await cli(['reset', '--release', '--state-file', statePath], {netns: ns})
      expect(again.exitCode, again.stderr).to.equal(0)
      expect(await leases()).to.deep.equal([])
    })
  })

  describe('reset takes what init recorded', () => {
    it('a store moved since init: reset --release --store NEW releases there; flags naming other objects are not used, and said so', async () => {
      const first = await init()
      expect(first.exitCode, first.stderr).to.equal(0)
      const [held] = await leases()
      const moved = join(dir, 'store-moved')
      await rename(store(), moved)
      const statePath = join(dir, 'node.json')
      const r = await cli(['reset', '--release', '--store', `file:${moved}`, '--bridge', 'br-other', '--state-file', statePath], {netns: ns})
      expect(r.exitCode, r.stderr).to.equal(0)
      expect(r.stdout).to.contain(`released lease ${held.replace('-', '/')}`)
      expect(await readdir(join(moved, 'coreos.com', 'network', 'subnets'))).to.deep.equal([])
      expect(r.stderr).to.contain(`warning: --bridge br-other is not used: reset removes what init recorded in ${statePath} (cni0)`)
      expect(await links()).to.deep.equal(['eth0', 'eth0p', 'lo'])
    })
  })

  describe('a file store on a path the file system refuses', () => {
    it('a regular file in the path: exit 2, one error naming the store and the reason', async () => {
      await writeFile(join(dir, 'afile'), '')
      const spec = `file:${join(dir, 'afile', 'store')}`
      const r = await cli(['init', '--iface', 'eth0', '--network', '10.244.0.0/16', '--yes', ...nodeArgs(spec)], {netns: ns})
      expectOneError(r, 2, new RegExp(`store ${spec.replace(/\./g, '\\.')} is not usable: not a directory`))
      const list = await cli(['lease', 'list', '--store', spec])
      expectOneError(list, 2, /is not usable: not a directory/)
    })

    it('a read-only mount: exit 2, "read-only file system"', async () => {
      const ro = join(dir, 'ro')
      await mkdir(ro)
      // a mount namespace of its own, so that the read-only mount never reaches the host's
      const r = await sh('unshare', ['-m', 'sh', '-c', 'mount -t tmpfs -o ro tmpfs "$1" && shift && exec "$@"', 'sh', ro,
        'ip', 'netns', 'exec', ns, process.execPath, BIN, 'init', '--iface', 'eth0', '--network', '10.244.0.0/16', '--yes', ...nodeArgs(`file:${join(ro, 'store')}`)])
      expectOneError(r, 2, /is not usable: read-only file system/)
      expect(await links()).to.deep.equal(['eth0', 'eth0p', 'lo'])
    })

    it('/proc: fails within seconds instead of looping in mkdir', async () => {
      // a run that loops is killed by timeout (exit 124) and never prints the error
      const r = await sh('timeout', ['20', 'ip', 'netns', 'exec', ns, process.execPath, BIN, 'init', '--iface', 'eth0', '--network', '10.244.0.0/16', '--yes',
        ...nodeArgs('file:/proc/life-xbstore')])
      expectOneError(r, 2, /store file:\/proc\/life-xbstore is not usable: cannot create a directory there: \/proc\/life-xbstore/)
      expect(await links()).to.deep.equal(['eth0', 'eth0p', 'lo'])
    })
  })
})
