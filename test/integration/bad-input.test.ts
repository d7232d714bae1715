/**
 * Bad input gets one clear line and exit 2, no stack trace, and nothing half-made.
 * Each case runs init inside a fresh namespace with its own store.
 */
import {expect} from 'chai'
import {writeFile, mkdir, readdir, readFile, chmod, stat} from 'node:fs/promises'
import {existsSync} from 'node:fs'
import {join} from 'node:path'
import {cli, sh, inNs, uniqueLab, BIN} from '../helpers/cli.js'
import {tempDirHooks} from '../helpers/temp-dir.js'

describe('bad input (real namespace)', function () {
  this.timeout(60000)
  const ns = `fcb-${uniqueLab('b')}`
  const peer = `${ns}-p`
  let dir: string

  const nodeArgs = () => ['--store', `file:${join(dir, 'store')}`, '--subnet-file', join(dir, 'subnet.env'),
    '--cni-conf-dir', join(dir, 'cni'), '--state-file', join(dir, 'node.json')]

  async function expectCleanFailure(r: {stdout: string; stderr: string; exitCode: number}, message: RegExp) {
    expect(r.exitCode, r.stderr + r.stdout).to.equal(2)
    const lines = r.stderr.trim().split('\n')
    expect(lines[0]).to.match(/^Error: /)
    expect(lines[0]).to.match(message)
    expect(lines[1] ?? '').to.match(/^Hint: /)
    expect(r.stderr).to.not.match(/^\s+at /m)
    const links = JSON.parse(await inNs(ns, 'ip', '-j', 'link', 'show')).map((l: {ifname: string}) => l.ifname)
    expect(links.sort()).to.deep.equal(['eth0', 'lo'])
    expect(await inNs(ns, 'iptables-save')).to.not.contain('FLANNEL')
    expect(existsSync(join(dir, 'subnet.env'))).to.equal(false)
    expect(existsSync(join(dir, 'node.json'))).to.equal(false)
  }

  before(async () => {
    await sh('ip', ['netns', 'add', ns])
    await sh('ip', ['netns', 'add', peer])
    await sh('ip', ['-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peer])
    await sh('ip', ['-n', ns, 'addr', 'add', '192.168.150.1/24', 'dev', 'eth0'])
    await sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up'])
    await sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
  })
  after(async () => {
    await sh('ip', ['netns', 'del', ns])
    await sh('ip', ['netns', 'del', peer])
  })
  tempDirHooks('fcb-', d => (dir = d), {each: true})

  const init = (...extra: string[]) => cli(['init', '--iface', 'eth0', ...nodeArgs(), ...extra], {netns: ns})
  const noConfig = async () => expect(existsSync(join(dir, 'store', 'coreos.com', 'network', 'config'))).to.equal(false)

  it('invalid CIDR', async () => {
    await expectCleanFailure(await init('--network', '10.244.0.0/33'), /10\.244\.0\.0\/33/)
    await noConfig()
    // said first: before the interface is chosen (and reported) or anything is read
    await expectCleanFailure(await cli(['init', '--network', '10.244.0.0/33', ...nodeArgs()], {netns: ns}), /^Error: --network '10\.244\.0\.0\/33' is not a valid IPv4 CIDR$/)
  })

  it('init --dry-run on a new host says its subnet is drawn at random and the run draws again; one free subnet, nothing to say', async () => {
    // before: the plan showed 10.244.59.0/24 and the run then leased 10.244.57.0/24, unsaid
    const plan = await init('--network', '10.244.0.0/16', '--dry-run', '--json')
    expect(plan.exitCode, plan.stderr).to.equal(0)
    const warnings = JSON.parse(plan.stdout).warnings as string[]
    expect(warnings).to.include(`${JSON.parse(plan.stdout).lease.subnet} is drawn at random among 100 free subnets, as flanneld does: the run itself draws again, so it may lease another subnet (and the plan's addresses and rules change with it)`)
    const pinned = await init('--network', '10.244.0.0/16', '--subnet-min', '10.244.7.0', '--subnet-max', '10.244.7.0', '--dry-run')
    expect(pinned.exitCode, pinned.stderr).to.equal(0)
    expect(pinned.stdout).to.contain('lease 10.244.7.0/24').and.not.contain('drawn at random')
    await noConfig()
  })

  it('--net-conf a path, as flanneld reads its net-conf.json: taken; one that is missing, a directory or not JSON is named with what is wrong', async () => {
    // before: every path was parsed as JSON ("Unexpected token '/'")
    await expectCleanFailure(await init('--net-conf', join(dir, 'none.json')), /^Error: --net-conf '.*\/none\.json' is neither the net-conf JSON nor a file that can be read \(no such file\)$/)
    await expectCleanFailure(await init('--net-conf', dir), /is neither the net-conf JSON nor a file that can be read \(a directory\)$/)
    await writeFile(join(dir, 'bad.json'), '{"Network": ')
    await expectCleanFailure(await init('--net-conf', join(dir, 'bad.json')), /^Error: .*\/bad\.json is not valid JSON \(/)
    await noConfig()
    await writeFile(join(dir, 'net-conf.json'), '{"Network": "10.245.0.0/16", "Backend": {"Type": "host-gw"}}\n')
    const plan = await init('--net-conf', join(dir, 'net-conf.json'), '--dry-run')
    expect(plan.exitCode, plan.stderr).to.equal(0)
    expect(plan.stdout).to.match(/network 10\.245\.0\.0\/16/)
    expect(plan.stdout).to.contain('host-gw')
    // a store holding another network: the hint names the flag given, --net-conf, not --network
    const made = await init('--network', '10.244.0.0/16')
    expect(made.exitCode, made.stderr).to.equal(0)
    const other = await init('--net-conf', join(dir, 'net-conf.json'))
    expect(other.exitCode).to.equal(2)
    expect(other.stderr.trim().split('\n')).to.deep.equal(['Error: the store already holds network 10.244.0.0/16, not 10.245.0.0/16',
      'Hint: drop --net-conf to join that network, or use another --store'])
    const reset = await cli(['reset', ...nodeArgs()], {netns: ns})
    expect(reset.exitCode, reset.stderr).to.equal(0)
  })

  it('host bits set in the network: the message names the network meant', async () => {
    const r = await init('--network', '10.244.1.7/16')
    await expectCleanFailure(r, /^Error: --network '10\.244\.1\.7\/16' has host bits set: its network is 10\.244\.0\.0\/16$/)
    expect(r.stderr).to.include('Hint: pass --network 10.244.0.0/16')
  })

  it('a --cni-conf-dir or --subnet-file that cannot be written: refused before the lease or the host changes, naming the file in the way', async () => {
    await writeFile(join(dir, 'afile'), 'x')
    const initWith = (files: {subnetFile?: string; cniConfDir?: string}) => cli(['init', '--iface', 'eth0', '--network', '10.244.0.0/16',
      '--store', `file:${join(dir, 'store')}`, '--state-file', join(dir, 'node.json'),
      '--subnet-file', files.subnetFile ?? join(dir, 'subnet.env'), '--cni-conf-dir', files.cniConfDir ?? join(dir, 'cni')], {netns: ns})
    await expectCleanFailure(await initWith({cniConfDir: join(dir, 'afile', 'cni')}),
      new RegExp(`^Error: --cni-conf-dir: .*cannot be written: not a directory: ${join(dir, 'afile')}$`))
    await noConfig()
    await expectCleanFailure(await initWith({cniConfDir: '/proc/fc-cni'}),
      /^Error: --cni-conf-dir: \/proc\/fc-cni\/10-flannel\.conflist cannot be written: cannot create files there: \/proc$/)
    await expectCleanFailure(await initWith({subnetFile: join(dir, 'cni-not-yet', '..')}), /^Error: --subnet-file: .* cannot be written: is a directory/)
    await noConfig()
  })

  it('SubnetLen out of range', async () => {
    // the flag is bounded as oclif bounds it (it was the net-conf's message, with a hint to fix a JSON nobody wrote)
    await expectCleanFailure(await init('--network', '10.244.0.0/16', '--subnet-len', '31'), /^Error: --subnet-len: expected an integer less than or equal to 30 but received: 31$/)
    await expectCleanFailure(await init('--net-conf', '{"Network":"10.244.0.0/16","SubnetLen":31}'), /SubnetLen must be at most 30/)
    await noConfig()
  })

  it('unknown backend', async () => {
    await expectCleanFailure(await init('--network', '10.244.0.0/16', '--backend', 'ipsec'), /ipsec/)
    await noConfig()
  })

  it('"DirectRouting":"true" as a string', async () => {
    const r = await init('--net-conf', '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","DirectRouting":"true"}}')
    await expectCleanFailure(r, /DirectRouting/)
    await noConfig()
  })

  it('subnet space exhausted', async () => {
    const base = join(dir, 'store', 'coreos.com', 'network')
    await mkdir(join(base, 'subnets'), {recursive: true})
    await writeFile(join(base, 'config'), '{"Network":"10.10.0.0/28","SubnetLen":30,"Backend":{"Type":"vxlan"}}')
    for (const [i, s] of ['10.10.0.4-30', '10.10.0.8-30', '10.10.0.12-30'].entries()) {
      await writeFile(join(base, 'subnets', s), JSON.stringify({PublicIP: `192.168.150.${20 + i}`, PublicIPv6: null, BackendType: 'vxlan', BackendData: {VNI: 1, VtepMAC: `02:00:00:00:00:0${i}`}}))
    }
    await expectCleanFailure(await init(), /exhausted/)
    expect((await readdir(join(base, 'subnets'))).sort()).to.deep.equal(['10.10.0.12-30', '10.10.0.4-30', '10.10.0.8-30'])
  })

  it('unknown --iface', async () => {
    const r = await cli(['init', '--network', '10.244.0.0/16', '--iface', 'eth9', ...nodeArgs()], {netns: ns})
    await expectCleanFailure(r, /unknown interface 'eth9'/)
    expect(r.stderr).to.contain('eth0 (192.168.150.1)')
    await noConfig()
    // lo has 127.0.0.1: not "no IPv4 address", but none a peer can reach
    const lo = await cli(['init', '--network', '10.244.0.0/16', '--iface', 'lo', ...nodeArgs()], {netns: ns})
    await expectCleanFailure(lo, /^Error: interface 'lo' has only host-scope IPv4 addresses \(loopback\): no peer can reach them$/)
    expect(lo.stderr).to.contain('Hint: pass the interface toward the other nodes with --iface; interfaces here: eth0 (192.168.150.1)')
  })

  it('oclif\'s own parse errors: one line naming the flag and what it wants, then where help is', async () => {
    const lines = async (...argv: string[]) => {
      const r = await cli(argv)
      expect(r.exitCode, r.stderr).to.equal(2)
      return r.stderr.trim().split('\n')
    }
    expect(await lines('init', '--subnet-len', 'abc')).to.deep.equal(['Error: --subnet-len: expected an integer but received: abc', 'Hint: see flannelctl init --help'])
    expect(await lines('peer', 'add')).to.deep.equal(['Error: Missing required flag public-ip; Missing required flag subnet', 'Hint: see flannelctl peer add --help'])
    expect(await lines('peer', 'remove', 'a', 'b')).to.deep.equal(['Error: Unexpected argument: b', 'Hint: see flannelctl peer remove --help'])
    expect(await lines('peer', 'remove')).to.deep.equal(['Error: no subnet given: which static peer to remove?', 'Hint: name it: flannelctl peer remove SUBNET (flannelctl peer list shows them)'])
    // before: a one-shot sync with --interval ran once and ignored it, as if the agent were running
    expect(await lines('sync', '--interval', '5')).to.deep.equal(['Error: All of the following must be provided when using --interval: --watch', 'Hint: see flannelctl sync --help'])
    // before: "--lab=demo cannot also be provided when using --snapshot; --snapshot=./snap cannot also be provided when using --lab"
    expect(await lines('trace', 'a', 'b', '--lab', 'demo', '--snapshot', './snap')).to.deep.equal(['Error: --lab and --snapshot cannot be given together', 'Hint: see flannelctl trace --help'])
    // before: "Missing 1 required arg: dst destination: pod name, …" and "type (vxlan|host-gw) vxlan or host-gw"
    expect(await lines('trace', 'a')).to.deep.equal(['Error: Missing 1 required arg: DST (destination: pod name, pod IP, node name or any IPv4 address)', 'Hint: see flannelctl trace --help'])
    expect(await lines('backend', 'set')).to.deep.equal(['Error: Missing 1 required arg: TYPE (vxlan or host-gw)', 'Hint: see flannelctl backend set --help'])
    // before: init's --vni, --port and --subnet-len had no bounds: "net-conf: Backend.VNI must be between …" with a hint to fix a JSON nobody wrote,
    // and --subnet-len 99999999999999999999 came back as "got 100000000000000000000"; now the bounds backend set and migrate have
    expect(await lines('init', '--vni', '16777216')).to.deep.equal(['Error: --vni: expected an integer less than or equal to 16777215 but received: 16777216', 'Hint: see flannelctl init --help'])
    expect(await lines('init', '--port', '0')).to.deep.equal(['Error: --port: expected an integer greater than or equal to 1 but received: 0', 'Hint: see flannelctl init --help'])
    // before: accepted; beyond ~24.8 days Node's timer fires at once, and the agent would resync every millisecond once nothing else bounds its wait
    expect(await lines('sync', '--watch', '--interval', '99999999999')).to.deep.equal(['Error: --interval: expected an integer less than or equal to 86400 but received: 99999999999', 'Hint: see flannelctl sync --help'])
    expect(await lines('init', '--subnet-len', '99999999999999999999')).to.deep.equal(['Error: --subnet-len: expected an integer less than or equal to 30 but received: 99999999999999999999', 'Hint: see flannelctl init --help'])
  })

  it('an empty --network or path flag (an unset shell variable) is named, not read as absent or as the path ""', async () => {
    // before: "the store … holds no network config", as if --network had not been given
    await expectCleanFailure(await init('--network', ''), /^Error: --network is empty$/)
    const emptied = (flag: string) => nodeArgs().map((a, i, all) => (all[i - 1] === flag ? '' : a))
    for (const flag of ['--subnet-file', '--cni-conf-dir']) {
      await expectCleanFailure(await cli(['init', '--iface', 'eth0', '--network', '10.244.0.0/16', ...emptied(flag)], {netns: ns}), new RegExp(`^Error: ${flag} is empty$`))
    }
    // before: "this host has no flannelctl state at " with nothing after it
    for (const cmd of [['sync'], ['status'], ['reset'], ['peer', 'list']]) {
      const r = await cli([...cmd, '--state-file', ''], {netns: ns})
      expect(r.exitCode, cmd.join(' ')).to.equal(2)
      expect(r.stderr.trim().split('\n'), cmd.join(' ')).to.deep.equal(['Error: --state-file is empty', 'Hint: give a path, or leave --state-file out for its default'])
    }
  })

  it('sync, reset and peer on a --state-file whose directory does not exist: no state, and no directory made for it', async () => {
    // before: the state lock made the directory (and a mistyped path stayed behind as an empty directory)
    const missing = join(dir, 'nowhere', 'node.json')
    for (const cmd of [['sync'], ['reset'], ['peer', 'list'], ['peer', 'add', '--subnet', '10.244.9.0/24', '--public-ip', '192.168.150.9']]) {
      const r = await cli([...cmd, '--state-file', missing], {netns: ns})
      // reset has nothing to do there, and says so (exit 0): a teardown may run it twice
      if (cmd[0] === 'reset') expect([r.exitCode, r.stdout.trim()]).to.deep.equal([0, `reset: nothing to reset: this host has no flannelctl record at ${missing} (init has not run here, or a reset already removed what it made)`])
      else {
        expect(r.exitCode, cmd.join(' ')).to.equal(2)
        expect(r.stderr.split('\n')[0], cmd.join(' ')).to.equal(`Error: this host has no flannelctl state at ${missing}`)
      }
      expect(existsSync(join(dir, 'nowhere')), cmd.join(' ')).to.equal(false)
    }
  })

  it('a --state-file that is /dev/null or a directory is named as such, and never to be removed; init builds nothing on it', async () => {
    // before: "/dev/null is not valid JSON", "Hint: remove it and run flannelctl init again";
    // a directory read as no state at all, and init built the host before failing to write its record there
    for (const [path, kind] of [['/dev/null', 'a character device'], [dir, 'a directory']]) {
      for (const cmd of [['status'], ['sync'], ['peer', 'list'], ['reset']]) {
        const r = await cli([...cmd, '--state-file', path], {netns: ns})
        expect(r.exitCode, cmd.join(' ')).to.equal(2)
        expect(r.stderr.split('\n')[0], cmd.join(' ')).to.equal(`Error: the state file ${path} is ${kind}, not a file`)
        expect(r.stderr, cmd.join(' ')).to.not.match(/remove it/)
      }
    }
    const viaInit = nodeArgs().map((a, i, all) => (all[i - 1] === '--state-file' ? '/dev/null' : a))
    await expectCleanFailure(await cli(['init', '--iface', 'eth0', '--network', '10.244.0.0/16', ...viaInit], {netns: ns}), /^Error: the state file \/dev\/null is a character device, not a file$/)
    // some other file named by mistake: not removed on our word either
    await writeFile(join(dir, 'hosts'), '127.0.0.1 localhost\n')
    const other = await cli(['status', '--state-file', join(dir, 'hosts')], {netns: ns})
    expect(other.stderr.split('\n').slice(0, 2)).to.deep.equal([`Error: the state file ${join(dir, 'hosts')} is not valid JSON`,
      `Hint: if init wrote it (a crash mid-write), remove it and run flannelctl init --state-file ${join(dir, 'hosts')} again; else give the --state-file init was given`])
  })

  it('--bridge naming the node\'s own interface: the flag given is the one named, nothing built', async () => {
    // before: 'interface "eth0" cannot be used: it is the pod bridge', 'pass --iface with another interface' (eth0 was right; --bridge was not)
    const r = await init('--network', '10.244.0.0/16', '--bridge', 'eth0')
    await expectCleanFailure(r, /^Error: --bridge "eth0" is the interface toward the other nodes \(--iface\): the pod bridge is a device of its own$/)
    expect(r.stderr).to.contain('Hint: leave --bridge out (cni0), or name another device for the pod bridge')
  })

  it('an init refused leaves no directory behind for its state file', async () => {
    // before: a first init without --iface on a host with no default route left /var/lib/flannelctl, empty
    const state = join(dir, 'fresh', 'deeper', 'node.json')
    const withState = nodeArgs().map((a, i, all) => (all[i - 1] === '--state-file' ? state : a))
    await expectCleanFailure(await cli(['init', '--iface', 'eht0', '--network', '10.244.0.0/16', ...withState], {netns: ns}), /^Error: unknown interface 'eht0'$/)
    expect(existsSync(join(dir, 'fresh'))).to.equal(false)
  })

  it('a /0 network: named the whole space, not "host bits set" with a hint to pass 0.0.0.0/0 (refused in turn)', async () => {
    const r = await init('--network', '10.0.0.0/0')
    await expectCleanFailure(r, /^Error: --network '10\.0\.0\.0\/0' is a \/0: the whole IPv4 space, not one network$/)
    expect(r.stderr).to.contain('Hint: e.g. --network 10.244.0.0/16')
  })

  it('VNI 0 is a VNI, as flanneld takes it: flannel.0 on the kernel; GBP, which flannelctl cannot build, is refused', async () => {
    const plan = await init('--network', '10.244.0.0/16', '--vni', '0', '--dry-run')
    expect(plan.exitCode, plan.stderr).to.equal(0)
    expect(plan.stdout).to.contain('type vxlan id 0 ')
    await expectCleanFailure(await init('--net-conf', '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","GBP":true}}'), /^Error: net-conf: Backend\.GBP is true, but flannelctl builds vxlan devices without the Group Based Policy extension/)
    await noConfig()
    // flanneld sizes flannel.1 and the pods from Backend.MTU: so does init, never above the interface
    const sized = await init('--net-conf', '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","MTU":1400}}', '--dry-run')
    expect(sized.exitCode, sized.stderr).to.equal(0)
    expect(sized.stdout).to.match(/ip link add flannel\.1 address \S+ mtu 1350 type vxlan/)
    expect(sized.stdout).to.contain('ip link set cni0 mtu 1350')
  })

  it('a public IP nothing can send to, the pod bridge or flannel.1 as --iface, a network holding the node\'s address', async () => {
    await expectCleanFailure(await init('--network', '10.244.0.0/16', '--public-ip', '127.0.0.1'), /--public-ip 127\.0\.0\.1 is in 127\.0\.0\.0\/8 \(loopback\): no peer can send to it/)
    await expectCleanFailure(await init('--network', '10.244.0.0/16', '--public-ip', '0.0.0.0'), /"this network"/)
    // a rerun of init naming the devices flannel made (here made by hand) as the node interface
    await sh('ip', ['-n', ns, 'link', 'add', 'cni0', 'type', 'bridge'])
    await sh('ip', ['-n', ns, 'addr', 'add', '10.244.7.1/24', 'dev', 'cni0'])
    await sh('ip', ['-n', ns, 'link', 'add', 'flannel.1', 'type', 'vxlan', 'id', '1', 'local', '192.168.150.1', 'dstport', '8472'])
    await sh('ip', ['-n', ns, 'addr', 'add', '10.244.7.0/32', 'dev', 'flannel.1'])
    try {
      for (const [dev, why] of [['cni0', 'it is the pod bridge'], ['flannel.1', 'it is flannel\'s own vxlan device']]) {
        const r = await cli(['init', '--network', '10.244.0.0/16', '--iface', dev, ...nodeArgs()], {netns: ns})
        expect(r.exitCode, r.stderr).to.equal(2)
        expect(r.stderr.split('\n')[0]).to.equal(`Error: interface "${dev}" cannot be used: ${why}${dev === 'cni0' ? ': node traffic needs the interface toward the other nodes' : ': node traffic needs the interface it encapsulates onto'}`)
      }
    } finally {
      for (const dev of ['cni0', 'flannel.1']) await sh('ip', ['-n', ns, 'link', 'del', dev])
    }
    await expectCleanFailure(await init('--network', '192.168.0.0/16'), /the pod network 192\.168\.0\.0\/16 contains this node's address 192\.168\.150\.1: pods and nodes need separate ranges/)
    await noConfig()
  })

  it('relative paths are recorded absolute: a later command from another directory finds the files init wrote', async () => {
    const r = await sh('ip', ['netns', 'exec', ns, 'sh', '-c', `cd '${dir}' && '${process.execPath}' '${BIN}' init --network 10.244.0.0/16 --iface eth0 `
      + '--store file:store --subnet-file run/subnet.env --cni-conf-dir cni --state-file node.json'])
    expect(r.exitCode, r.stderr).to.equal(0)
    const rec = JSON.parse(await readFile(join(dir, 'node.json'), 'utf8'))
    expect(rec).to.deep.include({store: `file:${join(dir, 'store')}`, subnetFile: join(dir, 'run', 'subnet.env'), cniConfDir: join(dir, 'cni')})
    // this process runs elsewhere: it still finds the host as init left it
    const again = await cli(['sync', '--state-file', join(dir, 'node.json')], {netns: ns})
    expect(again.stdout).to.contain('up to date: nothing to change')
    expect((await cli(['reset', '--state-file', join(dir, 'node.json')], {netns: ns})).exitCode).to.equal(0)
    expect(existsSync(join(dir, 'run', 'subnet.env'))).to.equal(false)
  })

  it('network flags that would be ignored: beside --net-conf, or vxlan settings on host-gw; a net-conf without a Backend (flannel\'s udp)', async () => {
    await expectCleanFailure(await init('--net-conf', '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}', '--network', '10.9.0.0/16'),
      /--net-conf is the whole network config: --network beside it would be ignored/)
    await expectCleanFailure(await init('--network', '10.244.0.0/16', '--backend', 'host-gw', '--directrouting'), /--directrouting is a setting of the vxlan backend, not of host-gw/)
    const noBackend = await init('--net-conf', '{"Network":"10.244.0.0/16"}')
    await expectCleanFailure(noBackend, /the net-conf names no Backend, so flannel's default applies: udp, flanneld's debugging-only backend \(TUN flannel0, packets carried in user space\), which flannelctl does not build/)
    expect(noBackend.stderr).to.contain('Hint: add "Backend": {"Type": "vxlan"} (or "host-gw") to the net-conf')
    // udp asked for is refused before the store is read: joining a vxlan network, the mismatch would
    // otherwise point at `backend set udp`, refused too
    const udp = await init('--network', '10.244.0.0/16', '--backend', 'udp')
    await expectCleanFailure(udp, /^Error: udp is flanneld's debugging-only backend \(TUN flannel0, packets carried in user space\), which flannelctl does not build$/)
    expect(udp.stderr).to.contain('Hint: use --backend vxlan (or --backend host-gw when all nodes share one L2 segment)')
    const udpConf = await init('--net-conf', '{"Network":"10.244.0.0/16","Backend":{"Type":"udp"}}')
    await expectCleanFailure(udpConf, /^Error: udp is flanneld's debugging-only backend/)
    expect(udpConf.stderr).to.contain('Hint: use "Type": "vxlan" in the net-conf\'s Backend')
    // the lab's --backend says it in the same words (before: oclif's "Expected --backend=udp to be one of: vxlan, host-gw"), before any namespace is made
    for (const command of [['lab', 'up'], ['lab', 'demo']]) {
      const lab = await cli([...command, '--name', 'fcbudp', '--backend', 'udp'])
      expect([lab.exitCode, ...lab.stderr.trim().split('\n')], command.join(' ')).to.deep.equal([2,
        'Error: udp is flanneld\'s debugging-only backend (TUN flannel0, packets carried in user space), which flannelctl does not build',
        'Hint: use --backend vxlan (or --backend host-gw when all nodes share one L2 segment)'])
      const typo = await cli([...command, '--name', 'fcbudp', '--backend', 'VXLAN'])
      expect(typo.stderr.split('\n')[0]).to.equal('Error: \'VXLAN\' is not a backend: flannelctl builds vxlan and host-gw (names are case-sensitive)')
    }
    expect((await sh('ip', ['netns', 'list'])).stdout).to.not.contain('fcbudp')
    await noConfig()
  })

  it('--mtu more than the interface can carry', async () => {
    // eth0's MTU is 1500: vxlan leaves 1450 for pods
    await expectCleanFailure(await init('--network', '10.244.0.0/16', '--mtu', '9000'),
      /--mtu 9000 is more than this node can carry: eth0 carries at most 1450 per pod packet \(its MTU 1500, less 50 for the vxlan header\)/)
    await noConfig()
    const hostGw = await init('--network', '10.244.0.0/16', '--backend', 'host-gw', '--mtu', '1500', '--dry-run')
    expect(hostGw.exitCode, hostGw.stderr).to.equal(0)
  })

  it('not root', async () => {
    // a real unprivileged user has a home of their own
    await chmod(dir, 0o777)
    const r = await sh('ip', ['netns', 'exec', ns, 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
      '/usr/bin/env', `HOME=${dir}`, process.execPath, BIN, 'init', '--network', '10.244.0.0/16', '--iface', 'eth0', ...nodeArgs()])
    await expectCleanFailure(r, /must run as root/)
  })

  it('not root, in a lab: every command that enters or makes its namespaces says it needs root (no EACCES, no "half built"), exit 2; a plain lab status still reads lab.json', async () => {
    await chmod(dir, 0o777)
    const name = uniqueLab('nr')
    const labs = join(dir, 'labs')
    await mkdir(join(labs, name), {recursive: true})
    await writeFile(join(labs, name, 'lab.json'), JSON.stringify({name, prefix: `fc-${name}`, backend: 'vxlan', segments: 1, store: `file:${join(dir, 'store')}`,
      dir: join(labs, name), switches: [], nodes: [], pods: []}))
    await chmod(labs, 0o777)
    const asNobody = (...args: string[]) => sh('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups',
      '/usr/bin/env', `HOME=${dir}`, `FLANNELCTL_LAB_DIR=${labs}`, 'NO_COLOR=1', process.execPath, BIN, ...args])
    const cases: [string[], string][] = [
      [['lab', 'up', '--name', uniqueLab('nu')], 'lab up'],
      [['lab', 'down', '--name', name], 'lab down'],
      [['lab', 'exec', '--name', name, 'n1', '--', 'ip', 'route'], 'lab exec'],
      [['lab', 'break', '--name', name, 'n1', 'missing-fdb'], 'lab break'],
      [['lab', 'pod', 'recreate', '--name', name, 'pod-1a'], 'lab pod recreate'],
      [['lab', 'status', '--name', name, '--ping'], 'a ping between the lab\'s pods'],
      [['trace', 'pod-1a', 'pod-2a', '--lab', name], 'reading a lab'],
      [['collect', '--lab', name, '--out', join(dir, 'snap')], 'reading a lab'],
      [['migrate', '--backend', 'host-gw', '--lab', name, '--plan'], 'migrate --lab'],
    ]
    for (const [args, doing] of cases) {
      const r = await asNobody(...args)
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).to.equal(2)
      expect(r.stderr.trim().split('\n'), args.join(' ')).to.deep.equal([`Error: ${doing} needs root: lab ${args.includes(name) ? name : args[3]}'s hosts are network namespaces`, 'Hint: run it with sudo'])
    }
    const status = await asNobody('lab', 'status', '--name', name)
    expect(status.exitCode, status.stderr).to.equal(0)
  })

  it('migrate --inventory, a node without the state file looked for: the hint says where its own path goes', async () => {
    const inv = join(dir, 'nodes.yaml')
    await writeFile(inv, `nodes:\n  - name: a\n    exec: netns:${ns}\n`)
    const r = await cli(['migrate', '--backend', 'host-gw', '--inventory', inv, '--state-file', join(dir, 'none.json'), '--plan'])
    expect(r.exitCode).to.equal(2)
    expect(r.stderr.trim().split('\n')).to.deep.equal([`Error: node a has no flannelctl state at ${join(dir, 'none.json')}`,
      `Hint: run flannelctl init on a first; if it keeps its state file elsewhere, give it \`stateFile: PATH\` in ${inv} (or --state-file, for every node)`])
  })

  it('a lab that is not up: the hint names the labs that are (a name misremembered, FLANNELCTL_LAB unset) and the flag that names one, or how to start one', async () => {
    const labs = join(dir, 'labs')
    for (const name of ['beta', 'alpha']) {
      await mkdir(join(labs, name), {recursive: true})
      await writeFile(join(labs, name, 'lab.json'), '{}')
    }
    await mkdir(join(labs, 'halfgone'))
    const hint = async (env: Record<string, string>, ...args: string[]) => {
      const r = await cli(args, {env})
      expect(r.exitCode).to.equal(2)
      return r.stderr.trim().split('\n')
    }
    expect(await hint({FLANNELCTL_LAB_DIR: labs}, 'trace', 'a', 'b', '--lab', 'gamma')).to.deep.equal(["Error: no lab named 'gamma' is up",
      'Hint: labs up here: alpha, beta (name one with --lab); or start one with: flannelctl lab up --name gamma'])
    // the lab commands name a lab with --name (or FLANNELCTL_LAB); trace, doctor, collect and migrate with --lab
    expect(await hint({FLANNELCTL_LAB_DIR: labs}, 'lab', 'status', '--name', 'gamma')).to.deep.equal(["Error: no lab named 'gamma' is up",
      'Hint: labs up here: alpha, beta (name one with --name or FLANNELCTL_LAB); or start one with: flannelctl lab up --name gamma'])
    expect(await hint({FLANNELCTL_LAB_DIR: labs}, 'migrate', '--backend', 'host-gw', '--lab', 'gamma', '--plan')).to.deep.equal(["Error: no lab named 'gamma' is up",
      'Hint: labs up here: alpha, beta (name one with --lab); or start one with: flannelctl lab up --name gamma'])
    expect(await hint({FLANNELCTL_LAB_DIR: join(dir, 'none'), FLANNELCTL_LAB: 'demo'}, 'lab', 'status')).to.deep.equal(["Error: no lab named 'demo' is up", 'Hint: start one with: flannelctl lab up'])
  })

  it('lab exec without a command: the example it gives names the lab and the target given', async () => {
    const r = await cli(['lab', 'exec', '--name', 'nolabz', 'pod-2a'])
    expect(r.exitCode).to.equal(2)
    expect(r.stderr.trim().split('\n')).to.deep.equal(['Error: no command given to run in pod-2a', 'Hint: e.g. flannelctl lab exec --name nolabz pod-2a -- ip route'])
  })

  it('ip missing', async () => {
    const r = await sh('ip', ['netns', 'exec', ns, '/usr/bin/env', `PATH=${dir}`, process.execPath, BIN,
      'init', '--network', '10.244.0.0/16', '--iface', 'eth0', ...nodeArgs()])
    await expectCleanFailure(r, /'ip' is not installed/)
  })

  it('a static peer with a bad address', async () => {
    const r = await cli(['peer', 'add', '--subnet', '10.244.9.0/24', '--public-ip', '192.168.150.300', ...nodeArgs()], {netns: ns})
    expect(r.exitCode).to.equal(2)
    expect(r.stderr.split('\n')[0]).to.match(/^Error: /)
  })

  it('a static peer whose VTEP MAC is no device\'s, or whose node address is inside the pod network: refused, nothing recorded', async () => {
    // (the lease below 10.244.9.0/24, the peer's: drawn at random from the whole network, it was that one once in a while)
    const built = await init('--network', '10.244.0.0/16', '--subnet-max', '10.244.8.0')
    expect(built.exitCode, built.stderr).to.equal(0)
    try {
      const add = (...extra: string[]) => cli(['peer', 'add', '--subnet', '10.244.9.0/24', '--public-ip', '192.168.150.9', ...nodeArgs(), ...extra], {netns: ns})
      const refused = async (r: {exitCode: number; stderr: string}, first: string) => {
        expect(r.exitCode, r.stderr).to.equal(2)
        expect(r.stderr.split('\n')[0]).to.equal(first)
      }
      // before: accepted, and written as `ip neigh replace … lladdr ff:ff:ff:ff:ff:ff` and a default fdb entry for 00:00:00:00:00:00
      await refused(await add('--vtep-mac', 'ff:ff:ff:ff:ff:ff'), 'Error: --vtep-mac ff:ff:ff:ff:ff:ff is the broadcast MAC, not a device\'s')
      await refused(await add('--vtep-mac', '01:00:5e:00:00:01'), 'Error: --vtep-mac 01:00:5e:00:00:01 is a multicast MAC (its first octet is odd), not a device\'s')
      await refused(await add('--vtep-mac', '00:00:00:00:00:00'), 'Error: --vtep-mac 00:00:00:00:00:00 is the all-zero MAC, a vxlan device\'s default fdb entry (it would flood every unknown frame there), not a device\'s')
      // before: accepted, with a warning that host-gw reaches only peers on this segment
      await refused(await cli(['peer', 'add', '--subnet', '10.244.9.0/24', '--public-ip', '10.244.1.5', ...nodeArgs()], {netns: ns}),
        'Error: --public-ip 10.244.1.5 is inside the pod network 10.244.0.0/16: a peer\'s node address is on the network between the nodes')
      expect(JSON.parse(await readFile(join(dir, 'node.json'), 'utf8')).staticPeers).to.deep.equal([])
    } finally {
      // (a host left built would fail the clean-failure checks of the tests after this one)
      expect((await cli(['reset', '--state-file', join(dir, 'node.json')], {netns: ns})).exitCode).to.equal(0)
    }
  })

  it('a host set up for flanneld: FLANNELD_ETCD_ENDPOINTS names the store, and FLANNELCTL_STORE still wins', async () => {
    const viaFlanneld = await cli(['lease', 'list'], {env: {FLANNELD_ETCD_ENDPOINTS: 'http://127.0.0.1:1'}})
    expect(viaFlanneld.exitCode).to.equal(2) // lease list only reads: a store that does not answer is exit 2
    expect(viaFlanneld.stderr).to.contain('etcd at 127.0.0.1:1 is unreachable')
    const ours = await cli(['lease', 'list'], {env: {FLANNELD_ETCD_ENDPOINTS: 'http://127.0.0.1:1', FLANNELCTL_STORE: `file:${join(dir, 'no-such-store')}`}})
    expect(ours.exitCode).to.equal(2)
    expect(ours.stderr).to.contain(`there is no store at file:${join(dir, 'no-such-store')}`)
  })

  it('a stored network config that does not parse: init names the store it is in, lease list still lists the leases', async () => {
    const store = join(dir, 'broken-store')
    await mkdir(join(store, 'coreos.com', 'network', 'subnets'), {recursive: true})
    await writeFile(join(store, 'coreos.com', 'network', 'config'), '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","DirectRouting":"true"}}')
    await writeFile(join(store, 'coreos.com', 'network', 'subnets', '10.244.3.0-24'), '{"PublicIP":"192.168.150.3","PublicIPv6":null,"BackendType":"host-gw"}')
    const list = await cli(['lease', 'list', '--store', `file:${store}`])
    expect(list.exitCode, list.stderr).to.equal(0)
    expect(list.stdout).to.contain('10.244.3.0/24')
    expect(list.stderr).to.contain(`warning: the network config in file:${store} is not valid: Backend.DirectRouting must be true or false`)
    const own = nodeArgs().slice(2)
    const init = await cli(['init', '--store', `file:${store}`, '--iface', 'eth0', ...own], {netns: ns})
    await expectCleanFailure(init, /is not valid: Backend\.DirectRouting must be true or false/)
    expect(init.stderr).to.contain(`Error: the network config in file:${store} is not valid`)
  })

  it('a dual-stack --net-conf (EnableIPv6) is refused: the IPv4 half alone is not the network asked for', async () => {
    const r = await init('--net-conf', '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fc00::/48","Backend":{"Type":"vxlan"}}')
    await expectCleanFailure(r, /^Error: --net-conf asks for dual stack \("EnableIPv6": true\), but flannelctl builds IPv4 networks only/)
    expect(r.stderr).to.contain('Hint: drop EnableIPv6 and the IPv6 fields from --net-conf to build (or join) the IPv4 network')
    await noConfig()
    await expectCleanFailure(await init('--net-conf', '{"Network":"10.244.0.0/16","EnableIPv6":"true"}'), /EnableIPv6 must be true or false, got the string "true"/)
  })

  it('joins a flanneld dual-stack network for IPv4: reads its peers\' dual-stack leases (PublicIPv6, BackendV6Data), routes their IPv4 subnets, and says what it does not build', async () => {
    // as flanneld writes them with EnableIPv6 (pkg/subnet: key `<v4>&<v6>`, PublicIPv6, BackendV6Data)
    const network = join(dir, 'store', 'coreos.com', 'network')
    await mkdir(join(network, 'subnets'), {recursive: true})
    await writeFile(join(network, 'config'), JSON.stringify({Network: '10.244.0.0/16', EnableIPv6: true, IPv6Network: 'fc00::/48', Backend: {Type: 'host-gw'}}))
    await writeFile(join(network, 'subnets', '10.244.5.0-24&fc00:0:0:5::-64'),
      JSON.stringify({PublicIP: '192.168.150.5', PublicIPv6: 'fd00:150::5', BackendType: 'host-gw', BackendData: null, BackendV6Data: null}))
    const r = await init()
    expect(r.exitCode, r.stderr).to.equal(0)
    expect(r.stdout.replace(/\s+/g, ' ')).to.contain('warning: the network config enables IPv6 (EnableIPv6), but flannelctl builds the IPv4 network only')
    expect(await inNs(ns, 'ip', 'route', 'show', '10.244.5.0/24')).to.contain('10.244.5.0/24 via 192.168.150.5 dev eth0')
    expect(await inNs(ns, 'ip', '-6', 'route', 'show', 'proto', 'static')).to.equal('')
    const list = await cli(['lease', 'list', '--store', `file:${join(dir, 'store')}`])
    expect(list.exitCode, list.stderr).to.equal(0)
    expect(list.stdout).to.match(/10\.244\.5\.0\/24\s+192\.168\.150\.5\s+host-gw/)
    // this host's own lease: IPv4's key, PublicIPv6 null, as a flanneld without EnableIPv6 writes it
    const own = (await readdir(join(network, 'subnets'))).filter(k => !k.startsWith('10.244.5.0'))
    expect(own).to.have.length(1)
    expect(own[0]).to.match(/^10\.244\.\d+\.0-24$/)
    expect(JSON.parse(await readFile(join(network, 'subnets', own[0]), 'utf8')).PublicIPv6).to.equal(null)
    expect((await cli(['reset', '--state-file', join(dir, 'node.json')], {netns: ns})).exitCode).to.equal(0)
  })

  it('init with settings the store\'s network config does not have is refused, not quietly ignored', async () => {
    const store = join(dir, 'joined-store')
    await mkdir(join(store, 'coreos.com', 'network'), {recursive: true})
    await writeFile(join(store, 'coreos.com', 'network', 'config'), JSON.stringify({Network: '10.50.0.0/16', Backend: {Type: 'host-gw'}}))
    const own = nodeArgs().slice(2)
    const join1 = await cli(['init', '--store', `file:${store}`, '--subnet-len', '26', '--vni', '5', '--iface', 'eth0', ...own], {netns: ns})
    await expectCleanFailure(join1, /the store's network config differs from the one given: SubnetLen is 24, not 26; VNI is 1, not 5/)
    expect(join1.stderr).to.contain('backend set').and.contain('for another range, use another --store')
    const join2 = await cli(['init', '--store', `file:${store}`, '--net-conf', '{"Network":"10.50.0.0/16","SubnetLen":25,"Backend":{"Type":"host-gw"}}', '--iface', 'eth0', ...own], {netns: ns})
    await expectCleanFailure(join2, /SubnetLen is 24, not 25/)
    // before: only "backend set" was offered, which cannot change the range (the README's hand-run init on a store made by the first example)
    const join3 = await cli(['init', '--store', `file:${store}`, '--network', '10.50.0.0/16', '--backend', 'host-gw', '--subnet-min', '10.50.1.0', '--subnet-max', '10.50.1.0', '--iface', 'eth0', ...own], {netns: ns})
    await expectCleanFailure(join3, /SubnetMax is 10\.50\.255\.0, not 10\.50\.1\.0$/)
    expect(join3.stderr).to.contain('Hint: drop those settings to join the network as it is; SubnetLen, SubnetMin and SubnetMax stay the network\'s: for another range, use another --store')
  })

  it('backend set keeps the settings it is not told to change (Port, MTU, DirectRouting) while the type stays', async () => {
    const store = join(dir, 'backend-store')
    await mkdir(join(store, 'coreos.com', 'network'), {recursive: true})
    await writeFile(join(store, 'coreos.com', 'network', 'config'), JSON.stringify({Network: '10.50.0.0/16', Backend: {Type: 'vxlan', VNI: 7, port: 4789, DirectRouting: true, MTU: 1400}}))
    const config = async () => JSON.parse(await readFile(join(store, 'coreos.com', 'network', 'config'), 'utf8')) as {Backend: Record<string, unknown>}
    expect((await cli(['backend', 'set', 'vxlan', '--vni', '9', '--store', `file:${store}`])).exitCode).to.equal(0)
    expect((await config()).Backend).to.deep.equal({Type: 'vxlan', VNI: 9, port: 4789, DirectRouting: true, MTU: 1400})
    expect((await cli(['backend', 'set', 'vxlan', '--no-directrouting', '--store', `file:${store}`])).exitCode).to.equal(0)
    expect((await config()).Backend).to.deep.equal({Type: 'vxlan', VNI: 9, port: 4789, DirectRouting: false, MTU: 1400})
    // a new port alone: migrate moves it only with a new VNI, which the warning says rather than leaving the --vni unexplained
    const port = await cli(['backend', 'set', 'vxlan', '--port', '8472', '--dry-run', '--store', `file:${store}`])
    expect(port.stdout).to.contain('until every node has synced a node on flannel.9 on port 8472 and one still on flannel.9 on port 4789 cannot reach')
      .and.contain('flannelctl migrate --vni 10 --port 8472 --lab NAME (or --inventory FILE) --yes (a new port goes with a new VNI: two devices on one VNI would have one name), then back to VNI 9: flannelctl migrate --vni 9 --lab NAME (or --inventory FILE) --yes (the port stays 8472)')
    const dry = await cli(['backend', 'set', 'host-gw', '--dry-run', '--store', `file:${store}`])
    expect(dry.exitCode, dry.stderr).to.equal(0)
    expect(dry.stdout).to.contain('backend plan (nothing written — --dry-run): vxlan VNI 9 port 4789 → host-gw')
    expect(dry.stdout).to.contain('the store\'s net-conf would be: {"Network":"10.50.0.0/16","Backend":{"Type":"host-gw"}}')
    expect((await config()).Backend, 'written by --dry-run').to.deep.equal({Type: 'vxlan', VNI: 9, port: 4789, DirectRouting: false, MTU: 1400})
    const ignored = await cli(['backend', 'set', 'host-gw', '--vni', '3', '--store', `file:${store}`])
    expect(ignored.exitCode).to.equal(2)
    expect(ignored.stderr).to.contain('--vni is a setting of the vxlan backend, not of host-gw')
    expect((await cli(['backend', 'set', 'host-gw', '--store', `file:${store}`])).exitCode).to.equal(0)
    expect((await config()).Backend).to.deep.equal({Type: 'host-gw'})
    // the backend it has: before, "host-gw → host-gw" and "nodes apply it on their next sync", the config written again
    const written = (await stat(join(store, 'coreos.com', 'network', 'config'))).mtimeMs
    const same = await cli(['backend', 'set', 'host-gw', '--store', `file:${store}`])
    expect(same.exitCode, same.stderr).to.equal(0)
    expect(same.stdout.trim()).to.equal('backend: the network already uses host-gw: nothing to change')
    expect((await stat(join(store, 'coreos.com', 'network', 'config'))).mtimeMs, 'not written again').to.equal(written)
    // vxlan's settings come back in another key order: still the same backend
    expect((await cli(['backend', 'set', 'vxlan', '--vni', '5', '--store', `file:${store}`])).exitCode).to.equal(0)
    const sameVxlan = await cli(['backend', 'set', 'vxlan', '--store', `file:${store}`])
    expect(sameVxlan.stdout.trim()).to.equal('backend: the network already uses vxlan VNI 5 port 8472: nothing to change')
  })

  it('sync on a mistyped --store names the store this host was set up with (sync takes no --network)', async () => {
    const built = await init('--network', '10.244.0.0/16')
    expect(built.exitCode, built.stderr).to.equal(0)
    const r = await cli(['sync', '--store', `file:${join(dir, 'stor')}`, '--state-file', join(dir, 'node.json')], {netns: ns})
    expect(r.exitCode).to.equal(2)
    expect(r.stderr.trim().split('\n')).to.deep.equal([`Error: the store file:${join(dir, 'stor')} holds no network config`,
      `Hint: check --store: this host was set up with file:${join(dir, 'store')}, which it uses when --store is left out`])
    expect((await cli(['reset', '--state-file', join(dir, 'node.json')], {netns: ns})).exitCode).to.equal(0)
  })

  it('a host without a record: reset says there is nothing to reset (exit 0), migrate without --lab/--inventory names them', async () => {
    const built = await init('--network', '10.244.0.0/16')
    expect(built.exitCode, built.stderr).to.equal(0)
    const state = ['--state-file', join(dir, 'node.json')]
    // a mistyped --state-file: nothing to reset there, and the devices that look like flannel's are named, and kept
    const typo = await cli(['reset', '--state-file', join(dir, 'nod.json')], {netns: ns})
    expect(typo.exitCode, typo.stderr).to.equal(0)
    expect(typo.stdout.trim()).to.equal(`reset: nothing to reset: this host has no flannelctl record at ${join(dir, 'nod.json')} (init has not run here, or a reset already removed what it made)`)
    expect(typo.stderr.trim()).to.equal('note: cni0 and flannel.1 are here all the same, and stay: if init made them with another --state-file, give reset that one')
    expect(await inNs(ns, 'ip', 'link', 'show', 'flannel.1')).to.contain('flannel.1')
    expect((await cli(['reset', ...state], {netns: ns})).exitCode).to.equal(0)
    // before: a second reset exited 2, telling the user to run init first; a teardown run twice succeeds
    const again = await cli(['reset', ...state], {netns: ns})
    expect(again.exitCode, again.stderr).to.equal(0)
    expect(again.stdout.trim()).to.equal(`reset: nothing to reset: this host has no flannelctl record at ${join(dir, 'node.json')} (init has not run here, or a reset already removed what it made)`)
    expect(again.stderr).to.equal('')
    const json = await cli(['reset', '--release', '--json', ...state], {netns: ns})
    expect(json.exitCode, json.stderr).to.equal(0)
    expect(JSON.parse(json.stdout)).to.deep.include({applied: false, changes: [], released: null})
    // and nothing was made meanwhile
    await expectCleanFailure(await cli(['sync', ...state], {netns: ns}), /^Error: this host has no flannelctl state at .*node\.json$/)
    // before: "Error: node this host has no flannelctl state", and no word of --lab
    const migrate = await cli(['migrate', '--backend', 'host-gw', ...state], {netns: ns})
    await expectCleanFailure(migrate, /^Error: this host has no flannelctl state at .*node\.json$/)
    // the hint's command carries the --state-file given (before: a bare init, which looks in /var/lib/flannelctl)
    expect(migrate.stderr).to.contain(`Hint: run flannelctl init --state-file ${join(dir, 'node.json')} here first, or name the nodes to migrate: --lab NAME or --inventory FILE`)
  })

  it('lease list on a mistyped --store is an error naming it; on an empty store, a note', async () => {
    const typo = await cli(['lease', 'list', '--store', `file:${join(dir, 'no-such-store')}`])
    expect(typo.exitCode, typo.stderr).to.equal(2)
    expect(typo.stdout).to.equal('')
    expect(typo.stderr).to.contain(`Error: there is no store at file:${join(dir, 'no-such-store')}: ${join(dir, 'no-such-store')} does not exist`)
    // hosts set up with --state-file (namespaces sharing a filesystem) keep their store there: the way to it is named
    expect(typo.stderr).to.contain('or give --state-file of a host init set up with one (its store is recorded there)')
    await mkdir(join(dir, 'empty-store'), {recursive: true})
    const empty = await cli(['lease', 'list', '--store', `file:${join(dir, 'empty-store')}`])
    expect(empty.exitCode, empty.stderr).to.equal(0)
    expect(empty.stdout).to.contain('no leases')
    expect(empty.stderr).to.contain(`note: file:${join(dir, 'empty-store')} holds no network config: check --store`)
  })
})
