/**
 * The host read runs its programs in two lanes side by side (framedScriptSideBySide): whatever
 * the programs print, fail with or lack, each must come back as the one-after-another script
 * (framedScript) gives it, through a fresh `sh -s` and through a shell session; and a host's
 * tables must read the same as with the old script. In a namespace of its own (and on temp files).
 */
import {expect} from 'chai'
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {addNodeNamespace, sh, uniqueLab, withoutIpv6Settling} from '../helpers/cli.js'
import {RealRunner, type Command, type Runner} from '../../src/adapters/runner.js'
import {HostAdapter} from '../../src/adapters/host.js'
import {type ShellCommand, framedScript, framedScriptSideBySide, newMarker, takeFrame} from '../../src/adapters/shell-script.js'
import type {CommandResult} from '../../src/adapters/runner.js'
import type {Target} from '../../src/adapters/target.js'

/** dash names the script's line in "sh: 12: nope: not found": the two scripts differ there only */
const withoutLineNumbers = (r: CommandResult) => ({...r, stderr: r.stderr.replace(/^sh: \d+: /gm, 'sh: N: ')})

/** A runner that runs the side-by-side read script as the old one: its two lanes one after another. */
function asOldScript(runner: Runner, rewritten: {count: number}): Runner {
  return {
    target: runner.target,
    run: (cmd: Command) => {
      const lanes = /^\{ e=\$\( \{\n([\s\S]*)\} <\/dev\/null >&3 &\np=\$!\n\{ b=\$\(\n([\s\S]*)echo x\); wait /.exec(cmd.input ?? '')
      if (!lanes || cmd.framedScript !== true) return runner.run(cmd)
      rewritten.count++
      return runner.run({...cmd, input: lanes[1] + lanes[2]})
    },
  } as Runner
}

async function frames(runner: RealRunner, script: string, marker: string, count: number): Promise<CommandResult[]> {
  const r = await runner.run({file: 'sh', args: ['-s'], input: script, framedScript: true})
  const out: CommandResult[] = []
  let rest = {stdout: r.stdout, stderr: r.stderr}
  for (let i = 0; i < count; i++) {
    const frame = takeFrame(rest.stdout, rest.stderr, marker)
    if (!frame) throw new Error(`frame ${i} missing: ${r.stderr.slice(-300)}`)
    out.push(withoutLineNumbers(frame.result))
    rest = {stdout: frame.stdout, stderr: frame.stderr}
  }
  expect(rest, 'nothing after the last frame').to.deep.equal({stdout: '', stderr: ''})
  return out
}

describe('the host read\'s two lanes', function () {
  this.timeout(60000)
  const ns = `fcl-${uniqueLab('l')}`
  let dir: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fc-lanes-'))
    await addNodeNamespace(ns, '192.168.173.1/24')
  })
  after(async () => {
    await sh('ip', ['netns', 'del', ns])
    await rm(dir, {recursive: true, force: true})
  })

  const printing = (script: string): ShellCommand => ['sh', '-c', script]
  const first: ShellCommand[] = [
    printing('seq 1 120000; echo "to stderr" >&2'),
    {words: ['sh', '-c', 'cat; exit 4'], input: 'a here-document\n\n'},
    printing('printf "no newline at the end"; printf "nor here" >&2'),
  ]
  const beside: ShellCommand[] = [
    // more than a pipe holds, on both streams
    printing('seq 1 100000; seq 1 30000 >&2; exit 3'),
    ['flannelctl-no-such-program', '-x'],
    {name: 'a script', script: 't=$(echo "in a subshell"); printf \'%s\\n\' "$t"; (exit 2)'},
    printing('printf "\\nflannelctl-0000 0\\n"'),
    {words: ['sh', '-c', 'cat; cat >&2'], input: 'read ) from a here-document\n\n\n'},
    printing(':'),
  ]

  for (const target of [{kind: 'local'}, {kind: 'netns', name: ns}] as Target[]) {
    it(`gives each program's output, error and exit code as the old script does (${target.kind}, fresh sh and session)`, async () => {
      const fresh = new RealRunner(target)
      const session = new RealRunner(target, undefined, {shellSession: true})
      try {
        const count = first.length + beside.length
        const marker = newMarker()
        const old = await frames(fresh, framedScript(marker, [...first, ...beside]), marker, count)
        expect(old[4].exitCode, 'a missing program').to.equal(127)
        expect(old[3].stderr).to.have.length.above(100000)
        for (const runner of [fresh, session, session]) {
          const m = newMarker()
          const got = await frames(runner, framedScriptSideBySide(m, first, beside), m, count)
          expect(got).to.deep.equal(old.map(r => JSON.parse(JSON.stringify(r).replaceAll(marker, m)) as CommandResult))
        }
      } finally {
        await session.close()
      }
    })
  }

  it('runs the two lanes at the same time', async () => {
    const flag = join(dir, 'beside-started')
    // bounded (40 × 50 ms): one after another, the other lane would not have started yet
    const waitForBeside = printing(`i=0; while [ ! -e '${flag}' ] && [ $i -lt 40 ]; do sleep 0.05; i=$((i+1)); done; [ -e '${flag}' ] && echo together`)
    const m = newMarker()
    const [waited] = await frames(new RealRunner({kind: 'local'}), framedScriptSideBySide(m, [waitForBeside], [['touch', flag]]), m, 2)
    expect(waited.stdout).to.equal('together\n')
  })

  it('leaves no variable of its own set in a session shell', async () => {
    const session = new RealRunner({kind: 'local'}, undefined, {shellSession: true})
    try {
      const m = newMarker()
      await frames(session, framedScriptSideBySide(m, [printing(':')], [printing(':')]), m, 2)
      const r = await session.run({file: 'sh', args: ['-s'], input: 'echo "b=${b-unset} e=${e-unset} p=${p-unset}"\n', framedScript: true})
      expect(r.stdout).to.equal('b=unset e=unset p=unset\n')
    } finally {
      await session.close()
    }
  })

  it('reads a host\'s tables as the old script does: routes, neighbours, fdb, iptables, nftables, a failing nft', async () => {
    const steps = [
      'link add flannel.1 type vxlan id 1 local 192.168.173.1 dev eth0 dstport 8472 nolearning',
      'link set flannel.1 up',
      'addr add 10.244.0.0/32 dev flannel.1',
      'route add 10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink',
      'neigh add 10.244.1.0 lladdr 0e:00:00:00:00:01 dev flannel.1 nud permanent',
      'route add 10.252.0.0/24 via 192.168.173.11 dev eth0',
    ]
    const must = async (file: string, args: string[], input?: string) => {
      const r = await sh(file, args, {input})
      expect(r.exitCode, `${file} ${args.join(' ')}: ${r.stderr}`).to.equal(0)
    }
    for (const step of steps) await must('ip', ['-n', ns, ...step.split(' ')])
    await must('bridge', ['-n', ns, 'fdb', 'add', '0e:00:00:00:00:01', 'dev', 'flannel.1', 'dst', '192.168.173.11', 'self', 'permanent'])
    await must('ip', ['netns', 'exec', ns, 'iptables-nft', '-A', 'FORWARD', '-s', '10.244.0.0/16', '-j', 'ACCEPT'])
    await must('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], 'table ip flannel-ipv4 { chain forward { type filter hook forward priority 1; policy accept; ip saddr 10.244.0.0/16 accept; }; }\n'
      + 'table inet filter { chain forward { type filter hook forward priority 0; policy drop; }; }\n')

    const rewritten = {count: 0}
    const read = async (oneAfterAnother: boolean) => {
      const session = new RealRunner({kind: 'netns', name: ns}, undefined, {shellSession: true})
      try {
        const host = new HostAdapter(oneAfterAnother ? asOldScript(session, rewritten) : session)
        const snap = await host.snapshot()
        return {snap, flavour: host.iptablesFlavour, nftInstalled: host.nftInstalled, nftReadProblem: host.nftReadProblem}
      } finally {
        await session.close()
      }
    }
    const [sideBySide, oneAfterAnother] = [await read(false), await read(true)]
    expect(rewritten.count, 'the old script ran').to.equal(1)
    const steady = (r: typeof sideBySide) => ({...r, snap: withoutIpv6Settling(r.snap)})
    expect(steady(sideBySide)).to.deep.equal(steady(oneAfterAnother))
    expect(sideBySide.snap.fdb?.some(f => f.dev === 'flannel.1' && f.dst === '192.168.173.11')).to.equal(true)
    expect(sideBySide.snap.neighbors?.some(n => n.dev === 'flannel.1' && n.dst === '10.244.1.0')).to.equal(true)
    expect(sideBySide.snap.iptables?.rules.some(r => r.chain === 'FORWARD' && r.spec === '-s 10.244.0.0/16 -j ACCEPT')).to.equal(true)
    expect(sideBySide.snap.flannelNft).to.not.equal(undefined)
    expect(sideBySide.snap.nftables?.length).to.be.above(0)

    // nft installed but failing: the same problem named either way
    const bin = join(dir, 'bin-failing-nft')
    await mkdir(bin, {recursive: true})
    await writeFile(join(bin, 'nft'), '#!/bin/sh\necho "Error: Could not process rule: Operation not permitted" >&2\nexit 1\n', {mode: 0o755})
    const path = process.env.PATH
    process.env.PATH = `${bin}:${path}`
    try {
      const [a, b] = [await read(false), await read(true)]
      // flannel.1 may still be joining its IPv6 groups here, as in the reads above
      expect(steady(a)).to.deep.equal(steady(b))
      expect(a.nftReadProblem).to.include('Operation not permitted')
    } finally {
      process.env.PATH = path
    }
  })
})
