import {expect} from 'chai'
import {readFileSync} from 'node:fs'
import {spawnSync} from 'node:child_process'
import {captureHost} from '../../src/adapters/collect.js'
import {notInstalled, type Command, type CommandResult, type Runner} from '../../src/adapters/runner.js'
import {NFT_NOT_INSTALLED} from '../../src/adapters/snapshot-dir.js'
import type {Target} from '../../src/adapters/target.js'

const real = (name: string): string => readFileSync(new URL(`../fixtures/parse/real/${name}`, import.meta.url), 'utf8')

/** A host whose `ip` predates `-j` (CentOS 7's iproute 3.10): only the plain forms answer. */
class OldIproute2 implements Runner {
  readonly target: Target = {kind: 'ssh', destination: 'root@old-node'}
  readonly ran: string[] = []
  async run(cmd: Command): Promise<CommandResult> {
    const line = [cmd.file, ...cmd.args].join(' ')
    this.ran.push(line)
    if (cmd.file === 'sh') {
      // the framed reads (iptables saves, sysctls): none of their programs is on this host
      const r = spawnSync('/bin/sh', cmd.args, {input: cmd.input, env: {PATH: '/nonexistent'}, encoding: 'utf8'})
      return {stdout: r.stdout, stderr: r.stderr, exitCode: r.status ?? 1}
    }
    if (cmd.file === 'ip' && cmd.args.includes('-j')) return {stdout: '', stderr: 'Option "-j" is unknown, try "ip -help".\n', exitCode: 255}
    const plain: Record<string, string> = {
      'ip -d link show': real('ip-link.txt'), 'ip addr show': real('ip-addr.txt'), 'ip -4 route show table all': real('ip-route.txt'),
      'ip rule show': real('ip-rule-default.txt'), 'ip neigh show nud all': real('ip-neigh.txt'), 'bridge -j fdb show': real('bridge-fdb.json'),
      // no path MTU learned: the route cache prints nothing
      'ip -4 route show cache': '',
    }
    const out = plain[line]
    return out === undefined ? {stdout: '', stderr: 'not here', exitCode: 1} : {stdout: out, stderr: '', exitCode: 0}
  }
}

describe('collect from a host whose iproute2 has no -j', () => {
  it('reads the plain text form of each table the JSON form is refused for', async () => {
    const runner = new OldIproute2()
    const host = await captureHost(runner, 'old', 'json')
    expect(host.tables['ip-link']?.format).to.equal('txt')
    expect(host.tables['ip-route']?.format).to.equal('txt')
    expect(host.tables['bridge-fdb']?.format).to.equal('json')
    expect(host.snapshot.links?.find(l => l.name === 'flannel.1')?.vxlan?.id).to.equal(1)
    expect(host.snapshot.routes?.find(r => r.dst === '10.244.2.0/24')).to.deep.include({gateway: '10.244.2.0', onlink: true})
    expect(host.snapshot.neighbors?.length).to.be.greaterThan(0)
  })

  it('an optional table whose program answers with an error is unread, not empty: nftables that cannot be read is said', async () => {
    const host = await captureHost(new OldIproute2(), 'old', 'json')
    expect(host.tables['nft-ruleset']).to.equal(undefined)
    expect(host.unread).to.deep.equal(['nft -j list ruleset: not here', 'tc -j qdisc show: not here', 'ipset save: not here'])
    // a trace over this read says where native chains went unseen
    expect(host.snapshot.nftRulesetUnread).to.equal(true)
  })

  it('a host without nft installed has no native chains: its ruleset file says so, and nothing is left unknown', async () => {
    const runner = new OldIproute2()
    const noNft: Runner = {target: runner.target, run: async cmd => {
      if (cmd.file === 'nft') throw notInstalled('nft', runner.target)
      return runner.run(cmd)
    }}
    const host = await captureHost(noNft, 'old', 'json')
    expect(host.tables['nft-ruleset']).to.deep.equal({format: 'txt', text: `${NFT_NOT_INSTALLED}\n`})
    expect([host.snapshot.nftables, host.snapshot.nftRulesetUnread]).to.deep.equal([undefined, undefined])
    expect(host.unread).to.deep.equal(['tc -j qdisc show: not here', 'ipset save: not here'])
  })

  it('an unreachable host is still one error naming it', async () => {
    const down: Runner = {target: {kind: 'ssh', destination: 'root@gone'}, run: async () => ({stdout: '', stderr: 'ssh: connect to host gone port 22: No route to host\n', exitCode: 255})}
    try {
      await captureHost(down, 'gone', 'json')
    } catch (e) {
      expect((e as Error).message).to.equal("cannot read host 'gone' (ssh:root@gone): ssh: connect to host gone port 22: No route to host")
      return
    }
    throw new Error('no error')
  })
})
