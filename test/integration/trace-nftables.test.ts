/**
 * A node with native nftables beside flannel's iptables (firewalld, nftables.service): trace does
 * not evaluate native rules, so where such a chain may drop the packet it says INSUFFICIENT_INFO
 * and names the chain, never DELIVERED past a drop the kernel makes; `collect` keeps the ruleset,
 * so an offline trace says the same. Checked against real ping on a 2-node vxlan lab.
 */
import {expect} from 'chai'
import {mkdtemp, readdir, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {cli, inNs, sh, uniqueLab} from '../helpers/cli.js'
import {Lab, loadLab, type LabState} from '../../src/services/lab.js'

describe('trace on a node with native nftables (real kernel)', function () {
  this.timeout(120000)
  const name = uniqueLab('nft')
  let state: LabState
  let n1: string
  let pod2: {name: string; ip: string}

  const ping = async () => (await sh('ip', ['netns', 'exec', state.pods[0].netns, 'ping', '-c', '1', '-W', '1', pod2.ip])).exitCode === 0
  const trace = async (...from: string[]) => {
    const r = await cli(['trace', state.pods[0].name, pod2.name, ...(from.length > 0 ? from : ['--lab', name]), '--json'])
    return {exitCode: r.exitCode, t: JSON.parse(r.stdout), stderr: r.stderr}
  }
  const nft = (...args: string[]) => inNs(n1, 'nft', ...args)

  before(async () => {
    const up = await cli(['lab', 'up', '--name', name, '--nodes', '2', '--pods', '1'])
    if (up.exitCode !== 0) throw new Error(`lab up failed: ${up.stderr}`)
    state = await loadLab(name)
    n1 = state.nodes[0].netns
    pod2 = state.pods.find(p => p.node === state.nodes[1].name)!
  })
  after(async () => {
    await new Lab().down(name)
  })

  it('a forward chain that drops by policy: the kernel drops, trace stops there and names the chain, live and from a collected snapshot', async () => {
    await nft('add', 'table', 'inet', 'fcfw')
    await nft('add', 'chain', 'inet', 'fcfw', 'forwarding', '{ type filter hook forward priority filter + 10; policy drop; }')
    expect(await ping(), 'the kernel drops forwarded pod traffic').to.equal(false)
    const live = await trace()
    expect(live.exitCode).to.equal(1)
    expect(live.t.disposition).to.equal('INSUFFICIENT_INFO')
    expect(live.t.failure.node).to.equal(state.nodes[0].name)
    expect(live.t.failure.evidence).to.equal('table inet fcfw chain forwarding { type filter hook forward priority 10; policy drop; }')
    expect(live.t.failure.reason).to.match(/native nftables chain inet fcfw forwarding \(hook forward, 0 rules, policy drop\) on \S+ sees icmp .*: it drops what none of its rules accepts/)
    expect(live.t.failure.fix).to.deep.equal([{node: state.nodes[0].name, command: 'nft list chain inet fcfw forwarding'}])
    // the command reads what would settle it: not called a fix
    const human = await cli(['trace', state.pods[0].name, pod2.name, '--lab', name], {env: {NO_COLOR: '1'}})
    expect(human.stdout).to.contain(`  Find out (on ${state.nodes[0].name}): nft list chain inet fcfw forwarding`)

    const dir = await mkdtemp(join(tmpdir(), 'fcnft-'))
    try {
      const c = await cli(['collect', '--lab', name, '--out', join(dir, 'snap')])
      expect(c.exitCode, c.stderr).to.equal(0)
      expect(await readdir(join(dir, 'snap', state.nodes[0].name))).to.include('nft-ruleset.json')
      const offline = await trace('--snapshot', join(dir, 'snap'))
      expect(offline.t.disposition).to.equal('INSUFFICIENT_INFO')
      expect(offline.t.failure.evidence).to.equal(live.t.failure.evidence)
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })

  it('a rule that rejects under an accepting policy: still unknown to trace, as the kernel may reject', async () => {
    await nft('flush', 'table', 'inet', 'fcfw')
    await nft('delete', 'chain', 'inet', 'fcfw', 'forwarding')
    await nft('add', 'chain', 'inet', 'fcfw', 'forwarding', '{ type filter hook forward priority filter + 10; policy accept; }')
    await nft('add', 'rule', 'inet', 'fcfw', 'forwarding', 'ip', 'daddr', pod2.ip, 'reject')
    expect(await ping()).to.equal(false)
    const r = await trace()
    expect(r.t.disposition).to.equal('INSUFFICIENT_INFO')
    expect(r.t.failure.reason).to.contain('its rules drop or reject what they match')
  })

  it('a chain that only counts: DELIVERED, as the kernel delivers; a nat chain that masquerades is a named assumption', async () => {
    await nft('flush', 'chain', 'inet', 'fcfw', 'forwarding')
    await nft('add', 'rule', 'inet', 'fcfw', 'forwarding', 'counter')
    await nft('add', 'chain', 'inet', 'fcfw', 'postnat', '{ type nat hook postrouting priority srcnat + 10; policy accept; }')
    await nft('add', 'rule', 'inet', 'fcfw', 'postnat', 'ip', 'daddr', '203.0.113.0/24', 'masquerade')
    expect(await ping()).to.equal(true)
    const r = await trace()
    expect(r.exitCode, r.stderr).to.equal(0)
    expect(r.t.disposition).to.equal('DELIVERED')
    const assumed = r.t.warnings.filter((w: {code: string}) => w.code === 'ASSUMED').map((w: {message: string}) => w.message)
    expect(assumed).to.include(`native nftables chain inet fcfw postnat (hook postrouting, 1 rule, policy accept) on ${state.nodes[0].name} was not evaluated: assumed none of its rules rewrites its addresses (nft list chain inet fcfw postnat)`)
    expect(assumed.join('\n')).to.not.contain('fcfw forwarding')
  })
})
