/**
 * flannelctl as a drop-in peer of flanneld on etcd: 20 concurrent inits get 20 subnets, a lease
 * written by hand in flanneld's format is used, and flannelctl's own lease has flanneld's shape.
 */
import {expect} from 'chai'
import {cli, inNs, uniqueLab} from '../helpers/cli.js'

interface Lab {store: string; etcd?: {netns: string; pid: number}; nodes: {name: string; netns: string; underlayIP: string; subnet: string; dir: string}[]}

async function labUp(args: string[]): Promise<Lab> {
  const r = await cli(['lab', 'up', '--json', ...args])
  expect(r.exitCode, r.stderr).to.equal(0)
  return JSON.parse(r.stdout)
}

describe('etcd store in a lab (real etcd, real kernel)', function () {
  this.timeout(240000)

  for (const store of ['file', 'etcd']) {
    it(`20 nodes running init concurrently on the ${store} store get 20 distinct subnets`, async () => {
      const name = uniqueLab('cc')
      try {
        const lab = await labUp(['--name', name, '--nodes', '20', '--pods', '0', '--store', store])
        const subnets = lab.nodes.map(n => n.subnet)
        expect(subnets.every(Boolean)).to.equal(true)
        expect(new Set(subnets).size).to.equal(20)
      } finally {
        await cli(['lab', 'down', '--name', name])
      }
    })
  }

  describe('flanneld\'s format, both ways', () => {
    const name = uniqueLab('fe')
    let lab: Lab
    before(async () => {
      lab = await labUp(['--name', name, '--nodes', '2', '--pods', '1', '--store', 'etcd'])
    })
    after(async () => {
      await cli(['lab', 'down', '--name', name])
    })

    const etcdctl = (...args: string[]) => inNs(lab.etcd!.netns, 'etcdctl', '--endpoints', 'http://127.0.0.1:2379', ...args)

    it('writes leases under flannel\'s keys with flanneld\'s exact JSON and a 24 h TTL', async () => {
      const n1 = lab.nodes[0]
      const key = `/coreos.com/network/subnets/${n1.subnet.replace('/', '-')}`
      const value = await etcdctl('get', '--print-value-only', key)
      const mac = JSON.parse(await inNs(n1.netns, 'ip', '-j', 'link', 'show', 'flannel.1'))[0].address
      expect(value.trim()).to.equal(`{"PublicIP":"${n1.underlayIP}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${mac}"}}`)
      // an int64 lease id loses precision in JSON.parse: read its digits as text
      const leaseId = /"lease":(\d+)/.exec(await etcdctl('get', key, '-w', 'json'))![1]
      const ttl = await etcdctl('lease', 'timetolive', BigInt(leaseId).toString(16))
      expect(ttl).to.match(/granted with TTL\(86400s\)/)
      const config = JSON.parse(await etcdctl('get', '--print-value-only', '/coreos.com/network/config'))
      expect(config.Network).to.equal('10.244.0.0/16')
    })

    it('uses a lease that flanneld wrote (hand-written JSON under the flannel keys)', async () => {
      const n1 = lab.nodes[0]
      const value = '{"PublicIP":"192.168.100.99","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"a2:99:54:8b:35:bd"}}'
      await etcdctl('put', '/coreos.com/network/subnets/10.244.200.0-24', value)
      const r = await cli(['sync', '--store', lab.store, '--subnet-file', `${n1.dir}/subnet.env`, '--cni-conf-dir', `${n1.dir}/cni`, '--state-file', `${n1.dir}/node.json`], {netns: n1.netns})
      expect(r.exitCode, r.stderr).to.equal(0)
      expect(await inNs(n1.netns, 'ip', 'route')).to.contain('10.244.200.0/24 via 10.244.200.0 dev flannel.1 onlink')
      expect(await inNs(n1.netns, 'ip', 'neigh', 'show', 'dev', 'flannel.1')).to.contain('10.244.200.0 lladdr a2:99:54:8b:35:bd PERMANENT')
      expect(await inNs(n1.netns, 'bridge', 'fdb', 'show', 'dev', 'flannel.1')).to.contain('a2:99:54:8b:35:bd dst 192.168.100.99 self permanent')
    })

    it('lease list --lab reads the lab\'s etcd from inside the lab, the same as lab exec does; a stopped etcd is that lease list\'s own error, and a dry run\'s exit 2 (reset --release, peer add, backend set)', async () => {
      // before: oclif's "Nonexistent flag: --lab"; the etcd's address is on the lab's switch, unreachable from here
      const viaLab = await cli(['lease', 'list', '--lab', name, '--json'])
      expect(viaLab.exitCode, viaLab.stderr).to.equal(0)
      const inside = await cli(['lease', 'list', '--json', '--store', lab.store], {netns: lab.nodes[0].netns})
      // an etcd lease's expiry is its TTL read at that moment
      const timeless = (out: string) => {
        const v = JSON.parse(out)
        return {...v, leases: v.leases.map(({expiresAt: _, ...l}: {expiresAt: string}) => l)}
      }
      expect(timeless(viaLab.stdout)).to.deep.equal(timeless(inside.stdout))
      // inside a node lab exec sets FLANNELCTL_STORE: --lab still reads the lab's; a --store typed beside it is refused
      const inNode = await cli(['lab', 'exec', '--name', name, 'n1', '--', 'flannelctl', 'lease', 'list', '--lab', name])
      expect(inNode.exitCode, inNode.stderr).to.equal(0)
      const both = await cli(['lease', 'list', '--lab', name, '--store', lab.store])
      expect(both.exitCode).to.equal(2)
      expect(both.stderr).to.equal(`Error: --store names a store, and --lab the lab's: give one of them\nHint: drop --store to read lab ${name}'s store, or --lab to read that one`)
      const table = await cli(['lease', 'list', '--lab', name])
      for (const n of lab.nodes) expect(table.stdout).to.contain(n.subnet)
      // backend set --lab writes the lab's etcd from inside the lab too (before: "Nonexistent flag: --lab"), and names the lab in its migrate
      const set = await cli(['backend', 'set', 'host-gw', '--lab', name, '--dry-run'])
      expect(set.exitCode, set.stderr).to.equal(0)
      expect(set.stdout).to.contain('backend plan (nothing written — --dry-run): vxlan VNI 1 port 8472 → host-gw')
      expect(set.stdout).to.contain(`flannelctl migrate --backend host-gw --lab ${name} --yes`)
      process.kill(lab.etcd!.pid, 'SIGSTOP')
      try {
        const down = await cli(['lease', 'list', '--lab', name])
        expect(down.exitCode).to.equal(2)
        expect(down.stderr).to.match(/^Error: etcd at 192\.168\.100\.2:2379 is unreachable.*\nHint: check that etcd runs there/)
        expect(down.stderr).to.not.match(/\n\s+at /)
        // reset --release --dry-run only reads the store: exit 2 as every dry run (before: 3), nothing changed
        const n1 = lab.nodes[0]
        const links = await inNs(n1.netns, 'ip', '-o', 'link', 'show')
        const dry = await cli(['reset', '--release', '--dry-run', '--store', lab.store, '--subnet-file', `${n1.dir}/subnet.env`, '--cni-conf-dir', `${n1.dir}/cni`, '--state-file', `${n1.dir}/node.json`], {netns: n1.netns})
        expect(dry.exitCode, dry.stderr).to.equal(2)
        expect(dry.stderr).to.match(/^Error: cannot release the lease 10\.244\.\d+\.0\/24: etcd at .* is unreachable/m)
          .and.match(/^Hint: nothing on this host was changed and its state file is kept: run flannelctl reset --state-file \S+node\.json --release --dry-run again/m)
        expect(await inNs(n1.netns, 'ip', '-o', 'link', 'show')).to.equal(links)
        // so do peer add --dry-run and backend set --dry-run (before: 3, "run it again", for a run that changes nothing)
        const files = ['--subnet-file', `${n1.dir}/subnet.env`, '--cni-conf-dir', `${n1.dir}/cni`, '--state-file', `${n1.dir}/node.json`]
        const peer = await cli(['peer', 'add', '--subnet', '10.244.210.0/24', '--public-ip', '192.168.100.60', '--vtep-mac', '02:00:00:00:00:09', '--dry-run', ...files], {netns: n1.netns})
        expect(peer.exitCode, peer.stderr).to.equal(2)
        const backend = await cli(['backend', 'set', 'host-gw', '--dry-run', '--store', lab.store], {netns: n1.netns})
        expect(backend.exitCode, backend.stderr).to.equal(2)
        expect(await inNs(n1.netns, 'ip', '-o', 'link', 'show')).to.equal(links)
      } finally {
        process.kill(lab.etcd!.pid, 'SIGCONT')
      }
    })
  })
})
