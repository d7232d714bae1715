/**
 * --node-name names this host read alone. Typed beside --lab, --inventory or --snapshot it would be
 * ignored (the hosts are named there), so it is refused; from FLANNELCTL_NODE_NAME alone (what lab
 * exec sets inside a node) it stays quiet. A snapshot suffices to show both: no namespace is made.
 */
import {expect} from 'chai'
import {join} from 'node:path'
import {cli, ROOT} from '../helpers/cli.js'

const snapshot = join(ROOT, 'test', 'fixtures', 'snapshots', 'lab-pod-mtu-over-vxlan')

describe('--node-name beside hosts named elsewhere', () => {
  it('typed: a usage error (exit 2) naming the source that names the hosts, for trace, doctor and collect', async () => {
    for (const args of [['doctor', '--snapshot', snapshot, '--node-name', 'n9'], ['trace', 'n1', 'n2', '--snapshot', snapshot, '--node-name=n9'],
      ['collect', '--inventory', join(snapshot, 'inventory.yaml'), '--out', '/nonexistent-ux26', '--node-name', 'n9']]) {
      const r = await cli(args)
      expect(r.exitCode, args.join(' ')).to.equal(2)
      const source = args.includes('--inventory') ? 'inventory' : 'snapshot'
      expect(r.stderr).to.equal(`Error: --node-name names this host read alone; with --${source} the host names come from the ${source}\nHint: drop --node-name (or drop --${source} to read this host under that name)`)
      expect(r.stdout).to.equal('')
    }
  })

  it('from FLANNELCTL_NODE_NAME alone (lab exec sets it): no error, the hosts named as the source names them', async () => {
    const r = await cli(['doctor', '--snapshot', snapshot, '--json'], {env: {FLANNELCTL_NODE_NAME: 'n9'}})
    expect(r.stderr).to.not.contain('--node-name')
    expect((JSON.parse(r.stdout) as {nodes: string[]}).nodes).to.not.include('n9')
  })
})
