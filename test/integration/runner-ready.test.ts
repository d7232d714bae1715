/**
 * `sync --watch` keeps its next `ip -batch -` started (RealRunner batchesReady): the round that
 * needs it writes its lines to a program already waiting. It must behave as a program started
 * afresh: the same result and exit code, a fresh start when the waiting one died, and nothing
 * left running or changed once closed. In a namespace of its own.
 */
import {expect} from 'chai'
import {addNodeNamespace, sh, uniqueLab} from '../helpers/cli.js'
import {RealRunner} from '../../src/adapters/runner.js'

const settle = () => new Promise(resolve => setTimeout(resolve, 200))

describe('a runner that keeps its next batch program started (real namespace)', function () {
  this.timeout(30000)
  const ns = `fcr-${uniqueLab('r')}`
  let runner: RealRunner
  /** pids of `ip -n NS -batch -` processes waiting for this namespace */
  const waiting = async () => (await sh('pgrep', ['-f', `^ip -n ${ns} -batch -$`])).stdout.split('\n').filter(Boolean)
  const routes = async () => (await sh('ip', ['-n', ns, 'route', 'show'])).stdout
  const batch = (lines: string[]) => runner.run({file: 'ip', args: ['-batch', '-'], input: lines.map(l => `${l}\n`).join(''), write: true})

  before(async () => {
    await addNodeNamespace(ns, '192.168.171.1/24')
    runner = new RealRunner({kind: 'netns', name: ns}, undefined, {batchesReady: true})
  })
  after(async () => {
    await runner?.close()
    await sh('ip', ['netns', 'del', ns])
  })

  it('runs each batch like a fresh program, with one program waiting for the next', async () => {
    expect(await waiting()).to.deep.equal([])
    const first = await batch(['route replace 10.251.1.0/24 via 192.168.171.11 dev eth0'])
    expect(first.exitCode).to.equal(0)
    await settle()
    const [pid] = await waiting()
    expect(pid, 'a program waits for the next batch').to.be.a('string')
    const second = await batch(['route replace 10.251.2.0/24 via 192.168.171.12 dev eth0'])
    expect(second).to.deep.equal({stdout: '', stderr: '', exitCode: 0})
    expect(await routes()).to.include('10.251.1.0/24 via 192.168.171.11').and.include('10.251.2.0/24 via 192.168.171.12')
    await settle()
    const now = await waiting()
    expect(now, 'the waiting one ran the batch; a new one waits').to.have.length(1).and.not.include(pid)
  })

  it('reports a failing batch as a fresh program does', async () => {
    await settle()
    expect(await waiting()).to.have.length(1)
    const failed = await batch(['route del 10.251.99.0/24'])
    const fresh = await new RealRunner({kind: 'netns', name: ns}).run({file: 'ip', args: ['-batch', '-'], input: 'route del 10.251.99.0/24\n', write: true})
    expect(failed).to.deep.equal(fresh)
    expect(failed.exitCode).to.not.equal(0)
  })

  it('starts afresh when the waiting program died', async () => {
    await settle()
    const [pid] = await waiting()
    await sh('kill', ['-9', pid])
    await settle()
    const r = await batch(['route replace 10.251.3.0/24 via 192.168.171.13 dev eth0'])
    expect(r.exitCode).to.equal(0)
    expect(await routes()).to.include('10.251.3.0/24 via 192.168.171.13')
  })

  it('keeps as many started as a round ran (vxlan: ip, bridge, ip), so every batch of the next round finds one waiting', async () => {
    await settle()
    const others = await waiting()
    const round = new RealRunner({kind: 'netns', name: ns}, undefined, {batchesReady: true})
    const ip = (line: string) => round.run({file: 'ip', args: ['-batch', '-'], input: `${line}\n`, write: true})
    const bridge = () => round.run({file: 'bridge', args: ['-batch', '-'], input: '', write: true})
    const ours = async () => (await waiting()).filter(pid => !others.includes(pid))
    try {
      for (const [a, b] of [[4, 5], [6, 7]]) {
        expect((await ip(`route replace 10.251.${a}.0/24 via 192.168.171.1${a} dev eth0`)).exitCode).to.equal(0)
        expect((await bridge()).exitCode).to.equal(0)
        expect((await ip(`route replace 10.251.${b}.0/24 via 192.168.171.1${b} dev eth0`)).exitCode).to.equal(0)
        // between rounds, the agent waits for the next event
        await settle()
      }
      const ready = await ours()
      expect(ready, 'two ip programs wait for the next round').to.have.length(2)
      await ip('route replace 10.251.8.0/24 via 192.168.171.18 dev eth0')
      await bridge()
      await ip('route replace 10.251.9.0/24 via 192.168.171.19 dev eth0')
      await settle()
      const now = await ours()
      expect(now.filter(pid => ready.includes(pid)), 'both ran a batch of the round').to.deep.equal([])
      expect(now).to.have.length(2)
      expect(await routes()).to.include('10.251.8.0/24 via 192.168.171.18').and.include('10.251.9.0/24 via 192.168.171.19')
    } finally {
      await round.close()
    }
    expect(await ours()).to.deep.equal([])
  })

  it('leaves nothing running and nothing changed once closed', async () => {
    await settle()
    expect(await waiting()).to.have.length(1)
    const before = await routes()
    await runner.close()
    expect(await waiting()).to.deep.equal([])
    expect(await routes()).to.equal(before)
  })
})
