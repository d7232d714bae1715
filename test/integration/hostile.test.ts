/**
 * Issue: hostile names, on a real host. Names from flags, the state file, the store and inventories
 * reach programs as argv (never through a shell) and, where they would enter a batch language
 * (`ip -batch`, `bridge -batch`, iptables-restore), are refused unless they are plain names. The
 * proof: names carrying `$(touch /tmp/fcr-pwned-…)` never create that file, and nothing else happens.
 * Also here: files are written with sane modes whatever the umask; --verbose never shows a TLS key.
 */
import {expect} from 'chai'
import {execa} from 'execa'
import {chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile} from 'node:fs/promises'
import {existsSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {BIN, addNodeNamespace, cli, uniqueLab} from '../helpers/cli.js'

const HOST_IP = '192.168.183.1'

async function sh(file: string, ...args: string[]): Promise<string> {
  const r = await execa(file, args, {reject: false})
  if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')}: ${r.stderr}`)
  return String(r.stdout)
}

describe('hostile names and file safety (real namespace)', function () {
  this.timeout(120000)
  const tag = uniqueLab('h')
  const ns = `fcr-${tag}`
  const pwned = `/tmp/fcr-pwned-${tag}`
  const inject = `$(touch ${pwned})`
  let dir: string
  const inNs = (file: string, ...args: string[]) => sh('ip', 'netns', 'exec', ns, file, ...args)
  const store = () => join(dir, 'store')
  const baseArgs = () => ['--store', `file:${store()}`, '--state-file', join(dir, 'node.json')]
  let subnetFile: string
  let cniDir: string
  const nodeArgs = () => [...baseArgs(), '--subnet-file', subnetFile, '--cni-conf-dir', cniDir]
  const run = (args: string[], env: Record<string, string> = {}) => cli(args, {netns: ns, env})

  async function expectRefused(r: {stdout: string; stderr: string; exitCode: number}, message: RegExp): Promise<void> {
    expect(r.exitCode, r.stderr + r.stdout).to.equal(2)
    expect(r.stderr.split('\n')[0]).to.match(/^Error: /)
    expect(r.stderr.split('\n')[0]).to.match(message)
    expect(r.stderr).to.match(/^Hint: /m)
    expect(r.stderr).to.not.match(/^\s+at /m)
    expect(existsSync(pwned), `${pwned} exists`).to.equal(false)
  }

  const links = async () => (JSON.parse(await inNs('ip', '-j', 'link', 'show')) as {ifname: string}[]).map(l => l.ifname).sort()

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fcr-hostile-'))
    // Paths with every character a shell would act on, all of them legal file names.
    subnetFile = join(dir, `run dir ${inject}`, '-subnet;env')
    cniDir = join(dir, `cni\n${inject}`, '--rf')
    await addNodeNamespace(ns, `${HOST_IP}/24`)
    // The kernel allows `$`, `(`, `;` in interface names; flannelctl will not take them.
    await sh('ip', '-n', ns, 'link', 'add', 'a$(id)', 'type', 'veth', 'peer', 'name', 'b;ls')
  })
  after(async () => {
    await execa('ip', ['netns', 'del', ns], {reject: false})
    await rm(dir, {recursive: true, force: true})
    await rm(pwned, {force: true})
  })

  it('refuses hostile bridge and interface names before doing anything', async () => {
    const before = await links()
    const init = (...extra: string[]) => run(['init', '--network', '10.244.0.0/16', ...nodeArgs(), ...extra])
    await expectRefused(await init('--iface', 'eth0', '--bridge', inject), /--bridge/)
    await expectRefused(await init('--iface', 'eth0', '--bridge', 'cni0\nlink del eth0'), /--bridge .*line break/)
    await expectRefused(await init('--iface', 'eth0', '--bridge=-rf'), /--bridge .*"-"/)
    await expectRefused(await init('--iface', 'eth0', '--bridge', 'cni0 type dummy'), /--bridge/)
    await expectRefused(await init('--iface', inject), /--iface/)
    await expectRefused(await init('--iface', 'a$(id)'), /--iface/)
    await expectRefused(await run(['init', '--network', '10.244.0.0/16', ...nodeArgs()], {FLANNELD_IFACE: 'b;ls'}), /--iface/)
    expect(await links()).to.deep.equal(before)
    expect(existsSync(join(dir, 'node.json'))).to.equal(false)
    expect(existsSync(store())).to.equal(false)
  })

  it('writes to paths full of shell syntax literally, with sane modes under umask 000', async () => {
    // umask 000 around the real CLI: every file and directory it makes must still be private or read-only to others.
    const r = await execa('ip', ['netns', 'exec', ns, 'sh', '-c', 'umask 000; exec "$@"', 'sh', process.execPath, BIN,
      'init', '--network', '10.244.0.0/16', '--iface', 'eth0', ...nodeArgs()], {reject: false, env: {NO_COLOR: '1'}})
    expect(r.exitCode, String(r.stderr)).to.equal(0)
    expect(existsSync(pwned)).to.equal(false)
    const mode = async (p: string) => ((await stat(p)).mode & 0o777).toString(8)
    expect(await readFile(subnetFile, 'utf8')).to.match(/^FLANNEL_NETWORK=10\.244\.0\.0\/16$/m)
    expect(await mode(subnetFile)).to.equal('644')
    expect(await mode(join(cniDir, '10-flannel.conflist'))).to.equal('644')
    expect(await mode(join(dir, 'node.json'))).to.equal('600')
    expect(await mode(join(dir, `run dir ${inject}`))).to.equal('755')
    expect(await mode(cniDir)).to.equal('755')
    const net = join(store(), 'coreos.com', 'network')
    expect(await mode(join(net, 'config'))).to.equal('644')
    for (const key of await readdir(join(net, 'subnets'))) expect(await mode(join(net, 'subnets', key))).to.equal('644')
    for (const d of [store(), net, join(net, 'subnets')]) expect(await mode(d), d).to.equal('755')
    // no temp files or locks left behind (the `/` in the injected text nests the directories)
    const top = (p: string) => p.slice(dir.length + 1).split('/')[0]
    expect((await readdir(dir)).sort()).to.deep.equal([top(cniDir), 'node.json', top(subnetFile), 'store'].sort())
    expect(await readdir(join(dir, `run dir ${inject}`))).to.deep.equal(['-subnet;env'])
  })

  it('a lease whose VtepMAC carries a command is reported and never reaches ip or bridge', async () => {
    const subnets = join(store(), 'coreos.com', 'network', 'subnets')
    await writeFile(join(subnets, '10.244.230.0-24'), JSON.stringify({PublicIP: '192.168.183.7', PublicIPv6: null, BackendType: 'vxlan', BackendData: {VNI: 1, VtepMAC: inject}}))
    await writeFile(join(subnets, '10.244.231.0-24'), JSON.stringify({PublicIP: '192.168.183.8', PublicIPv6: null, BackendType: 'vxlan', BackendData: {VNI: 1, VtepMAC: '02:00:00:00:00:08 dev flannel.1 nud permanent\nlink del eth0p\n#'}}))
    await writeFile(join(subnets, '10.244.232.0-24'), JSON.stringify({PublicIP: '192.168.183.9', PublicIPv6: null, BackendType: 'vxlan', BackendData: {VNI: 1, VtepMAC: '02:00:00:00:00:09'}}))
    const r = await run(['sync', ...nodeArgs()])
    expect(r.exitCode, r.stderr).to.equal(0)
    expect(r.stdout).to.match(/10\.244\.230\.0\/24 .*VtepMAC .* is not a MAC address/)
    // As a batch line this value would be a valid neighbour, then `link del eth0p`, then a comment.
    expect(r.stdout).to.match(/10\.244\.231\.0\/24 .*VtepMAC "02:00:00:00:00:08 dev flannel\.1 nud permanent\\nlink del/)
    expect(await links()).to.include.members(['eth0', 'eth0p'])
    const routes = await inNs('ip', 'route')
    expect(routes).to.contain('10.244.232.0/24 via 10.244.232.0 dev flannel.1 onlink')
    expect(routes).to.not.contain('10.244.230.0')
    expect(routes).to.not.contain('10.244.231.0')
    expect(await inNs('bridge', 'fdb', 'show', 'dev', 'flannel.1')).to.not.contain('192.168.183.8')
    expect(existsSync(pwned)).to.equal(false)
  })

  it('malformed store entries are reported and skipped by sync, never applied', async () => {
    const subnets = join(store(), 'coreos.com', 'network', 'subnets')
    const value = (ip: string, mac: string) => JSON.stringify({PublicIP: ip, PublicIPv6: null, BackendType: 'vxlan', BackendData: {VNI: 1, VtepMAC: mac}})
    const entries: Record<string, string> = {
      '10.244.240.0-24': '{"PublicIP":"192.168.183.20",',
      '10.244.241.0-24': '{"PublicIP":"192.168.183.21; reboot"}',
      '10.245.1.0-24': value('192.168.183.22', '02:00:00:00:00:22'),
      '10.244.224.0-20': value('192.168.183.23', '02:00:00:00:00:23'),
      'README': 'hello',
      '10.244.242.7-24': value('192.168.183.24', '02:00:00:00:00:24'),
    }
    for (const [key, v] of Object.entries(entries)) await writeFile(join(subnets, key), v)
    const before = await inNs('ip', 'route')
    const r = await run(['sync', ...nodeArgs()])
    expect(r.exitCode, r.stderr).to.equal(0)
    for (const [key, reason] of [['10.244.240.0-24', 'not JSON'], ['10.244.241.0-24', 'PublicIP is not an IPv4 address'],
      ['10.245.1.0-24', 'outside the network'], ['10.244.224.0-20', 'overlaps'], ['README', 'key is not a subnet'], ['10.244.242.7-24', 'key is not a subnet']]) {
      expect(r.stderr).to.match(new RegExp(`skipped store entry ${key.replace(/\./g, '\\.')}: .*${reason}`))
    }
    expect(await inNs('ip', 'route')).to.equal(before)
    expect(await inNs('ip', 'neigh', 'show', 'dev', 'flannel.1')).to.not.match(/02:00:00:00:00:2[234]/)
    for (const key of Object.keys(entries)) await rm(join(subnets, key))
  })

  it('a peer\'s entry damaged in place keeps what the host has for it (flanneld only skips it); deleted, it goes', async () => {
    const subnets = join(store(), 'coreos.com', 'network', 'subnets')
    const entry = join(subnets, '10.244.250.0-24')
    await writeFile(entry, JSON.stringify({PublicIP: '192.168.183.50', PublicIPv6: null, BackendType: 'vxlan', BackendData: {VNI: 1, VtepMAC: '02:00:00:00:00:50'}}))
    expect((await run(['sync', ...nodeArgs()])).exitCode).to.equal(0)
    const peerTables = async () => [
      (await inNs('ip', 'route')).split('\n').filter(l => l.startsWith('10.244.250.0/24')),
      (await inNs('ip', 'neigh', 'show', 'dev', 'flannel.1')).split('\n').filter(l => l.includes('02:00:00:00:00:50')),
      (await inNs('bridge', 'fdb', 'show', 'dev', 'flannel.1')).split('\n').filter(l => l.includes('02:00:00:00:00:50')),
    ]
    const built = await peerTables()
    expect(built.map(lines => lines.length)).to.deep.equal([1, 1, 1])
    await writeFile(entry, '{"PublicIP":"192.168.183.50",')
    const damaged = await run(['sync', ...nodeArgs()])
    expect(damaged.exitCode, damaged.stderr).to.equal(0)
    expect(damaged.stderr).to.contain('skipped store entry 10.244.250.0-24: ')
    expect(damaged.stderr).to.contain('what this host has for 10.244.250.0/24 is kept until the entry is repaired or deleted')
    expect(await peerTables()).to.deep.equal(built)
    await rm(entry)
    expect((await run(['sync', ...nodeArgs()])).exitCode).to.equal(0)
    expect((await peerTables()).map(lines => lines.length)).to.deep.equal([0, 0, 0])
  })

  it('a stray entry inside this host\'s own subnet stops sync instead of moving the host or hijacking its pods', async () => {
    const own = JSON.parse(await readFile(join(dir, 'node.json'), 'utf8')).subnet as string
    const stray = own.replace(/0\/24$/, '128-25')
    const subnets = join(store(), 'coreos.com', 'network', 'subnets')
    await writeFile(join(subnets, stray), JSON.stringify({PublicIP: '192.168.183.30', PublicIPv6: null, BackendType: 'host-gw'}))
    const before = await inNs('ip', 'route')
    const r = await run(['sync', ...nodeArgs()])
    expect(r.exitCode, r.stderr).to.equal(2)
    expect(r.stderr).to.match(new RegExp(`^Error: this host's lease ${own.replace(/\./g, '\\.')} is unusable .*overlaps`, 'm'))
    expect(await inNs('ip', 'route')).to.equal(before)
    expect(JSON.parse(await readFile(join(dir, 'node.json'), 'utf8')).subnet).to.equal(own)
    await rm(join(subnets, stray))
    const fixed = await run(['sync', ...nodeArgs(), '--json'])
    expect(fixed.exitCode, fixed.stderr).to.equal(0)
    expect(JSON.parse(fixed.stdout).lease.subnet).to.equal(own)
  })

  it('a state file edited to carry commands is refused by sync, reset and peer add', async () => {
    const path = join(dir, 'node.json')
    const good = await readFile(path, 'utf8')
    const edits: Record<string, unknown>[] = [
      {bridge: 'cni0\nlink del eth0'}, {iface: inject}, {mtu: '1450\nlink del eth0'}, {vni: '1 dev eth0'},
      {ownedRoutes: ['10.244.9.0/24\nlink del eth0']}, {staticPeers: [{subnet: '10.244.9.0/24', publicIP: '192.168.183.5', vtepMAC: inject}]},
    ]
    try {
      const commands = [['sync'], ['reset'], ['peer', 'add', '--subnet', '10.244.240.0/24', '--public-ip', '192.168.183.6']]
      for (const [i, edit] of edits.entries()) {
        await writeFile(path, JSON.stringify({...JSON.parse(good), ...edit}))
        await chmod(path, 0o600)
        for (const cmd of i === 0 ? commands : [commands[i % commands.length]]) {
          await expectRefused(await run([...cmd, ...nodeArgs()]), /is not a node record flannelctl can use/)
        }
      }
    } finally {
      await writeFile(path, good)
    }
    expect(await links()).to.include.members(['eth0', 'cni0', 'flannel.1'])
  })

  it('static peers, exec targets and inventories with commands in them are refused', async () => {
    await expectRefused(await run(['peer', 'add', '--subnet', '10.244.240.0/24', '--public-ip', '192.168.183.6', '--vtep-mac', inject, ...nodeArgs()]), /--vtep-mac/)
    await expectRefused(await run(['peer', 'add', '--subnet', `10.244.240.0/24;${inject}`, '--public-ip', '192.168.183.6', ...nodeArgs()]), /--subnet/)
    const inventories = [
      `nodes:\n  - name: "${inject}"\n    exec: local\n`,
      `nodes:\n  - name: n1\n    exec: "netns:${inject}"\n`,
      `nodes:\n  - name: n1\n    exec: "ssh:root@host;touch ${pwned}"\n`,
      `nodes:\n  - name: n1\n    exec: "ssh:-oProxyCommand=touch ${pwned}"\n`,
      `nodes:\n  - name: "-rf"\n    exec: local\n`,
      `nodes:\n  - name: n1\n    exec: local\npods:\n  - name: p1\n    ip: 10.244.1.2\n    node: n1\n    netns: "p1 ${inject}"\n`,
    ]
    for (const [i, text] of inventories.entries()) {
      const file = join(dir, `inventory-${i}.yaml`)
      await writeFile(file, text)
      await expectRefused(await cli(['migrate', '--inventory', file, '--backend', 'host-gw', ...baseArgs()]), /inventory/)
    }
  })

  it('reset removes the literally named files it wrote, and still nothing ran', async () => {
    const r = await run(['reset', ...nodeArgs()])
    expect(r.exitCode, r.stderr).to.equal(0)
    expect(existsSync(subnetFile)).to.equal(false)
    expect(existsSync(join(cniDir, '10-flannel.conflist'))).to.equal(false)
    expect(existsSync(pwned)).to.equal(false)
  })

  it('--verbose and errors show TLS key paths, never their contents', async () => {
    const secret = 'FCR-SECRET-KEY-MATERIAL-9f3a'
    const tls = join(dir, 'tls')
    await mkdir(tls)
    for (const f of ['ca.pem', 'cert.pem', 'key.pem']) await writeFile(join(tls, f), `-----BEGIN PRIVATE KEY-----\n${secret}\n-----END PRIVATE KEY-----\n`, {mode: 0o600})
    const tlsArgs = ['--etcd-cafile', join(tls, 'ca.pem'), '--etcd-certfile', join(tls, 'cert.pem'), '--etcd-keyfile', join(tls, 'key.pem')]
    const runs = [
      await run(['init', '--network', '10.244.0.0/16', '--iface', 'eth0', '--verbose', '--dry-run', '--store', 'etcds://127.0.0.1:2', ...tlsArgs,
        '--state-file', join(dir, 'tls-node.json')]),
      await run(['lease', 'list', '--verbose', '--store', 'etcds://127.0.0.1:2', ...tlsArgs]),
      await run(['init', '--network', '10.244.0.0/16', '--iface', 'eth0', '--verbose', '--dry-run', '--store', 'etcds://127.0.0.1:2',
        '--etcd-cafile', join(tls, 'missing.pem'), '--state-file', join(dir, 'tls-node.json')]),
    ]
    for (const r of runs) {
      expect(r.exitCode, r.stderr).to.not.equal(0)
      expect(r.stdout + r.stderr).to.not.contain(secret)
      expect(r.stdout + r.stderr).to.not.contain('BEGIN PRIVATE KEY')
    }
    expect(runs[2].stderr).to.contain(join(tls, 'missing.pem'))
  })
})
