/**
 * Issue: ownership. A host that already runs other network software — docker (docker0 with a port,
 * a foreign fdb entry on it, DOCKER chains, FORWARD policy DROP), kube-proxy (KUBE-* chains), a
 * user's own FORWARD and POSTROUTING rules, a foreign route inside the pod network and one outside
 * it, a permanent neighbour — goes through init → sync → migrate → reset. After every step the
 * foreign part of `iptables-save`, `ip route`, `ip neigh`, `bridge fdb`, `ip link` and `ip addr`
 * is byte-identical to what it was; after reset nothing of flannelctl's is left either.
 */
import {expect} from 'chai'
import {execa} from 'execa'
import {mkdtemp, mkdir, readFile, rm, writeFile} from 'node:fs/promises'
import {existsSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {BIN, addNodeNamespace, cli, uniqueLab} from '../helpers/cli.js'
import {comparableIptables} from '../helpers/iptables.js'

const HOST_IP = '192.168.182.1'
const NETWORK = '10.244.0.0/16'

async function sh(file: string, ...args: string[]): Promise<string> {
  const r = await execa(file, args, {reject: false})
  if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')}: ${r.stderr}`)
  return String(r.stdout)
}

/** docker's and kube-proxy's rules as they write them, plus a user's. */
const FOREIGN_RULES = `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-SERVICES - [0:0]
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A FORWARD -s 203.0.113.0/24 -j DROP
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SERVICES - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A POSTROUTING -s 10.99.0.0/16 -o eth0 -j SNAT --to-source ${HOST_IP}
-A DOCKER -i docker0 -j RETURN
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
COMMIT
`

function lease(publicIP: string, mac?: string): string {
  return JSON.stringify({PublicIP: publicIP, PublicIPv6: null, BackendType: mac ? 'vxlan' : 'host-gw', ...(mac ? {BackendData: {VNI: 1, VtepMAC: mac}} : {})})
}

describe('foreign state survives init → sync → migrate → reset (real kernel)', function () {
  this.timeout(120000)
  const ns = `fcr-${uniqueLab('f')}`
  let dir: string
  const subnetsDir = () => join(dir, 'store', 'coreos.com', 'network', 'subnets')
  const nodeArgs = () => ['--store', `file:${join(dir, 'store')}`, '--subnet-file', join(dir, 'subnet.env'),
    '--cni-conf-dir', join(dir, 'cni'), '--state-file', join(dir, 'node.json')]
  const run = async (...args: string[]) => {
    const r = await cli([...args, ...nodeArgs()], {netns: ns})
    expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).to.equal(0)
    return r
  }
  const inNs = (file: string, ...args: string[]) => sh('ip', 'netns', 'exec', ns, file, ...args)
  /** Peer subnets in the store: routes to them are flannelctl's. */
  const peerSubnets = new Set<string>()

  /** What other software owns, as its own tools print it; flannelctl's devices, chains and peer routes left out. */
  async function foreignView(): Promise<Record<string, string[]>> {
    const ours = /\b(cni0|flannel\.1)\b|FLANNEL-|flanneld|flannelctl/
    const peerRoute = (l: string) => [...peerSubnets].some(s => l.startsWith(`${s} `))
    const lines = (text: string) => text.split('\n').filter(l => l.trim() !== '' && !ours.test(l))
    const [save, routes, neigh, fdb, links, addrs, sysctls] = await Promise.all([
      inNs('iptables-save'), inNs('ip', 'route', 'show', 'table', 'all'), inNs('ip', 'neigh', 'show'),
      inNs('bridge', 'fdb', 'show'), inNs('ip', '-o', 'link', 'show'), inNs('ip', '-o', 'addr', 'show'),
      inNs('sysctl', 'net.ipv4.conf.all.rp_filter', 'net.ipv4.conf.eth0.rp_filter', 'net.ipv4.conf.docker0.rp_filter',
        'net.ipv4.conf.all.forwarding', 'net.ipv4.conf.docker0.forwarding'),
    ])
    return {
      iptables: comparableIptables(save, ours),
      routes: lines(routes).filter(l => !peerRoute(l)),
      neigh: lines(neigh),
      fdb: lines(fdb),
      links: lines(links),
      addrs: lines(addrs),
      sysctls: lines(sysctls),
    }
  }

  async function ownedLeft(): Promise<string[]> {
    const left: string[] = []
    if (/FLANNEL|flanneld/.test(await inNs('iptables-save'))) left.push('iptables')
    if (/\b(cni0|flannel\.1)\b/.test(await inNs('ip', '-o', 'link', 'show'))) left.push('links')
    const routes = await inNs('ip', 'route', 'show')
    for (const s of peerSubnets) if (routes.includes(`${s} `)) left.push(`route ${s}`)
    return left
  }

  let baseline: Record<string, string[]>

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fcr-foreign-'))
    await sh('ip', 'netns', 'add', ns)
    // No IPv6: its addresses go from tentative to valid on their own and would make the views drift.
    await inNs('sysctl', '-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1', 'net.ipv6.conf.all.disable_ipv6=1')
    const ip = (...args: string[]) => sh('ip', '-n', ns, ...args)
    await ip('link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0p')
    await ip('addr', 'add', `${HOST_IP}/24`, 'dev', 'eth0')
    for (const d of ['lo', 'eth0', 'eth0p']) await ip('link', 'set', d, 'up')
    // docker: its bridge with one container port and a static fdb entry on that port
    await ip('link', 'add', 'docker0', 'type', 'bridge')
    await ip('addr', 'add', '172.17.0.1/16', 'dev', 'docker0')
    await ip('link', 'add', 'vethd0', 'type', 'veth', 'peer', 'name', 'vethd1')
    await ip('link', 'set', 'vethd0', 'master', 'docker0')
    for (const d of ['docker0', 'vethd0', 'vethd1']) await ip('link', 'set', d, 'up')
    await sh('bridge', '-n', ns, 'fdb', 'add', '02:42:ac:11:00:99', 'dev', 'vethd0', 'master', 'static')
    // routes inside and outside the pod network, a permanent neighbour
    await ip('route', 'add', '10.244.250.0/24', 'via', '192.168.182.254', 'dev', 'eth0')
    await ip('route', 'add', '198.51.100.0/24', 'via', '192.168.182.254', 'dev', 'eth0')
    await ip('route', 'add', 'blackhole', '10.244.251.0/24')
    await ip('neigh', 'add', '192.168.182.200', 'lladdr', '02:00:00:00:00:c8', 'dev', 'eth0', 'nud', 'permanent')
    await execa('ip', ['netns', 'exec', ns, 'iptables-restore'], {input: FOREIGN_RULES})
    // docker switches forwarding on itself (and with it every device's conf/*/forwarding)
    await inNs('sysctl', '-q', '-w', 'net.ipv4.conf.all.rp_filter=1', 'net.ipv4.conf.eth0.rp_filter=1', 'net.ipv4.ip_forward=1')

    const net = join(dir, 'store', 'coreos.com', 'network')
    await mkdir(join(net, 'subnets'), {recursive: true})
    await writeFile(join(net, 'config'), JSON.stringify({Network: NETWORK, Backend: {Type: 'vxlan'}}))
    await writeFile(join(subnetsDir(), '10.244.200.0-24'), lease('192.168.182.2', '02:00:00:00:00:02'))
    await writeFile(join(subnetsDir(), '10.244.201.0-24'), lease('192.168.182.3'))
    peerSubnets.add('10.244.200.0/24').add('10.244.201.0/24')

    baseline = await foreignView()
    await new Promise(resolve => setTimeout(resolve, 300))
    expect(await foreignView(), 'the views are stable on their own').to.deep.equal(baseline)
    // the filters keep what is compared
    const has = (list: string[], text: string) => expect(list.some(l => l.includes(text)), `${text} in ${list.join('\n')}`).to.equal(true)
    has(baseline.routes, '10.244.250.0/24 via 192.168.182.254 dev eth0')
    has(baseline.routes, '198.51.100.0/24 via 192.168.182.254 dev eth0')
    has(baseline.routes, 'blackhole 10.244.251.0/24')
    has(baseline.neigh, '192.168.182.200 dev eth0 lladdr 02:00:00:00:00:c8 PERMANENT')
    has(baseline.fdb, '02:42:ac:11:00:99 dev vethd0 master docker0 static')
    has(baseline.links, 'docker0:')
    has(baseline.addrs, '172.17.0.1/16')
    has(baseline.iptables, ':FORWARD DROP')
    expect(baseline.iptables.filter(l => l.startsWith('-A'))).to.have.length(FOREIGN_RULES.split('\n').filter(l => l.startsWith('-A')).length)
  })
  after(async () => {
    await execa('ip', ['netns', 'del', ns], {reject: false})
    await rm(dir, {recursive: true, force: true})
  })

  it('init keeps every foreign object', async () => {
    await run('init', '--network', NETWORK, '--iface', 'eth0')
    expect(await foreignView()).to.deep.equal(baseline)
    expect(await inNs('ip', 'route')).to.contain('10.244.200.0/24 via 10.244.200.0 dev flannel.1 onlink')
  })

  it('sync with peers gone and new keeps every foreign object, the foreign pod-network route included', async () => {
    await rm(join(subnetsDir(), '10.244.200.0-24'))
    await writeFile(join(subnetsDir(), '10.244.202.0-24'), lease('192.168.182.4', '02:00:00:00:00:04'))
    peerSubnets.add('10.244.202.0/24')
    await run('sync')
    expect(await foreignView()).to.deep.equal(baseline)
    expect(await inNs('ip', 'route')).to.not.contain('10.244.200.0/24')
  })

  it('migrate to host-gw keeps every foreign object', async () => {
    await run('migrate', '--backend', 'host-gw', '--yes')
    expect(await foreignView()).to.deep.equal(baseline)
    expect(await inNs('ip', 'route')).to.contain('10.244.202.0/24 via 192.168.182.4 dev eth0')
  })

  it('reset removes all of flannelctl\'s and nothing else', async () => {
    await run('reset')
    expect(await foreignView()).to.deep.equal(baseline)
    expect(await ownedLeft()).to.deep.equal([])
  })
})

