/**
 * A one-shot command runs its programs through one shell on the target (RealRunner shellSession):
 * the host read, then its batches, each a fork of that shell instead of one of this process. A
 * program run that way must come back as a fresh run of it would, byte for byte; a shell that
 * cannot start or that died must not change what the caller sees; and the shell must never keep
 * this process alive. In a namespace of its own (and on temp files for the local target).
 */
import {expect} from 'chai'
import {execa} from 'execa'
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {existsSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {addNodeNamespace, sh, uniqueLab, withoutIpv6Settling, ROOT} from '../helpers/cli.js'
import {RealRunner, commandLine, type Command} from '../../src/adapters/runner.js'
import {HostAdapter} from '../../src/adapters/host.js'

/** pids of this test process's session shells (`nsenter --net=… sh -s` and `ip netns exec NS sh -s` become `sh -s`) */
async function sessionShells(): Promise<string[]> {
  const r = await sh('pgrep', ['-P', String(process.pid), '-f', '^sh -s$'])
  return r.stdout.split('\n').filter(Boolean)
}

describe('a runner that runs its programs through one shell session', function () {
  this.timeout(30000)
  const ns = `fcs-${uniqueLab('s')}`
  let dir: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fc-session-'))
    await addNodeNamespace(ns, '192.168.172.1/24')
  })
  after(async () => {
    await sh('ip', ['netns', 'del', ns])
    await rm(dir, {recursive: true, force: true})
  })

  it('returns what a fresh run returns, byte for byte, one shell for all', async () => {
    await writeFile(join(dir, 'no-newline'), 'last line without one')
    await writeFile(join(dir, 'marker-like'), '\nflannelctl-0000 0\n\nflannelctl-0000\n')
    const commands: Command[] = [
      {file: 'cat', args: ['--', join(dir, 'no-newline')]},
      {file: 'cat', args: ['--', join(dir, 'marker-like')]},
      {file: 'cat', args: ['--', join(dir, 'missing')]},
      {file: 'sh', args: ['-c', 'printf "out"; printf "err" >&2; exit 3']},
      {file: 'sh', args: ['-c', 'cat; echo "$1"', 'sh', "it's $(id) `id` \"q\" *"], input: 'from stdin\n\n'},
      {file: 'ip', args: ['-j', 'route', 'show']},
      // ~1 MB on each pipe: many chunks, the frame's end arriving in the last ones
      {file: 'sh', args: ['-c', 'seq 1 150000; seq 1 150000 >&2']},
      {file: 'ip', args: ['-batch', '-'], input: 'route replace 10.252.1.0/24 via 192.168.172.11 dev eth0\nroute del 10.252.99.0/24\n', write: true},
      {file: 'sh', args: ['-c', 'echo "$LC_ALL $FC_EXTRA"'], env: {FC_EXTRA: 'own environment'}},
    ]
    for (const target of [{kind: 'local'} as const, {kind: 'netns', name: ns} as const]) {
      const session = new RealRunner(target, undefined, {shellSession: true})
      const fresh = new RealRunner(target)
      try {
        for (const cmd of commands) {
          const viaSession = await session.run(cmd)
          expect(viaSession, `${target.kind}: ${cmd.file} ${cmd.args.join(' ')}`).to.deep.equal(await fresh.run(cmd))
        }
        expect(await sessionShells(), 'one shell ran them all').to.have.length(1)
      } finally {
        await session.close()
      }
      expect(await sessionShells(), 'closed: the shell is gone').to.deep.equal([])
    }
    expect((await sh('ip', ['-n', ns, 'route', 'show'])).stdout).to.include('10.252.1.0/24 via 192.168.172.11')
  })

  it('reads a host as a fresh run does: the read script runs in the session shell itself', async () => {
    const session = new RealRunner({kind: 'netns', name: ns}, undefined, {shellSession: true})
    try {
      const [a, b] = [await new HostAdapter(session).snapshot(), await new HostAdapter(new RealRunner({kind: 'netns', name: ns})).snapshot()]
      expect(withoutIpv6Settling(a)).to.deep.equal(withoutIpv6Settling(b))
      expect(a.routes?.some(r => r.dst === '10.252.1.0/24')).to.equal(true)
    } finally {
      await session.close()
    }
  })

  it('enters a namespace by nsenter (this process\'s mounts), by ip netns exec where /etc/netns/NS exists; /sys paths by ip netns exec', async () => {
    const target = {kind: 'netns', name: ns} as const
    const ownMounts = (await sh('readlink', ['/proc/self/ns/mnt'])).stdout
    const commands: Command[] = [
      {file: 'ip', args: ['-j', 'link', 'show']},
      {file: 'sh', args: ['-c', 'ls /proc/sys/net/ipv4/conf; cat /proc/sys/net/ipv4/conf/eth0/forwarding']},
      // the namespace's eth0, not this host's: its own sysfs, mounted by ip netns exec
      {file: 'cat', args: ['/sys/class/net/eth0/address']},
      {file: 'cat', args: ['/etc/hostname']},
    ]
    const seen = async () => {
      const session = new RealRunner(target, undefined, {shellSession: true})
      try {
        const results = []
        for (const cmd of commands) {
          const r = await session.run(cmd)
          expect(r, commandLine(cmd)).to.deep.equal(await new RealRunner(target).run(cmd))
          results.push(r)
        }
        const [pid] = await sessionShells()
        return {results, sameMounts: (await sh('readlink', [`/proc/${pid}/ns/mnt`])).stdout === ownMounts}
      } finally {
        await session.close()
      }
    }
    const plain = await seen()
    expect(plain.sameMounts, 'nsenter: no mount namespace of its own').to.equal(true)
    expect(plain.results[1].stdout).to.match(/^eth0$/m)
    const netnsEtc = `/etc/netns/${ns}`
    const hadEtcNetns = existsSync('/etc/netns')
    await mkdir(netnsEtc, {recursive: true})
    try {
      await writeFile(join(netnsEtc, 'hostname'), 'fc-probe\n')
      const remapped = await seen()
      expect(remapped.sameMounts, 'ip netns exec: a mount namespace of its own').to.equal(false)
      expect(remapped.results[3].stdout).to.equal('fc-probe\n')
    } finally {
      await rm(netnsEtc, {recursive: true, force: true})
      if (!hadEtcNetns) await rm('/etc/netns', {recursive: true, force: true})
    }
  })

  it('names a missing program as a fresh run does', async () => {
    const session = new RealRunner({kind: 'local'}, undefined, {shellSession: true})
    try {
      const errorOf = (runner: RealRunner) => runner.run({file: 'no-such-program-fc', args: []}).then(() => undefined, (e: Error) => e.message)
      const message = await errorOf(session)
      expect(message).to.match(/'no-such-program-fc' is not installed/)
      expect(message).to.equal(await errorOf(new RealRunner()))
    } finally {
      await session.close()
    }
  })

  it('gives the error of a fresh run when there is no shell to start', async () => {
    const path = process.env.PATH
    process.env.PATH = join(dir, 'no-such-dir')
    try {
      const errorOf = (runner: RealRunner) => runner.run({file: 'true', args: []}).then(() => undefined, (e: Error) => e.message)
      const message = await errorOf(new RealRunner({kind: 'local'}, undefined, {shellSession: true}))
      expect(message).to.match(/'true' is not installed/)
      expect(message).to.equal(await errorOf(new RealRunner()))
    } finally {
      process.env.PATH = path
    }
  })

  it('gives the error of a fresh run when the shell cannot start (no such namespace)', async () => {
    const gone = {kind: 'netns', name: `${ns}-gone`} as const
    const cmd: Command = {file: 'ip', args: ['-j', 'link', 'show']}
    const viaSession = await new RealRunner(gone, undefined, {shellSession: true}).run(cmd)
    expect(viaSession.exitCode).to.not.equal(0)
    expect(viaSession).to.deep.equal(await new RealRunner(gone).run(cmd))
  })

  it('starts a new shell when the last one died between programs', async () => {
    const session = new RealRunner({kind: 'netns', name: ns}, undefined, {shellSession: true})
    try {
      expect((await session.run({file: 'true', args: []})).exitCode).to.equal(0)
      const [pid] = await sessionShells()
      await sh('kill', ['-9', pid])
      await new Promise(resolve => setTimeout(resolve, 200))
      const r = await session.run({file: 'ip', args: ['-batch', '-'], input: 'route replace 10.252.2.0/24 via 192.168.172.12 dev eth0\n', write: true})
      expect(r.exitCode).to.equal(0)
      expect((await sh('ip', ['-n', ns, 'route', 'show'])).stdout).to.include('10.252.2.0/24 via 192.168.172.12')
      expect(await sessionShells()).to.have.length(1).and.not.include(pid)
    } finally {
      await session.close()
    }
  })

  it('never keeps the process alive: a command that ends without closing its runner exits at once, and so does its shell', async () => {
    const script = `
      import {RealRunner} from ${JSON.stringify(join(ROOT, 'src/adapters/runner.ts'))}
      const runner = new RealRunner({kind: 'netns', name: ${JSON.stringify(ns)}}, undefined, {shellSession: true})
      const r = await runner.run({file: 'sh', args: ['-c', 'echo $PPID']})
      console.log(r.stdout.trim())
    `
    const child = await execa(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {cwd: ROOT, timeout: 20000, reject: false})
    expect(child.timedOut, 'the process ended by itself').to.equal(false)
    expect(child.exitCode, child.stderr).to.equal(0)
    const shellPid = child.stdout.trim()
    expect(shellPid).to.match(/^\d+$/)
    let alive = true
    for (let i = 0; i < 50 && alive; i++) {
      alive = (await sh('kill', ['-0', shellPid])).exitCode === 0
      if (alive) await new Promise(resolve => setTimeout(resolve, 100))
    }
    expect(alive, 'the shell read the end of its stdin and exited').to.equal(false)
  })

  // last: it leaves a legacy table in the namespace
  it('starts iptables-legacy-save only where the namespace holds a legacy table, and reads the same either way', async () => {
    const bin = join(dir, 'bin-legacy-probe')
    const mark = join(dir, 'legacy-save-started')
    const real = (await sh('sh', ['-c', 'command -v iptables-legacy-save'])).stdout.trim()
    await mkdir(bin, {recursive: true})
    await writeFile(join(bin, 'iptables-legacy-save'), `#!/bin/sh\ntouch '${mark}'\nexec '${real}' "$@"\n`, {mode: 0o755})
    const path = process.env.PATH
    process.env.PATH = `${bin}:${path}`
    const read = async () => {
      await rm(mark, {force: true})
      const runner = new RealRunner({kind: 'netns', name: ns}, undefined, {shellSession: true})
      try {
        const host = new HostAdapter(runner)
        const snap = await host.snapshot()
        return {snap, flavour: host.iptablesFlavour, started: await sh('test', ['-e', mark]).then(r => r.exitCode === 0)}
      } finally {
        await runner.close()
      }
    }
    try {
      const noLegacy = await read()
      expect(noLegacy.started, 'no legacy table: not started').to.equal(false)
      expect(noLegacy.flavour).to.equal('nft')
      await sh('ip', ['netns', 'exec', ns, real.replace(/-save$/, ''), '-A', 'FORWARD', '-s', '203.0.113.0/24', '-j', 'DROP'])
      const legacy = await read()
      expect(legacy.started, 'a legacy table: started').to.equal(true)
      expect(legacy.flavour).to.equal('legacy')
      expect(legacy.snap.iptables?.rules.filter(r => r.chain === 'FORWARD').map(r => r.spec)).to.deep.equal(['-s 203.0.113.0/24 -j DROP'])
    } finally {
      process.env.PATH = path
    }
  })
})
