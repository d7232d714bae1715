/**
 * HostAdapter.apply: when a batch program fails, the error names the line that failed (what the
 * program printed it stopped at) and says truly what was applied: ip/bridge -batch keep the lines
 * before it, iptables-restore applies nothing. Stderr below is what the real programs print.
 */
import {expect} from 'chai'
import {HostAdapter} from '../../src/adapters/host.js'
import type {Command, CommandResult, Runner} from '../../src/adapters/runner.js'
import {FlannelctlError} from '../../src/errors.js'
import type {Op} from '../../src/core/ops.js'

function failing(stderr: string): Runner {
  return {target: {kind: 'local'}, run: async (_cmd: Command): Promise<CommandResult> => ({exitCode: 1, stdout: '', stderr} as CommandResult)}
}

async function errorOf(p: Promise<unknown>): Promise<FlannelctlError> {
  try {
    await p
  } catch (e) {
    return e as FlannelctlError
  }
  throw new Error('no error')
}

describe('HostAdapter.apply: a failing batch', () => {
  const ops: Op[] = [
    {tool: 'ip', args: ['link', 'add', 'cni0', 'type', 'bridge'], why: ''},
    {tool: 'ip', args: ['addr', 'add', '10.244.2.1/24', 'dev', 'cni0'], why: ''},
    {tool: 'ip', args: ['link', 'set', 'cni0', 'up'], why: ''},
  ] as Op[]

  it('ip -batch: names the failing command, and that the ones before it were applied', async () => {
    const host = new HostAdapter(failing('Error: ipv4: Address already assigned.\nCommand failed -:2\n'), 'n1')
    const e = await errorOf(host.apply(ops))
    expect(e.message).to.equal('ip addr add 10.244.2.1/24 dev cni0 failed on n1: Error: ipv4: Address already assigned.')
    expect(e.hint).to.match(/^the commands before it in the same batch were applied, none after it/)
    expect(e.exitCode).to.equal(3)
  })

  it('a program that names no line: the whole command, nothing after it changed', async () => {
    const host = new HostAdapter(failing('RTNETLINK answers: Operation not permitted\n'), 'n1')
    const e = await errorOf(host.apply(ops))
    expect(e.message).to.equal('ip -batch - failed on n1: RTNETLINK answers: Operation not permitted')
    expect(e.hint).to.match(/^nothing after this step was changed/)
  })

  const nftOps: Op[] = [
    {tool: 'nft', lines: ['add table ip flannel-ipv4 { comment "rules for flannel-ipv4" ; }'], why: ''},
    {tool: 'nft', lines: ['add rule ip flannel-ipv4 nochain accept'], why: ''},
  ]

  it('nft -f: names the failing line (as nft prints it for stdin), and that nothing of the transaction was applied', async () => {
    const host = new HostAdapter(failing('/dev/stdin:2:26-32: Error: Could not process rule: No such file or directory\nadd rule ip flannel-ipv4 nochain accept\n                         ^^^^^^^\n'), 'n1')
    host.nftInstalled = true
    const e = await errorOf(host.apply(nftOps))
    expect(e.message).to.equal('nft line `add rule ip flannel-ipv4 nochain accept` failed on n1: /dev/stdin:2:26-32: Error: Could not process rule: No such file or directory')
    expect(e.hint).to.match(/^nothing after this step was changed/)
  })

  it('EnableNFTables on a host without nft: what to install, or how to go back to iptables', async () => {
    const missing: Runner = {target: {kind: 'local'}, run: async (cmd: Command): Promise<CommandResult> => ({exitCode: cmd.file === 'nft' ? 127 : 0, stdout: '', stderr: ''} as CommandResult)}
    const e = await errorOf(new HostAdapter(missing, 'n1').apply(nftOps))
    expect(e).to.be.instanceOf(FlannelctlError)
    expect(e.message).to.equal('n1 has no nft: the network config asks for flanneld\'s rules as native nftables (EnableNFTables), which only nft can write')
    expect(e.hint).to.contain('apt-get install nftables')
    expect(e.hint).to.contain('"EnableNFTables": false')
    expect(e.exitCode).to.equal(2)
  })
})
