/**
 * reset puts back net.ipv4.ip_forward where init switched it on (a lab node's namespace starts
 * with it off), keeps it on while docker0 needs it, and leaves it for a record of an older
 * flannelctl, saying so each time (real kernel).
 */
import {expect} from 'chai'
import {readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {cli, inNs, shIn, uniqueLab} from '../helpers/cli.js'
import {loadLab, Lab, type LabState} from '../../src/services/lab.js'

describe('reset and ip_forward (real kernel)', function () {
  this.timeout(120000)
  const name = uniqueLab('fcdf')
  let state: LabState

  before(async function () {
    this.timeout(60000)
    const up = await cli(['lab', 'up', '--name', name, '--nodes', '1', '--pods', '1'])
    if (up.exitCode !== 0) throw new Error(`lab up failed: ${up.stderr}`)
    state = await loadLab(name)
  })

  after(async () => {
    await new Lab().down(name)
  })

  it('init notes that it switched ip_forward on; reset switches it off, not while docker0 needs it, and not on an older record', async () => {
    const n1 = state.nodes[0]
    const netns = n1.netns
    const forwarding = async () => (await inNs(netns, 'cat', '/proc/sys/net/ipv4/ip_forward')).trim()
    const reset = (...more: string[]) => cli(['lab', 'exec', '--name', name, n1.name, '--', 'flannelctl', 'reset', ...more])
    const recordPath = join(state.dir, n1.name, 'node.json')
    const record = JSON.parse(await readFile(recordPath, 'utf8'))
    expect(record.sysctlsBefore).to.deep.equal({'net.ipv4.ip_forward': '0'})
    expect(await forwarding()).to.equal('1')

    const dry = await reset('--dry-run')
    expect(dry.exitCode, dry.stderr).to.equal(0)
    expect(dry.stdout).to.match(/sysctl -w net\.ipv4\.ip_forward=0 +# flannelctl's init set it; it was 0 before, and nothing else here needs it/)

    await inNs(netns, 'ip', 'link', 'add', 'docker0', 'type', 'bridge')
    await inNs(netns, 'ip', 'addr', 'add', '172.17.0.1/16', 'dev', 'docker0')
    const docker = await reset('--dry-run')
    expect(docker.stdout).to.not.contain('ip_forward')
    expect(docker.stderr).to.contain('note: net.ipv4.ip_forward stays 1, though flannelctl\'s init set it (it was 0): docker0 (a bridge with 172.17.0.1/16')
    await inNs(netns, 'ip', 'link', 'del', 'docker0')

    // an nftables-only firewall that forwards (before: only iptables' FORWARD was read, and ip_forward went off under it)
    await shIn(netns, 'nft add table inet fcfw && nft \'add chain inet fcfw forward { type filter hook forward priority 0; policy drop; }\' && nft add rule inet fcfw forward iifname wg0 accept')
    try {
      const nft = await reset('--dry-run')
      expect(nft.stdout).to.not.contain('ip_forward')
      expect(nft.stderr).to.contain('note: net.ipv4.ip_forward stays 1, though flannelctl\'s init set it (it was 0): an nftables forward chain of other software that accepts (inet fcfw forward: iifname "wg0" accept) needs it')
    } finally {
      await inNs(netns, 'nft', 'delete', 'table', 'inet', 'fcfw')
    }

    const {sysctlsBefore: _, ...older} = record
    await writeFile(recordPath, JSON.stringify(older))
    const old = await reset('--dry-run')
    expect(old.stdout).to.not.contain('ip_forward')
    expect(old.stderr).to.contain('note: net.ipv4.ip_forward stays 1: this host\'s record was written by an older flannelctl')
    await writeFile(recordPath, JSON.stringify(record))

    const done = await reset()
    expect(done.exitCode, done.stderr).to.equal(0)
    expect(done.stdout).to.contain('sysctl -w net.ipv4.ip_forward=0')
    expect(await forwarding()).to.equal('0')
    // init again with no flags, as on the node before: before, "cannot tell which interface carries node traffic" (a node has no default route)
    const again = await cli(['lab', 'exec', '--name', name, n1.name, '--', 'flannelctl', 'init'])
    expect(again.exitCode, again.stderr).to.equal(0)
    expect(await forwarding()).to.equal('1')
  })
})
