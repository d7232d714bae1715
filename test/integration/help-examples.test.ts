/**
 * The examples in --help run as written (real kernel): a lab is brought up and every example of
 * the read-only commands runs through a shell where `flannelctl` is the built CLI. Lab commands,
 * trace and doctor run on this machine; node commands (status, peer list, lease list) run inside
 * lab node n1, where a person would type them. An example that names a lab gets this test's lab
 * instead; one that names none finds it through FLANNELCTL_LAB, as a user's shell would.
 * Each must exit 0 or 1 (a verdict), never 2 (usage) or 3 (a program failed).
 */
import {expect} from 'chai'
import {execa} from 'execa'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {Command} from '@oclif/core'
import {BIN, cli, uniqueLab} from '../helpers/cli.js'
import {Lab, loadLab, nodeEnv, type LabState} from '../../src/services/lab.js'
import Trace from '../../src/commands/trace.js'
import Doctor from '../../src/commands/doctor.js'
import LabStatus from '../../src/commands/lab/status.js'
import LabExec from '../../src/commands/lab/exec.js'
import PeerList from '../../src/commands/peer/list.js'
import Status from '../../src/commands/status.js'
import LeaseList from '../../src/commands/lease/list.js'

type Where = 'machine' | 'node'

const COMMANDS: {id: string; command: Command.Class; where: Where}[] = [
  {id: 'trace', command: Trace, where: 'machine'},
  {id: 'doctor', command: Doctor, where: 'machine'},
  {id: 'lab status', command: LabStatus, where: 'machine'},
  {id: 'lab exec', command: LabExec, where: 'machine'},
  {id: 'peer list', command: PeerList, where: 'node'},
  {id: 'status', command: Status, where: 'node'},
  {id: 'lease list', command: LeaseList, where: 'node'},
]

/** The command lines of a command's examples, as --help prints them. */
export function exampleLines(command: Command.Class): string[] {
  const examples = (command.examples ?? []) as (string | {command: string})[]
  return examples.map(e => (typeof e === 'string' ? e : e.command).replace(/<%=\s*config\.bin\s*%>/g, 'flannelctl'))
}

/** An example that names a lab gets this test's lab in its place. */
export function withLab(line: string, lab: string): string {
  return line.replace(/(\s(?:--lab|-l|--name|-n)(?:\s+|=))[a-z][a-z0-9]*/g, `$1${lab}`)
}

describe('--help examples run as written in a lab (real kernel)', function () {
  this.timeout(300000)
  const name = uniqueLab('phe')
  let state: LabState
  let cwd: string

  before(async () => {
    // An etcd lab: lease list's example reads the lab's etcd by address.
    const up = await cli(['lab', 'up', '--name', name, '--store', 'etcd'])
    if (up.exitCode !== 0) throw new Error(`lab up failed: ${up.stderr}`)
    state = await loadLab(name)
    cwd = await mkdtemp(join(tmpdir(), 'fc-examples-'))
    // What the examples expect to find where they run: an inventory of live hosts, a snapshot directory.
    const inventory = [
      'nodes:', ...state.nodes.map(n => `  - {name: ${n.name}, exec: "netns:${n.netns}"}`),
      'pods:', ...state.pods.map(p => `  - {name: ${p.name}, ip: ${p.ip}, node: ${p.node}, netns: ${p.netns}}`),
    ].join('\n') + '\n'
    await writeFile(join(cwd, 'hosts.yaml'), inventory)
    const snap = await cli(['collect', '--lab', name, '--out', join(cwd, 'snap')])
    if (snap.exitCode !== 0) throw new Error(`collect failed: ${snap.stderr}`)
  })

  after(async () => {
    await new Lab().down(name) // the service, not the CLI: a concurrent rebuild of dist must not leave the lab up
    if (cwd) await rm(cwd, {recursive: true, force: true})
  })

  async function run(line: string, where: Where): Promise<{exitCode: number; stdout: string; stderr: string}> {
    const script = `flannelctl() { "$FC_NODE" "$FC_BIN" "$@"; }\n${line}`
    const env: Record<string, string> = {FC_NODE: process.execPath, FC_BIN: BIN, FLANNELCTL_LAB: name, NO_COLOR: '1'}
    const node = state.nodes[0]
    const [file, args] = where === 'node' && !/^flannelctl lab /.test(line)
      ? ['ip', ['netns', 'exec', node.netns, 'sh', '-c', script]]
      : ['sh', ['-c', script]]
    if (where === 'node') Object.assign(env, nodeEnv(node, state))
    const r = await execa(file, args as string[], {cwd, env, reject: false, input: ''})
    return {exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr)}
  }

  for (const c of COMMANDS) {
    it(`flannelctl ${c.id}: every example exits 0 or 1`, async () => {
      const lines = exampleLines(c.command)
      expect(lines.length, 'examples').to.be.greaterThan(1)
      for (const example of lines) {
        expect(example.startsWith('flannelctl '), example).to.equal(true)
        const line = withLab(example, name)
        const r = await run(line, c.where)
        expect([0, 1], `${line}\nexit ${r.exitCode}\n${r.stderr}${r.stdout.slice(0, 2000)}`).to.include(r.exitCode)
        expect(r.stderr, line).to.not.match(/^Error: /m)
        expect(r.stdout.trim(), `${line} printed nothing`).to.not.equal('')
      }
    })
  }

  it('doctor on one lab node reads the store that node\'s init recorded (its state file is not at the default path)', async () => {
    const r = await run('flannelctl lab exec n1 -- flannelctl doctor', 'machine')
    expect(r.exitCode, r.stderr).to.equal(0)
    expect(r.stderr).to.not.contain('without a store')
    expect(r.stderr).to.not.contain('could not be read')
  })

  it('the examples of lab commands that name no lab use FLANNELCTL_LAB', async () => {
    const r = await run('flannelctl lab status', 'machine')
    expect(r.exitCode, r.stderr).to.equal(0)
    expect(r.stdout).to.contain(`fc-${name}-n1`)
  })
})
