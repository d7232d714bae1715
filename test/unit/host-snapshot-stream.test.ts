/**
 * HostAdapter.snapshot parses each table as soon as its program's output is complete, where the
 * runner passes the output on as it comes (a shell session); the snapshot, and any error a table
 * gives, must be what parsing everything at the end gives. A fake runner answers the read script
 * from a fixture host's tables, once in pieces (any cuts, both pipes interleaved), once whole.
 */
import {expect} from 'chai'
import fc from 'fast-check'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {HostAdapter} from '../../src/adapters/host.js'
import type {Command, CommandResult, Runner} from '../../src/adapters/runner.js'

const dir = join('test', 'fixtures', 'snapshots', 'kube-proxy-clusterip', 'n1')
const table = (name: string) => readFileSync(join(dir, name), 'utf8').trim()
const sysctls = JSON.parse(table('sysctl.json')) as Record<string, string>

/** What each program of the read script prints on this host, found by how its line starts. */
function output(program: string, routes: string): CommandResult {
  const ok = (stdout: string) => ({stdout, stderr: '', exitCode: 0})
  if (program.includes('ip -d -j link')) return ok(`${table('ip-link.json')}\n`)
  if (program.includes('ip -j -batch')) return ok(`${[table('ip-addr.json'), routes, table('ip-neigh.json'), table('ip-rule.json')].join('\n')}\n`)
  if (program.includes('bridge -j fdb')) return ok(`${table('bridge-fdb.json')}\n`)
  if (program.includes('iptables-nft-save')) return ok(readFileSync(join(dir, 'iptables-save.txt'), 'utf8'))
  if (program.includes('iptables-legacy-save')) return ok('')
  if (program.includes('nft -j list tables')) return {stdout: '', stderr: '', exitCode: 127}
  if (program.includes('/proc/sys/')) {
    return ok(Object.entries(sysctls).map(([k, v]) => `/proc/sys/${k.replaceAll('.', '/')}:${v}\n`).join(''))
  }
  throw new Error(`no answer for ${program.slice(0, 60)}`)
}

/** Answers the snapshot's read script, telling onOutput its output in the pieces `cuts` give. */
class FakeHost implements Runner {
  readonly target = {kind: 'local'} as const
  constructor(private readonly routes: string, private readonly cuts?: {out: number[]; err: number[]; order: boolean[]}) {}

  async run(cmd: Command): Promise<CommandResult> {
    if (!cmd.framedScript) throw new Error(`unexpected ${cmd.file}`)
    const marker = /flannelctl-[0-9a-f]{24}/.exec(cmd.input!)![0]
    // each program's text ends with its frame's last printf (a here-document's lines then open the next)
    const programs = cmd.input!.split(`${marker} >&2\n`).slice(0, -1)
    let stdout = ''
    let stderr = ''
    for (const p of programs) {
      const r = output(p, this.routes)
      stdout += `${r.stdout}\n${marker} ${r.exitCode}\n`
      stderr += `${r.stderr}\n${marker}\n`
    }
    if (this.cuts && cmd.onOutput) {
      const pieces = (text: string, at: number[]) => {
        const points = [...new Set(at.map(n => n % (text.length + 1)))].sort((x, y) => x - y)
        return [...points, text.length].map((q, i) => text.slice(i === 0 ? 0 : points[i - 1], q))
      }
      const out = pieces(stdout, this.cuts.out)
      const err = pieces(stderr, this.cuts.err)
      for (let i = 0; out.length + err.length > 0; i++) {
        if (err.length === 0 || (out.length > 0 && (this.cuts.order[i] ?? true))) cmd.onOutput('stdout', out.shift()!)
        else cmd.onOutput('stderr', err.shift()!)
      }
    }
    return {stdout, stderr, exitCode: 0}
  }
}

const outcome = (p: Promise<unknown>) => p.then(value => ({value}), (error: Error) => ({error: error.message}))

describe('HostAdapter.snapshot with output passed on as it comes', () => {
  const cuts = fc.record({out: fc.array(fc.nat(), {maxLength: 40}), err: fc.array(fc.nat(), {maxLength: 10}), order: fc.array(fc.boolean(), {maxLength: 60})})

  it('gives the snapshot that parsing at the end gives, for any pieces', async () => {
    const routes = table('ip-route.json')
    const whole = await new HostAdapter(new FakeHost(routes)).snapshot()
    expect(whole.routes.length).to.be.greaterThan(3)
    expect(whole.iptables?.rules.length).to.be.greaterThan(3)
    await fc.assert(fc.asyncProperty(cuts, async c => {
      expect(await new HostAdapter(new FakeHost(routes, c)).snapshot()).to.deep.equal(whole)
    }), {numRuns: 30})
  })

  it('throws the error that parsing at the end throws', async () => {
    const broken = table('ip-route.json').replace('"dst":"10.60.2.0/24"', '"dst":42')
    const whole = await outcome(new HostAdapter(new FakeHost(broken)).snapshot())
    expect(whole).to.have.property('error').that.matches(/dst is not a string/)
    await fc.assert(fc.asyncProperty(cuts, async c => {
      expect(await outcome(new HostAdapter(new FakeHost(broken, c)).snapshot())).to.deep.equal(whole)
    }), {numRuns: 10})
  })
})
