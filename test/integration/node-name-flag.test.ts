/**
 * --node-name names this host read alone. Typed beside --lab, --inventory or --snapshot it would be
 * ignored (the hosts are named there), so it is refused; from FLANNELCTL_NODE_NAME alone (what lab
 * exec sets inside a node) it stays quiet. A snapshot suffices to show both: no namespace is made.
 */
import {expect} from 'chai'
import {join} from 'node:path'
import {cli, ROOT} from '../helpers/cli.js'

const snapshot = join(ROOT, 'test', 'fixtures', 'snapshots', 'lab-pod-mtu-over-vxlan')

describe('this host\'s flags (--node-name, --state-file, …) beside hosts named elsewhere', () => {
  it('typed: a usage error (exit 2) naming the source that names the hosts, for trace, doctor and collect', async () => {
    for (const args of [['doctor', '--snapshot', snapshot, '--node-name', 'n9'], ['trace', 'n1', 'n2', '--snapshot', snapshot, '--node-name=n9'],
      ['collect', '--inventory', join(snapshot, 'inventory.yaml'), '--out', '/nonexistent-ux26', '--node-name', 'n9']]) {
      const r = await cli(args)
      expect(r.exitCode, args.join(' ')).to.equal(2)
      const source = args.includes('--inventory') ? 'inventory' : 'snapshot'
      expect(r.stderr).to.equal(`Error: --node-name is for this host read alone (its name); with --${source} the hosts come from the ${source}\nHint: drop --node-name (or drop --${source} to read this host alone)`)
      expect(r.stdout).to.equal('')
    }
  })

  it('--state-file, --cni-conf-dir and --etcd-password typed beside a snapshot or a lab: refused the same way', async () => {
    for (const [args, message] of [
      [['doctor', '--snapshot', snapshot, '--state-file', '/nonexistent-ux26/node.json'], '--state-file is for this host read alone (its record); with --snapshot the hosts come from the snapshot'],
      [['trace', 'n1', 'n2', '--snapshot', snapshot, '--cni-conf-dir=/nonexistent-ux26'], '--cni-conf-dir is for this host read alone (its conflist\'s directory); with --snapshot the hosts come from the snapshot'],
      [['collect', '--lab', 'nolabux26', '--out', '/nonexistent-ux26', '--etcd-password', 'x'], '--etcd-password is for this host read alone (the password of the store its record names); with --lab the hosts come from the lab'],
    ] as const) {
      const r = await cli([...args])
      expect(r.exitCode, args.join(' ')).to.equal(2)
      expect(r.stderr.split('\n')[0]).to.contain(`Error: ${message}`)
    }
  })

  it('from FLANNELCTL_NODE_NAME alone (lab exec sets it): no error, the hosts named as the source names them', async () => {
    const r = await cli(['doctor', '--snapshot', snapshot, '--json'], {env: {FLANNELCTL_NODE_NAME: 'n9'}})
    expect(r.stderr).to.not.contain('--node-name')
    expect((JSON.parse(r.stdout) as {nodes: string[]}).nodes).to.not.include('n9')
  })
})
