/** Where collect finds pods by host-local's allocations: the directory the host's CNI config names. */
import {expect} from 'chai'
import {spawnSync} from 'node:child_process'
import {cniAllocatedIps} from '../../src/adapters/collect.js'
import {cniConflist} from '../../src/core/flannel.js'
import {HOST_LOCAL_DATA_DIR, ipamDataDirs} from '../../src/core/inventory.js'
import type {Command, CommandResult, Runner} from '../../src/adapters/runner.js'
import type {Target} from '../../src/adapters/target.js'

const conflist = (ipamDataDir?: string) => cniConflist({network: '10.244.0.0/16', subnet: '10.244.1.0/24', mtu: 1450, bridge: 'cni0', ipMasq: true, plugin: 'bridge', ipamDataDir})

describe('host-local allocations: where a host keeps them', () => {
  it('the conflist init writes names dataDir only when given one (--cni-ipam-dir); host-local\'s default otherwise', () => {
    expect(conflist()).to.not.contain('dataDir')
    expect(JSON.parse(conflist('/run/lab/n1/ipam')).plugins[0].ipam.dataDir).to.equal('/run/lab/n1/ipam')
  })

  it('each config\'s host-local dataDir, a delegate\'s too, beside the default; not JSON, relative or another IPAM adds nothing', () => {
    expect(ipamDataDirs([])).to.deep.equal([HOST_LOCAL_DATA_DIR])
    expect(ipamDataDirs([conflist('/run/lab/n1/ipam/')])).to.deep.equal([HOST_LOCAL_DATA_DIR, '/run/lab/n1/ipam'])
    const single = JSON.stringify({cniVersion: '0.3.1', name: 'x', type: 'bridge', ipam: {type: 'host-local', dataDir: '/data/cni'}})
    const delegate = JSON.stringify({name: 'cbr0', plugins: [{type: 'flannel', delegate: {ipam: {type: 'host-local', dataDir: '/var/lib/cni/flannel-ipam'}}}]})
    expect(ipamDataDirs([single, delegate, '{', JSON.stringify({plugins: [null, {ipam: {type: 'dhcp', dataDir: '/x'}}, {ipam: {type: 'host-local', dataDir: 'rel/dir'}}]})]))
      .to.deep.equal([HOST_LOCAL_DATA_DIR, '/data/cni', '/var/lib/cni/flannel-ipam'])
    expect(ipamDataDirs(Array.from({length: 20}, (_, i) => conflist(`/d${i}`)))).to.have.length(8)
  })
})

/** A host whose conf dir holds one conflist naming dataDir /run/lab/n1/ipam, and no /var/lib/cni/networks. */
class LabNode implements Runner {
  readonly target: Target = {kind: 'ssh', destination: 'root@n1'}
  readonly ran: string[] = []
  constructor(private readonly confDir: string | undefined) {}
  async run(cmd: Command): Promise<CommandResult> {
    this.ran.push([cmd.file, ...cmd.args].join(' '))
    const ok = (stdout: string) => ({stdout, stderr: '', exitCode: 0})
    if (cmd.file === 'find' && cmd.args[0] === this.confDir) return ok(`${this.confDir}/10-flannel.conflist\n${this.confDir}/README\n`)
    if (cmd.file === 'find' && cmd.args[0] === '/etc/cni/net.d') return {stdout: '', stderr: 'find: \'/etc/cni/net.d\': No such file or directory\n', exitCode: 1}
    if (cmd.file === 'sh') {
      // readFiles: one framed `cat` per file, as shell-script.ts frames them
      const script = (cmd.input ?? '').replaceAll(`cat -- ${this.confDir}/10-flannel.conflist`, `printf '%s' '${conflist('/run/lab/n1/ipam')}'`)
      const r = spawnSync('/bin/sh', cmd.args, {input: script, encoding: 'utf8'})
      return {stdout: r.stdout, stderr: r.stderr, exitCode: r.status ?? 1}
    }
    if (cmd.file === 'find') {
      // the default is missing: find lists the other directory, then exits 1
      const listed = cmd.args.includes('/run/lab/n1/ipam') ? '/run/lab/n1/ipam/cbr0/10.244.1.2\n/run/lab/n1/ipam/cbr0/last_reserved_ip.0\n/run/lab/n1/ipam/cbr0/lock\n' : ''
      return {stdout: listed, stderr: 'find: \'/var/lib/cni/networks\': No such file or directory\n', exitCode: 1}
    }
    return {stdout: '', stderr: 'not here', exitCode: 127}
  }
}

describe('cniAllocatedIps', () => {
  it('reads the allocations where the conf dir\'s conflist says, though the default is missing (find exits 1)', async () => {
    const node = new LabNode('/run/lab/n1/cni')
    expect(await cniAllocatedIps(node, '/run/lab/n1/cni')).to.deep.equal(['10.244.1.2'])
    expect(node.ran.at(-1)).to.equal(`find ${HOST_LOCAL_DATA_DIR} /run/lab/n1/ipam -mindepth 2 -maxdepth 2 -type f`)
  })

  it('a host without CNI (no conf dir, no data dir): none, and only the default is looked in', async () => {
    const node = new LabNode(undefined)
    expect(await cniAllocatedIps(node)).to.deep.equal([])
    expect(node.ran).to.deep.equal(['find /etc/cni/net.d -maxdepth 1 -type f', `find ${HOST_LOCAL_DATA_DIR} -mindepth 2 -maxdepth 2 -type f`])
  })

  it('a conf dir that is no absolute path is never given to find (`-delete` would be its expression): the default alone', async () => {
    const node = new LabNode(undefined)
    expect(await cniAllocatedIps(node, '-delete')).to.deep.equal([])
    expect(node.ran).to.deep.equal([`find ${HOST_LOCAL_DATA_DIR} -mindepth 2 -maxdepth 2 -type f`])
  })
})
