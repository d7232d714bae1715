/**
 * The agent plans store events against its prediction of the host (core/predict.ts) instead of
 * re-reading it. In a real namespace: after every event round the prediction must equal what the
 * kernel then holds, entry for entry; a host changed by hand behind the model's back is repaired by
 * the next periodic round, and an op that fails because of it makes the round read the host instead.
 */
import {expect} from 'chai'
import {mkdtemp, mkdir, rm, unlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {addNodeNamespace, sh, uniqueLab} from '../helpers/cli.js'
import {RealRunner} from '../../src/adapters/runner.js'
import {HostAdapter} from '../../src/adapters/host.js'
import {NodeAgent} from '../../src/services/agent.js'
import {reconcile, type NodeOptions} from '../../src/services/node.js'
import {predictAfterOps} from '../../src/core/predict.js'
import {openStore, keyOfSubnet, leaseToJson} from '../../src/store/store.js'
import type {HostSnapshot} from '../../src/core/model.js'
import type {ServiceContext} from '../../src/services/context.js'

/** Lets the store's watch see the files just written (the agent's rounds start from its events). */
const settle = () => new Promise(resolve => setTimeout(resolve, 100))

const peer = (i: number) => ({
  subnet: `10.250.${i}.0/24`, publicIP: `192.168.170.${10 + i}`, vtepMAC: `0e:fc:00:00:00:${(i + 16).toString(16).padStart(2, '0')}`,
})

/** The tables a prediction covers, as comparable text: the same entries in any order. */
function peerTables(s: HostSnapshot): Record<string, string[]> {
  return {
    routes: (s.routes ?? []).filter(r => !r.table || r.table === 'main').map(r => JSON.stringify({...r, raw: undefined})).sort(),
    neighbors: (s.neighbors ?? []).filter(n => n.state.includes('PERMANENT')).map(n => JSON.stringify({...n, raw: undefined})).sort(),
    fdb: (s.fdb ?? []).filter(f => f.dev === 'flannel.1').map(f => JSON.stringify({...f, raw: undefined})).sort(),
  }
}

for (const backend of ['vxlan', 'host-gw'] as const) {
  describe(`sync --watch plans store events against its model of the host (${backend}, real namespace)`, function () {
    this.timeout(60000)
    const ns = `fcm-${uniqueLab('m')}-${backend === 'vxlan' ? 'v' : 'h'}`
    let dir: string
    let node: NodeOptions
    let ctx: ServiceContext
    let runner: RealRunner
    let host: HostAdapter
    let agent: NodeAgent
    let closeStore: () => Promise<void>

    const leasesDir = () => join(dir, 'store', 'coreos.com', 'network', 'subnets')
    const addPeers = async (from: number, to: number) => {
      await mkdir(leasesDir(), {recursive: true})
      for (let i = from; i < to; i++) {
        const p = peer(i)
        await writeFile(join(leasesDir(), keyOfSubnet(p.subnet)), leaseToJson({subnet: p.subnet, publicIP: p.publicIP, publicIPv6: null,
          backendType: backend, backendData: backend === 'vxlan' ? {VNI: 1, VtepMAC: p.vtepMAC} : {}}))
      }
    }
    const removePeers = async (from: number, to: number) => {
      for (let i = from; i < to; i++) await unlink(join(leasesDir(), keyOfSubnet(peer(i).subnet)))
    }
    /** An event round, and the proof that its prediction is what the kernel now holds. */
    const eventRound = async () => {
      await settle()
      const result = await agent.round({periodic: false})
      expect(result, 'the store changed, so the round ran').to.not.equal(undefined)
      const predicted = predictAfterOps(result!.snapshot, result!.ops)
      expect(predicted, `ops ${result!.plan.join('; ')} are all predictable`).to.not.equal(undefined)
      expect(peerTables(predicted!)).to.deep.equal(peerTables(await host.snapshot()))
      return result!
    }

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'fcm-'))
      await addNodeNamespace(ns, '192.168.170.1/24')
      node = {store: `file:${join(dir, 'store')}`, iface: 'eth0', subnetFile: join(dir, 'subnet.env'), cniConfDir: join(dir, 'cni'), stateFile: join(dir, 'node.json')}
      // as sync --watch runs it: the next ip/bridge batch started ahead
      runner = new RealRunner({kind: 'netns', name: ns}, undefined, {batchesReady: true})
      ctx = {runner, dryRun: false, progress: () => {}}
      host = new HostAdapter(ctx.runner)
      const first = await reconcile(ctx, {node, network: {network: '10.250.0.0/16', backend, subnetMin: '10.250.200.0', subnetMax: '10.250.200.0'}, creating: true, what: 'init'})
      const store = await openStore(node.store!)
      closeStore = () => store.close()
      // as sync --watch does: event rounds then read only the lease files the watch saw change
      await store.watch?.(() => {})
      agent = new NodeAgent(ctx, node, store)
      agent.adopt(first)
    })
    after(async () => {
      await closeStore?.()
      await runner?.close()
      await sh('ip', ['netns', 'del', ns])
      await rm(dir, {recursive: true, force: true})
    })

    it('adds 40 peers and removes 15 with the prediction equal to the kernel after each round', async () => {
      await addPeers(0, 40)
      const added = await eventRound()
      expect(added.ops.filter(op => op.tool === 'ip' && op.args[0] === 'route')).to.have.length(40)
      await removePeers(0, 15)
      const removed = await eventRound()
      expect(removed.ops.filter(op => op.tool === 'ip' && op.args[0] === 'route' && op.args[1] === 'del')).to.have.length(15)
      await settle()
      expect(await agent.round({periodic: false}), 'nothing changed in the store: no round').to.equal(undefined)
      const periodic = await agent.round({periodic: true})
      expect(periodic!.ops, 'a periodic round reads the host and finds it as predicted').to.deep.equal([])
    })

    it('repairs a route deleted by hand on the next periodic round', async () => {
      await sh('ip', ['-n', ns, 'route', 'del', peer(20).subnet])
      const periodic = await agent.round({periodic: true})
      expect(periodic!.plan.join('\n')).to.contain(peer(20).subnet)
      expect((await sh('ip', ['-n', ns, 'route', 'show', peer(20).subnet])).stdout).to.contain(peer(20).subnet)
    })

    it('reads the host when an op fails because the host is not what the model says', async () => {
      // the model still holds this route; the next event deletes it, which fails, so the round re-reads
      await sh('ip', ['-n', ns, 'route', 'del', peer(30).subnet])
      await removePeers(30, 31)
      await settle()
      const result = await agent.round({periodic: false})
      expect(result!.ops.some(op => op.tool === 'ip' && op.args.includes(peer(30).subnet)), 'planned from the real host: nothing left to delete').to.equal(false)
      expect((await sh('ip', ['-n', ns, 'route', 'show', peer(30).subnet])).stdout.trim()).to.equal('')
      const periodic = await agent.round({periodic: true})
      expect(periodic!.ops).to.deep.equal([])
    })
  })
}
