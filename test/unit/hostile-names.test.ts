/**
 * Hostile names: what a flag, a state file, a lease or an inventory may carry, and what becomes of
 * it. Names that enter a batch language are validated; everything else reaches programs as argv.
 * The file-writing step runs for real (sh, no network) to show that a path is data, not code.
 */
import {expect} from 'chai'
import {execa} from 'execa'
import {existsSync} from 'node:fs'
import {mkdtemp, readFile, readdir, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {ifNameProblem, isSafeIfName, showName} from '../../src/core/names.js'
import {recordProblem, loadRecord} from '../../src/services/node.js'
import {HostAdapter, batchesOf, flavourFromVersion} from '../../src/adapters/host.js'
import {parseTarget, wrapForTarget} from '../../src/adapters/target.js'
import type {Command, CommandResult, Runner} from '../../src/adapters/runner.js'
import {parseInventory, execProblem} from '../../src/core/inventory.js'
import {FileStore} from '../../src/store/file-store.js'
import {parseNetConf} from '../../src/core/netconf.js'
import {tempDirHooks} from '../helpers/temp-dir.js'

const HOSTILE = [
  '', ' ', 'eth0 ', 'a b', 'a;b', '$(id)', '`id`', 'a\nb', 'cni0\nlink del eth0', '-rf', '--help', '.hidden',
  'x'.repeat(16), 'a/b', 'a:b', 'a\'b', 'a"b', 'a\\b', 'a#b', 'a\tb', 'a|b', 'a&b', 'a>b', 'é0', 'a\u0000b', '$IFS',
]

/** Answers `cat` with a fixed text and records every command; anything else fails the test. */
class FakeRunner implements Runner {
  readonly target = {kind: 'local' as const}
  readonly commands: Command[] = []
  constructor(private readonly files: Record<string, string>) {}
  async run(cmd: Command): Promise<CommandResult> {
    this.commands.push(cmd)
    if (cmd.file === 'cat') {
      const text = this.files[cmd.args.at(-1)!]
      return text === undefined ? {stdout: '', stderr: 'No such file', exitCode: 1} : {stdout: text, stderr: '', exitCode: 0}
    }
    throw new Error(`unexpected command ${cmd.file} ${cmd.args.join(' ')}`)
  }
}

const GOOD_RECORD = {
  store: 'file:/var/lib/flannelctl/store', iface: 'eth0', publicIP: '192.168.100.11', bridge: 'cni0',
  subnetFile: '/run/flannel/subnet.env', cniConfDir: '/etc/cni/net.d', cniPlugin: 'bridge', ipMasq: true,
  subnet: '10.244.1.0/24', vni: 1, backendType: 'vxlan', staticPeers: [{subnet: '10.244.9.0/24', publicIP: '192.168.100.19', backendType: 'host-gw', static: true}],
  ownedRoutes: ['10.244.9.0/24'],
}

describe('hostile names', () => {
  describe('interface names for batch lines', () => {
    it('accepts the names hosts use', () => {
      for (const name of ['eth0', 'cni0', 'flannel.1', 'flannel.4096', 'docker0', 'br-1a2b3c4d5e6f', 'enp0s31f6', 'eth0.100', 'vxlan.calico', 'wg_0', 'x+y', 'a'.repeat(15)]) {
        expect(isSafeIfName(name), name).to.equal(true)
        expect(ifNameProblem(name), name).to.equal(undefined)
      }
    })

    it('refuses blanks, line breaks, shell syntax, options, paths and overlong names, each with a reason', () => {
      for (const name of HOSTILE) {
        expect(isSafeIfName(name), JSON.stringify(name)).to.equal(false)
        expect(ifNameProblem(name), JSON.stringify(name)).to.be.a('string')
      }
      expect(ifNameProblem('cni0\nlink del eth0')).to.contain('line break')
      expect(ifNameProblem('-rf')).to.contain('option')
      expect(ifNameProblem('x'.repeat(16))).to.contain('15')
      expect(ifNameProblem(7)).to.contain('not a string')
    })

    it('shows a name quoted, with line breaks escaped, so it cannot forge a line of output', () => {
      expect(showName('cni0\nError: forged')).to.equal('"cni0\\nError: forged"')
    })
  })

  describe('the state file is input too', () => {
    it('accepts a record init writes', () => {
      expect(recordProblem(GOOD_RECORD)).to.equal(undefined)
    })

    it('refuses every field that would carry a command into a batch', () => {
      const edits: Record<string, unknown>[] = [
        {bridge: 'cni0\nlink del eth0'}, {bridge: '$(touch /tmp/x)'}, {iface: '-rf'}, {iface: undefined}, {publicIP: '1.2.3.4 dev eth0'},
        {mtu: '1450\nlink del eth0'}, {mtu: 1e9}, {vni: '1; reboot'}, {vni: -1}, {subnet: '10.244.1.0/24\nlink del eth0'},
        {ownedRoutes: ['10.244.9.0/24 dev eth0']}, {ownedRoutes: 'x'}, {staticPeers: [{subnet: '10.244.9.0/24', publicIP: '192.168.100.19', vtepMAC: '$(id)'}]},
        {staticPeers: [{subnet: 'all', publicIP: '192.168.100.19'}]}, {staticPeers: [{subnet: '10.244.9.0/24', publicIP: 'localhost'}]},
        {subnetFile: 42}, {store: ''},
        // a MAC no device has: broadcast, multicast, or a vxlan fdb's default (flood) entry
        ...['ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01', '00:00:00:00:00:00'].map(vtepMAC => ({staticPeers: [{subnet: '10.244.9.0/24', publicIP: '192.168.100.19', vtepMAC}]})),
      ]
      for (const edit of edits) expect(recordProblem({...GOOD_RECORD, ...edit}), JSON.stringify(edit)).to.be.a('string')
      expect(recordProblem(['not', 'a', 'record'])).to.be.a('string')
      expect(recordProblem(null)).to.be.a('string')
    })

    it('loadRecord refuses a tampered record before running anything else', async () => {
      const runner = new FakeRunner({'/state.json': JSON.stringify({...GOOD_RECORD, bridge: 'cni0\nlink del eth0'})})
      let error: {message: string; exitCode: number} | undefined
      try {
        await loadRecord(new HostAdapter(runner), {stateFile: '/state.json'}, false)
      } catch (e) {
        error = e as {message: string; exitCode: number}
      }
      expect(error?.exitCode).to.equal(2)
      expect(error?.message).to.contain('"cni0\\nlink del eth0"')
      expect(runner.commands.map(c => [c.file, ...c.args])).to.deep.equal([['cat', '--', '/state.json']])
    })
  })

  describe('exec targets and inventories', () => {
    it('parseTarget refuses names that could be options or shell words', () => {
      for (const spec of ['netns:$(id)', 'netns:a b', 'netns:-x', 'netns:a;b', 'netns:', 'ssh:$(id)@h', 'ssh:-oProxyCommand=id', 'ssh:root@h;id', 'ssh:root@h\nid', 'docker:x']) {
        expect(() => parseTarget(spec), spec).to.throw(/cannot use/)
      }
    })

    it('a netns target is plain argv; an ssh target quotes every word for the remote shell', () => {
      expect(wrapForTarget({kind: 'netns', name: 'w1'}, 'cat', ['--', '/x/$(id) y'])).to.deep.equal({file: 'ip', args: ['netns', 'exec', 'w1', 'cat', '--', '/x/$(id) y']})
      const ssh = wrapForTarget({kind: 'ssh', destination: 'root@h'}, 'cat', ['--', "/x/$(id) 'y'"])
      expect(ssh.args.slice(0, 4)).to.deep.equal(['-o', 'BatchMode=yes', '--', 'root@h'])
      expect(ssh.args[4]).to.equal(`cat -- '/x/$(id) '\\''y'\\'''`)
    })

    it('inventories refuse hostile node, pod and namespace names and exec specs', () => {
      const bad = [
        'nodes:\n  - name: "$(touch /tmp/x)"\n',
        'nodes:\n  - name: "-rf"\n',
        'nodes:\n  - name: "a b"\n',
        'nodes:\n  - name: ".."\n',
        'nodes:\n  - name: "a/b"\n',
        'nodes:\n  - name: n1\n    exec: "netns:$(id)"\n',
        'nodes:\n  - name: n1\n    exec: "ssh:-oProxyCommand=id"\n',
        'nodes:\n  - name: n1\n    exec: "ssh:root@h;id"\n',
        'nodes:\n  - name: n1\npods:\n  - name: "p;1"\n    ip: 10.244.1.2\n    node: n1\n',
        'nodes:\n  - name: n1\npods:\n  - name: p1\n    ip: 10.244.1.2\n    node: n1\n    netns: "x $(id)"\n',
      ]
      for (const text of bad) expect(() => parseInventory(text, 'inv.yaml'), text).to.throw(/inv\.yaml/)
      expect(execProblem('netns:a;b')).to.be.a('string')
    })
  })

  describe('file writes: a path is an argument, never shell text', () => {
    let dir: string
    tempDirHooks('fcr-names-', d => (dir = d), {each: true})

    it('the path is its own argv word, outside the script', () => {
      const path = '/x/$(touch /tmp/fcr-pwned)/f'
      const [cmd] = batchesOf([{tool: 'file', path, content: 'x', mode: 0o644, why: ''}])
      expect(cmd.file).to.equal('sh')
      expect(cmd.args[1]).to.not.contain('pwned')
      expect(cmd.args.slice(2)).to.deep.equal(['sh', path, '0644'])
      const [rmCmd] = batchesOf([{tool: 'rmfile', path: '-rf', why: ''}])
      expect(rmCmd.args).to.deep.equal(['-f', '--', '-rf'])
    })

    it('names full of shell syntax are written literally, with their modes, even under umask 000', async () => {
      const pwned = join(dir, 'pwned')
      const names = [`$(touch ${pwned})`, `a;touch ${pwned}`, '-rf', '--help', 'with space', 'line\nbreak', '`touch x`', '*', "it's"]
      for (const [i, name] of names.entries()) {
        // relative to the working directory, and in a directory that does not exist yet
        for (const path of [name, join(`sub ${name.replace(/\//g, '_')}`, name.replace(/\//g, '_'))]) {
          const mode = i % 2 ? 0o600 : 0o644
          const [cmd] = batchesOf([{tool: 'file', path, content: `content ${i}\n`, mode, why: ''}])
          const r = await execa('sh', ['-c', 'umask 000; exec "$@"', 'sh', cmd.file, ...cmd.args], {cwd: dir, input: cmd.input, reject: false})
          expect(r.exitCode, `${JSON.stringify(path)}: ${r.stderr}`).to.equal(0)
          const full = join(dir, path)
          expect(await readFile(full, 'utf8')).to.equal(`content ${i}\n`)
          expect((await stat(full)).mode & 0o777, path).to.equal(mode)
          if (path.includes('/')) expect((await stat(join(dir, path.split('/')[0]))).mode & 0o777).to.equal(0o755)
        }
      }
      expect(existsSync(pwned)).to.equal(false)
      expect(existsSync(join(dir, 'x'))).to.equal(false)
      expect((await readdir(dir)).some(f => f.includes('.tmp.'))).to.equal(false)
    })

    it('refuses to write through a temp name someone planted as a symlink', async () => {
      const path = join(dir, 'subnet.env')
      const victim = join(dir, 'victim')
      await writeFile(victim, 'precious\n')
      const [cmd] = batchesOf([{tool: 'file', path, content: 'x', mode: 0o644, why: ''}])
      // The temp name is "$1.tmp.$$": this shell plants it for its own pid, then execs the writer, which keeps that pid.
      const r = await execa('sh', ['-c', 'ln -s "$VICTIM" "$5.tmp.$$" && exec "$@"', 'sh', cmd.file, ...cmd.args],
        {input: cmd.input, reject: false, env: {VICTIM: victim}})
      expect(r.exitCode).to.not.equal(0)
      expect(await readFile(victim, 'utf8')).to.equal('precious\n')
      expect(existsSync(path)).to.equal(false)
    })
  })

  describe('the store writes sane modes under any umask', () => {
    let dir: string
    let saved: number
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'fcr-store-'))
      saved = process.umask(0)
    })
    afterEach(async () => {
      process.umask(saved)
      await rm(dir, {recursive: true, force: true})
    })

    it('config and lease files are 0644, directories 0755', async () => {
      const store = new FileStore(join(dir, 'store'))
      await store.putConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}')
      const nc = parseNetConf('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}')
      const lease = await store.acquireLease(nc, {publicIP: '10.0.0.1', backendType: 'vxlan', backendData: {VNI: 1, VtepMAC: '02:00:00:00:00:01'}})
      const net = join(dir, 'store', 'coreos.com', 'network')
      const mode = async (p: string) => (await stat(p)).mode & 0o777
      expect(await mode(join(net, 'config'))).to.equal(0o644)
      expect(await mode(join(net, 'subnets', lease.subnet.replace('/', '-')))).to.equal(0o644)
      for (const d of [join(dir, 'store'), net, join(net, 'subnets')]) expect(await mode(d), d).to.equal(0o755)
    })
  })

  describe('iptables flavour', () => {
    it('reads the flavour from iptables -V and iptables-save headers', () => {
      expect(flavourFromVersion('iptables v1.8.9 (nf_tables)')).to.equal('nft')
      expect(flavourFromVersion('iptables v1.8.9 (legacy)')).to.equal('legacy')
      expect(flavourFromVersion('# Generated by iptables-save v1.8.4 on Mon')).to.equal(undefined)
    })

    it('writes with the restore program of the flavour the rules live in', () => {
      const ops = [{tool: 'iptables' as const, table: 'nat', lines: ['-A POSTROUTING -j ACCEPT'], why: ''}]
      expect(batchesOf(ops)[0].file).to.equal('iptables-restore')
      expect(batchesOf(ops, {iptablesRestore: 'iptables-legacy-restore'})[0].file).to.equal('iptables-legacy-restore')
    })
  })
})