describe('foreign files and the iptables flavour (real kernel)', function () {
  this.timeout(120000)
  const tag = uniqueLab('g')
  let dir: string
  const namespaces: string[] = []

  async function host(name: string): Promise<{ns: string; dir: string; args: string[]; run: (...a: string[]) => ReturnType<typeof cli>}> {
    const ns = `fcr-${tag}-${name}`
    namespaces.push(ns)
    await addNodeNamespace(ns, `${HOST_IP}/24`)
    const d = join(dir, name)
    await mkdir(join(d, 'cni'), {recursive: true})
    const args = ['--store', `file:${join(d, 'store')}`, '--subnet-file', join(d, 'subnet.env'), '--cni-conf-dir', join(d, 'cni'),
      '--state-file', join(d, 'node.json')]
    return {ns, dir: d, args, run: (...a: string[]) => cli([...a, ...args], {netns: ns})}
  }
  const linkNames = async (ns: string) => (await sh('ip', '-n', ns, '-o', 'link', 'show')).split('\n').map(l => l.split(': ')[1]?.split('@')[0]).sort()

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fcr-files-'))
  })
  after(async () => {
    for (const ns of namespaces) await execa('ip', ['netns', 'del', ns], {reject: false})
    await rm(dir, {recursive: true, force: true})
  })

  it('a conflist someone else wrote stops init until --force; nothing is changed meanwhile', async () => {
    const h = await host('c')
    const theirs = '{"name":"k8s-pod-network","cniVersion":"0.3.1","plugins":[{"type":"calico"}]}\n'
    const conflist = join(h.dir, 'cni', '10-flannel.conflist')
    await writeFile(conflist, theirs)
    const refused = await h.run('init', '--network', NETWORK, '--iface', 'eth0')
    expect(refused.exitCode, refused.stderr).to.equal(2)
    expect(refused.stderr).to.match(/^Error: .*10-flannel\.conflist was not written by flannelctl/m)
    expect(refused.stderr).to.match(/^Hint: .*--force/m)
    expect(await readFile(conflist, 'utf8')).to.equal(theirs)
    expect(await linkNames(h.ns)).to.deep.equal(['eth0', 'eth0p', 'lo'])
    expect(await sh('ip', 'netns', 'exec', h.ns, 'iptables-save')).to.not.contain('FLANNEL')
    expect(existsSync(join(h.dir, 'node.json'))).to.equal(false)
    expect(existsSync(join(h.dir, 'subnet.env'))).to.equal(false)

    const forced = await h.run('init', '--network', NETWORK, '--iface', 'eth0', '--force')
    expect(forced.exitCode, forced.stderr).to.equal(0)
    expect(JSON.parse(await readFile(conflist, 'utf8')).name).to.equal('cbr0')
  })

  it('its own files are recognised by content: a changed lease rewrites them, a hand edit needs --force, reset keeps a foreign one', async () => {
    const h = await host('o')
    const env = join(h.dir, 'subnet.env')
    // flanneld's subnet.env for this host: exactly what flannelctl would write, so it is taken over as it is
    const flanneld = 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.77.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n'
    await writeFile(env, flanneld)
    const init = await h.run('init', '--network', NETWORK, '--iface', 'eth0', '--json')
    expect(init.exitCode, init.stderr).to.equal(0)
    expect(JSON.parse(init.stdout).lease.subnet).to.equal('10.244.77.0/24')
    expect(JSON.parse(init.stdout).changes.join('\n')).to.not.contain('subnet.env')

    // Another host takes the subnet while this host's lease cannot have expired: refused, nothing changed,
    // and a subnet.env copied from that host says whose it is.
    const subnets = join(h.dir, 'store', 'coreos.com', 'network', 'subnets')
    await writeFile(join(subnets, '10.244.77.0-24'), lease('192.168.182.9', '02:00:00:00:00:09'))
    const claimed = await h.run('sync')
    expect(claimed.exitCode).to.equal(2)
    expect(claimed.stderr).to.match(/^Error: this host's subnet 10\.244\.77\.0\/24 is leased to 192\.168\.182\.9 .*cannot have expired yet/m)
    // The store lost this host's lease a day ago (it expired) and another host took the subnet: the
    // new lease rewrites both files, no --force needed.
    const record = JSON.parse(await readFile(join(h.dir, 'node.json'), 'utf8'))
    await writeFile(join(h.dir, 'node.json'), JSON.stringify({...record, lastSync: new Date(Date.now() - 25 * 3600_000).toISOString()}))
    const moved = await h.run('sync', '--json')
    expect(moved.exitCode, moved.stderr).to.equal(0)
    const subnet = JSON.parse(moved.stdout).lease.subnet as string
    expect(subnet).to.not.equal('10.244.77.0/24')
    expect(await readFile(env, 'utf8')).to.contain(`FLANNEL_SUBNET=${subnet.replace(/0\/24$/, '1/24')}`)

    // A hand edit makes the file someone else's.
    await writeFile(env, (await readFile(env, 'utf8')).replace('FLANNEL_MTU=1450', 'FLANNEL_MTU=1400'))
    const edited = await h.run('sync')
    expect(edited.exitCode).to.equal(2)
    expect(edited.stderr).to.match(/subnet\.env was not written by flannelctl for this host/)
    expect(edited.stderr).to.not.contain('copied here')
    // the other host's subnet.env copied in: said whose it is
    const own = await readFile(env, 'utf8')
    await writeFile(env, flanneld.replace('FLANNEL_MTU=1450', 'FLANNEL_MTU=1400'))
    const copied = await h.run('sync')
    expect(copied.exitCode).to.equal(2)
    expect(copied.stderr).to.contain('it is for 10.244.77.0/24, which').and.contain('leases to 192.168.182.9: that host\'s file, copied here?')
    await writeFile(env, own)
    expect(await readFile(env, 'utf8')).to.contain('FLANNEL_MTU=1400')
    const forced = await h.run('sync', '--force')
    expect(forced.exitCode, forced.stderr).to.equal(0)
    expect(await readFile(env, 'utf8')).to.contain('FLANNEL_MTU=1450')

    const conflist = join(h.dir, 'cni', '10-flannel.conflist')
    await writeFile(conflist, '{"name":"someone-else"}\n')
    const reset = await h.run('reset')
    expect(reset.exitCode, reset.stderr).to.equal(0)
    expect(reset.stderr).to.contain(`kept ${conflist}`)
    expect(await readFile(conflist, 'utf8')).to.equal('{"name":"someone-else"}\n')
    expect(existsSync(env)).to.equal(false)
  })

  it('flanneld\'s subnet.env for this host on a dual-stack network is taken over too, without its IPv6 lines', async () => {
    const h = await host('d')
    const env = join(h.dir, 'subnet.env')
    await writeFile(env, 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.78.1/24\nFLANNEL_IPV6_NETWORK=fc00::/48\nFLANNEL_IPV6_SUBNET=fc00:0:0:4e::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n')
    const init = await h.run('init', '--network', NETWORK, '--iface', 'eth0', '--json')
    expect(init.exitCode, init.stderr).to.equal(0)
    expect(JSON.parse(init.stdout).lease.subnet).to.equal('10.244.78.0/24')
    expect(await readFile(env, 'utf8')).to.equal('FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.78.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n')
    expect((await h.run('reset')).exitCode).to.equal(0)
  })

  it('rules living in iptables-legacy: flannelctl reads and writes legacy, says so in status, and reset leaves the user\'s rule', async () => {
    const h = await host('l')
    const legacy = (...a: string[]) => sh('ip', 'netns', 'exec', h.ns, ...a)
    await legacy('iptables-legacy', '-A', 'FORWARD', '-s', '203.0.113.0/24', '-j', 'DROP')
    const init = await h.run('init', '--network', NETWORK, '--iface', 'eth0')
    expect(init.exitCode, init.stderr).to.equal(0)
    expect(await legacy('iptables-legacy-save')).to.contain('-A FLANNEL-FWD -s 10.244.0.0/16')
    expect(await legacy('iptables-nft-save')).to.not.contain('FLANNEL')
    const status = JSON.parse((await h.run('status', '--json')).stdout)
    expect(status.iptables).to.deep.include({flavour: 'legacy'})
    expect(status.iptables.chains).to.deep.equal({'nat/FLANNEL-POSTRTG': true, 'filter/FLANNEL-FWD': true})
    const again = await h.run('sync', '--json')
    expect(JSON.parse(again.stdout).upToDate, again.stdout).to.equal(true)
    expect((await h.run('reset')).exitCode).to.equal(0)
    const save = await legacy('iptables-legacy-save')
    expect(save).to.not.contain('FLANNEL')
    expect(save).to.contain('-A FORWARD -s 203.0.113.0/24 -j DROP')
  })

  it('a host with no rules uses the flavour iptables -V names; a host with no iptables at all gets a clear error', async () => {
    const h = await host('n')
    const init = await h.run('init', '--network', NETWORK, '--iface', 'eth0')
    expect(init.exitCode, init.stderr).to.equal(0)
    const version = await sh('iptables', '-V')
    const expected = version.includes('nf_tables') ? 'nft' : 'legacy'
    expect(JSON.parse((await h.run('status', '--json')).stdout).iptables.flavour).to.equal(expected)
    expect((await h.run('reset')).exitCode).to.equal(0)

    // Everything init runs, except any iptables program.
    const bin = join(dir, 'bin-no-iptables')
    await mkdir(bin)
    for (const tool of ['ip', 'bridge', 'grep', 'cat', 'sh', 'sysctl', 'mkdir', 'chmod', 'mv', 'rm']) {
      await sh('ln', '-s', (await sh('sh', '-c', `command -v ${tool}`)).trim(), join(bin, tool))
    }
    const r = await execa('ip', ['netns', 'exec', h.ns, '/usr/bin/env', `PATH=${bin}`, process.execPath, BIN, 'init', '--iface', 'eth0', ...h.args],
      {reject: false, env: {NO_COLOR: '1'}})
    expect(r.exitCode, String(r.stderr)).to.equal(2)
    expect(String(r.stderr)).to.match(/^Error: .*no iptables: neither iptables-nft nor iptables-legacy/m)
    expect(String(r.stderr)).to.match(/^Hint: install iptables/m)
    expect(await linkNames(h.ns)).to.deep.equal(['eth0', 'eth0p', 'lo'])
    expect(existsSync(join(h.dir, 'node.json'))).to.equal(false)
  })
})
