import {expect} from 'chai'
import {mkdirSync, rmSync, writeFileSync} from 'node:fs'
import {spawnSync} from 'node:child_process'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {captureHost} from '../../src/adapters/collect.js'
import type {Command, CommandResult, Runner} from '../../src/adapters/runner.js'
import {NFT_NOT_INSTALLED} from '../../src/adapters/snapshot-dir.js'
import {tempDirHooks} from '../helpers/temp-dir.js'

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/parse/real/${name}`, import.meta.url))

/**
 * A host whose `ip` predates `-j` (CentOS 7's iproute 3.10): only the plain forms answer. Its programs
 * are shell scripts in a directory of their own, the only one on PATH, so that the read script runs
 * in a real shell, as it does on a host; nft, tc and ipset answer with an error, and `nft` is left
 * out with `nft: false`. Neither iptables nor any other program is there.
 */
function oldIproute2(bin: string, {nft = true} = {}): Runner {
  const program = (name: string, cases: Record<string, string>) => writeFileSync(join(bin, name), `#!/bin/sh\ncase "$*" in\n${
    Object.entries(cases).map(([args, then]) => `  ${args}) ${then};;\n`).join('')}  *) echo 'not here' >&2; exit 1;;\nesac\n`, {mode: 0o755})
  const show = (name: string) => `exec /bin/cat ${fixture(name)}`
  rmSync(bin, {recursive: true, force: true})
  mkdirSync(bin)
  program('ip', {
    '*-j*': 'echo \'Option "-j" is unknown, try "ip -help".\' >&2; exit 255',
    '"-d link show"': show('ip-link.txt'), '"addr show"': show('ip-addr.txt'), '"-4 route show table all"': show('ip-route.txt'),
    '"rule show"': show('ip-rule-default.txt'), '"neigh show nud all"': show('ip-neigh.txt'),
    // no path MTU learned: the route cache prints nothing
    '"-4 route show cache"': 'exit 0',
  })
  program('bridge', {'"-j fdb show"': show('bridge-fdb.json')})
  for (const name of [...(nft ? ['nft'] : []), 'tc', 'ipset']) program(name, {})
  return {
    target: {kind: 'ssh', destination: 'root@old-node'},
    run: async (cmd: Command): Promise<CommandResult> => {
      // the shell is the host's own; what it starts is found on PATH alone
      const r = spawnSync(cmd.file === 'sh' ? '/bin/sh' : cmd.file, cmd.args, {input: cmd.input, env: {PATH: bin}, encoding: 'utf8'})
      return r.error ? {stdout: '', stderr: `sh: ${cmd.file}: not found\n`, exitCode: 127} : {stdout: r.stdout, stderr: r.stderr, exitCode: r.status ?? 1}
    },
  }
}

describe('collect from a host whose iproute2 has no -j', () => {
  let bin = ''
  tempDirHooks('fc-old-iproute2-', dir => {
    bin = join(dir, 'bin')
  })

  it('reads the plain text form of each table the JSON form is refused for', async () => {
    const host = await captureHost(oldIproute2(bin), 'old', 'json')
    expect(host.tables['ip-link']?.format).to.equal('txt')
    expect(host.tables['ip-route']?.format).to.equal('txt')
    expect(host.tables['bridge-fdb']?.format).to.equal('json')
    expect(host.snapshot.links?.find(l => l.name === 'flannel.1')?.vxlan?.id).to.equal(1)
    expect(host.snapshot.routes?.find(r => r.dst === '10.244.2.0/24')).to.deep.include({gateway: '10.244.2.0', onlink: true})
    expect(host.snapshot.neighbors?.length).to.be.greaterThan(0)
  })

  it('an optional table whose program answers with an error is unread, not empty: nftables that cannot be read is said', async () => {
    const host = await captureHost(oldIproute2(bin), 'old', 'json')
    expect(host.tables['nft-ruleset']).to.equal(undefined)
    expect(host.unread).to.deep.equal(['nft -j list ruleset: not here', 'tc -j qdisc show: not here', 'ipset save: not here'])
    // a trace over this read says where native chains went unseen
    expect(host.snapshot.nftRulesetUnread).to.equal(true)
  })

  it('a host without nft installed has no native chains: its ruleset file says so, and nothing is left unknown', async () => {
    const host = await captureHost(oldIproute2(bin, {nft: false}), 'old', 'json')
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
