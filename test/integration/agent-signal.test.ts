/**
 * `sync --watch` under a service manager: SIGTERM (and Ctrl-C's SIGINT) end the agent between
 * rounds with exit 0 and a line saying so, and leave the host as it was built. A `reset` under a
 * running agent ends it too (exit 2, saying why), instead of retrying forever.
 */
import {expect} from 'chai'
import {execa} from 'execa'
import {existsSync} from 'node:fs'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {BIN, cli, inNs, outputMatches, sh, uniqueLab} from '../helpers/cli.js'

/** The agent printed its first round: it is in its loop. */
async function firstRound(agent: ReturnType<typeof execa>): Promise<void> {
  // whatever it did: a test before may have left a peer's route for it to remove
  if (!await outputMatches(agent.stdout!, /^sync: lease .*\n(up to date|applied)/m)) throw new Error('no first round within 20 s')
}

describe('sync --watch stops on a signal (real namespace)', function () {
  this.timeout(60000)
  const ns = `fca-${uniqueLab('a')}`
  let dir: string
  const args = () => ['--store', `file:${join(dir, 'store')}`, '--subnet-file', join(dir, 'subnet.env'),
    '--cni-conf-dir', join(dir, 'cni'), '--state-file', join(dir, 'node.json')]

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fca-'))
    await sh('ip', ['netns', 'add', ns])
    await sh('ip', ['-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0p'])
    await sh('ip', ['-n', ns, 'addr', 'add', '192.168.171.1/24', 'dev', 'eth0'])
    for (const d of ['lo', 'eth0', 'eth0p']) await sh('ip', ['-n', ns, 'link', 'set', d, 'up'])
    const r = await cli(['init', '--network', '10.244.0.0/16', '--iface', 'eth0', ...args()], {netns: ns})
    expect(r.exitCode, r.stderr).to.equal(0)
  })
  after(async () => {
    await sh('ip', ['netns', 'del', ns])
    await rm(dir, {recursive: true, force: true})
  })

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal}: exit 0, says so, the host keeps its network`, async () => {
      const links = await inNs(ns, 'ip', '-br', 'link')
      const agent = execa('ip', ['netns', 'exec', ns, process.execPath, BIN, 'sync', '--watch', ...args()], {reject: false, env: {NO_COLOR: '1'}})
      await firstRound(agent)
      agent.kill(signal)
      const r = await agent
      expect(r.exitCode, String(r.stderr)).to.equal(0)
      expect(String(r.stderr)).to.contain(`sync: stopped by ${signal}; the host keeps its network as last synced`)
      expect(await inNs(ns, 'ip', '-br', 'link')).to.equal(links)
    })
  }

  it('an idle agent is quiet: rounds that change nothing print nothing; a new peer is printed', async () => {
    const agent = execa('ip', ['netns', 'exec', ns, process.execPath, BIN, 'sync', '--watch', '--interval', '1', ...args()],
      {reject: false, env: {NO_COLOR: '1', DEBUG: 'flannelctl:sync'}, timeout: 30000})
    let out = ''
    agent.stdout!.on('data', (d: Buffer) => void (out += String(d)))
    try {
      // the first round and three periodic ones (each logs its end on stderr)
      expect(await outputMatches(agent.stderr!, /(published and recorded[\s\S]*){4}/), 'four rounds within 20 s').to.equal(true)
      expect(out.match(/^sync: lease /gm)).to.have.length(1)
      await writeFile(join(dir, 'store', 'coreos.com', 'network', 'subnets', '10.244.250.0-24'),
        JSON.stringify({PublicIP: '192.168.171.9', PublicIPv6: null, BackendType: 'host-gw'}))
      expect(await outputMatches(agent.stdout!, /ip route replace 10\.244\.250\.0\/24 via 192\.168\.171\.9 dev eth0/), 'the new peer printed').to.equal(true)
      expect(out.match(/^sync: lease /gm), 'only the first round is unlabelled').to.have.length(1)
      // the round that printed the peer names what woke it: the store's watch, or the 1 s timer first
      expect(out.match(/^sync \((store event|periodic resync)\): lease /gm)).to.have.length(1)
      // and the rounds after it, back to changing nothing, print nothing either: an 'up to date'
      // line there would read as one more round that found something
      expect(await outputMatches(agent.stderr!, /(published and recorded[\s\S]*){3}/), 'three more rounds within 20 s').to.equal(true)
      expect(out.match(/^sync \(/gm), out).to.have.length(1)
    } finally {
      agent.kill('SIGTERM')
      await agent
      await rm(join(dir, 'store', 'coreos.com', 'network', 'subnets', '10.244.250.0-24'), {force: true})
    }
  })

  it('--json: every round is one object naming what woke it (start, then store event or periodic resync)', async () => {
    const agent = execa('ip', ['netns', 'exec', ns, process.execPath, BIN, 'sync', '--watch', '--json', '--interval', '1', ...args()],
      {reject: false, env: {NO_COLOR: '1'}, timeout: 30000})
    const peer = join(dir, 'store', 'coreos.com', 'network', 'subnets', '10.244.251.0-24')
    try {
      expect(await outputMatches(agent.stdout!, /"trigger":"start"/), 'the first round').to.equal(true)
      await writeFile(peer, JSON.stringify({PublicIP: '192.168.171.10', PublicIPv6: null, BackendType: 'host-gw'}))
      expect(await outputMatches(agent.stdout!, /10\.244\.251\.0\/24 via 192\.168\.171\.10/), 'the new peer printed').to.equal(true)
    } finally {
      agent.kill('SIGTERM')
      await rm(peer, {force: true})
    }
    const rounds = String((await agent).stdout).trim().split('\n').map(l => JSON.parse(l) as {trigger: string; changes: string[]})
    expect(rounds[0].trigger).to.equal('start')
    const added = rounds.find(r => r.changes.some(c => c.includes('10.244.251.0/24')))
    expect(added?.trigger).to.be.oneOf(['store event', 'periodic resync'])
  })

  it('a second agent on the host says the first one runs; after the first was killed (-9), a new one does not', async () => {
    const start = () => execa('ip', ['netns', 'exec', ns, process.execPath, BIN, 'sync', '--watch', ...args()], {reject: false, env: {NO_COLOR: '1'}, timeout: 30000})
    const first = start()
    await firstRound(first)
    const second = start()
    try {
      expect(await outputMatches(second.stderr!, /warning: another sync --watch \(pid \d+, since [^)]+\) already keeps this host \(.*node\.json\) in sync; both take turns, doing every round twice: stop one of them/),
        'the second agent warns').to.equal(true)
    } finally {
      second.kill('SIGTERM')
      await second
    }
    first.kill('SIGKILL')
    await first
    const third = start()
    let err = ''
    third.stderr!.on('data', (d: Buffer) => void (err += String(d)))
    await firstRound(third)
    // claimed before the first round (it was after it: a reset or a second agent during a long first round did not see this one)
    expect(existsSync(join(dir, 'node.json.agent')), 'the record exists once the first round printed').to.equal(true)
    third.kill('SIGKILL')
    await third
    expect(err).to.not.contain('another sync --watch')
    // what a SIGKILLed agent leaves, reset removes
    expect(existsSync(join(dir, 'node.json.agent')), `${err}\n${(await sh('ls', ['-la', dir])).stdout}`).to.equal(true)
    expect((await cli(['reset', '--state-file', join(dir, 'node.json')], {netns: ns})).exitCode).to.equal(0)
    expect(existsSync(join(dir, 'node.json.agent'))).to.equal(false)
    const again = await cli(['init', '--network', '10.244.0.0/16', '--iface', 'eth0', ...args()], {netns: ns})
    expect(again.exitCode, again.stderr).to.equal(0)
  })

  it('an agent whose first round fails leaves no record behind (it is made before that round)', async () => {
    const r = await cli(['sync', '--watch', '--store', 'etcd://127.0.0.1:1', ...args().slice(2)], {netns: ns})
    expect(r.exitCode, r.stderr).to.equal(3)
    expect(r.stderr).to.contain('etcd at 127.0.0.1:1 is unreachable')
    expect(existsSync(join(dir, 'node.json.agent'))).to.equal(false)
  })

  it('reset under a running agent: the agent stops, exit 2, saying the host was reset', async () => {
    const agent = execa('ip', ['netns', 'exec', ns, process.execPath, BIN, 'sync', '--watch', '--interval', '1', ...args()], {reject: false, env: {NO_COLOR: '1'}, timeout: 30000})
    await firstRound(agent)
    const reset = await cli(['reset', '--state-file', join(dir, 'node.json')], {netns: ns})
    expect(reset.exitCode, reset.stderr).to.equal(0)
    const r = await agent
    expect(r.exitCode, String(r.stderr)).to.equal(2)
    expect(String(r.stderr)).to.match(/^Error: this host has no flannelctl state at .*node\.json: the host was reset while sync --watch ran; the agent stops$/m)
    // the commands carry the agent's flags: init records them again, sync --watch needs the state file
    expect(String(r.stderr)).to.contain(`Hint: to set it up again: flannelctl init --state-file ${join(dir, 'node.json')} --subnet-file ${join(dir, 'subnet.env')} `
      + `--cni-conf-dir ${join(dir, 'cni')} --store file:${join(dir, 'store')}, then flannelctl sync --state-file ${join(dir, 'node.json')} --watch`)
    expect(await inNs(ns, 'ip', '-br', 'link')).to.not.contain('cni0')
  })
})
