/**
 * HostAdapter.readFiles: several files in one `sh` run must come back byte for byte, as separate
 * `cat` runs would return them, whatever the files hold and whatever their paths are called; the
 * sysctl read by shell builtins must print what `grep -s -H ''` prints. Runs sh, cat and grep for
 * real on temp files (no network).
 */
import {expect} from 'chai'
import {mkdir, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {HostAdapter, sysctlRead} from '../../src/adapters/host.js'
import {framedScript, newMarker, takeFrame} from '../../src/adapters/shell-script.js'
import {RealRunner, type Runner} from '../../src/adapters/runner.js'
import type {Target} from '../../src/adapters/target.js'
import {interestingSysctls} from '../../src/core/model.js'
import {tempDirHooks} from '../helpers/temp-dir.js'

describe('HostAdapter.readFiles (one program run for several files)', () => {
  let dir: string
  tempDirHooks('fc-readfiles-', d => (dir = d))

  it('returns each file as cat does, undefined for missing files and directories', async () => {
    const host = new HostAdapter(new RealRunner())
    const contents: Record<string, string> = {
      'plain': 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_MTU=1450\n',
      'no newline at end': '{"name":"cbr0"}',
      "it's $(id) `id` \"q\"": '\n\nleading blank lines\n\n',
      'empty': '',
      'marker-like': '\nflannelctl-0000 0\n',
      'new\nline': 'x',
    }
    for (const [name, text] of Object.entries(contents)) await writeFile(join(dir, name), text)
    await mkdir(join(dir, 'a-dir'))
    const names = [...Object.keys(contents), 'missing', 'a-dir', '-n']
    const got = await host.readFiles(names.map(n => join(dir, n)))
    const separately = await Promise.all(names.map(n => host.readFile(join(dir, n))))
    expect(got).to.deep.equal(separately)
    expect(got).to.deep.equal([...Object.values(contents), undefined, undefined, undefined])
  })

  it('reads sysctl files by shell builtins as grep -s -H \'\' does', async () => {
    const files: Record<string, string> = {
      'a': '1\n', 'no-newline': '0', 'two lines': 'x\ny\n', 'empty': '', "it's": 'quoted\n', 'blank-line': '\n', 'tabs': '4096\t87380\t6291456\n',
    }
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text)
    await mkdir(join(dir, 'sub'))
    await writeFile(join(dir, 'sub', 'x'), '2\n')
    const paths = [...Object.keys(files), 'missing', 'sub'].map(n => join(dir, n))
    const runner = new RealRunner()
    const grep = await runner.run({file: 'grep', args: ['-s', '-H', '', ...paths, join(dir, 'sub', 'x')]})
    const marker = newMarker()
    const script = framedScript(marker, [sysctlRead([...paths, {glob: `${dir}/sub/*`}, {glob: `${dir}/none/*`}])])
    const r = await runner.run({file: 'sh', args: ['-s'], input: script})
    expect(takeFrame(r.stdout, r.stderr, marker)?.result.stdout).to.equal(grep.stdout)
  })

  it('reads a /proc/sys file of several numbers whole: dash\'s read builtin, a byte per read(2), gets only its first', async () => {
    // reading this process's own namespace's value changes nothing
    const path = '/proc/sys/net/ipv4/ip_local_port_range'
    const runner = new RealRunner()
    const grep = await runner.run({file: 'grep', args: ['-s', '-H', '', path]})
    expect(grep.stdout).to.match(/^\/proc\/sys\/net\/ipv4\/ip_local_port_range:\d+\t\d+\n$/)
    const read = async (c: ReturnType<typeof sysctlRead>) => {
      const marker = newMarker()
      const r = await runner.run({file: 'sh', args: ['-s'], input: framedScript(marker, [c])})
      return takeFrame(r.stdout, r.stderr, marker)?.result.stdout
    }
    expect(await read(sysctlRead([], [path, join(dir, 'missing')]))).to.equal(grep.stdout)
  })
})

describe('interestingSysctls: keys a builtin read gets right', () => {
  it('names only keys whose values are one digit, or are asked only whether they are above 0', () => {
    // sysctlRead's builtin loop returns a /proc/sys value's first byte only (see its comment)
    const oneDigit = /^net\.(ipv4\.(ip_forward|icmp_errors_use_inbound_ifaddr|icmp_echo_ignore_all|conf\..+\.(rp_filter|proxy_arp|forwarding|accept_local))|bridge\.bridge-nf-call-iptables)$/
    const aboveZero = /^net\.ipv4\.neigh\..+\.app_solicit$/
    for (const key of interestingSysctls(['eth0', 'flannel.1', 'cni0'])) expect(oneDigit.test(key) || aboveZero.test(key), key).to.equal(true)
  })
})

describe('HostAdapter: a host whose shell never ran', () => {
  const unreachable = (target: Target): Runner => ({
    target,
    run: async () => ({stdout: '', stderr: 'setting the network namespace "fc-gone" failed: Invalid argument', exitCode: 255}),
  }) as unknown as Runner

  it('names what to check for its target (a namespace, an ssh login), not only sh', async () => {
    const err = await new HostAdapter(unreachable({kind: 'netns', name: 'fc-gone'}), 'n2').snapshot().then(() => undefined, (e: Error & {hint?: string}) => e)
    expect(err?.message).to.include('failed on n2: setting the network namespace "fc-gone" failed')
    expect(err?.hint).to.include('ip netns list')
    const ssh = await new HostAdapter(unreachable({kind: 'ssh', destination: 'root@w1'}), 'w1').snapshot().then(() => undefined, (e: Error & {hint?: string}) => e)
    expect(ssh?.hint).to.include("ssh -o BatchMode=yes root@w1 true")
  })
})
