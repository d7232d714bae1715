/** The quick start, end to end: a lab, its leases, real pings, and one explained trace. */
import {Lab, labNameArg, loadLab} from './lab.js'
import {renderLabStatus, renderPingMatrix} from '../ui/lab.js'
import {leaseTable} from '../ui/leases.js'
import {explainLabTrace} from './trace.js'
import type {Runner} from '../adapters/runner.js'

export interface DemoOptions {
  name: string
  backend: 'vxlan' | 'host-gw'
  nodes: number
  store?: string
  keep: boolean
  color: boolean
  out: (s: string) => void
  progress: (m: string) => void
  /** runs the lab's programs (a listener on it shows them for --verbose) */
  runner?: Runner
}

export async function runDemo(o: DemoOptions): Promise<boolean> {
  const lab = new Lab(o.runner)
  // A demo left over from an interrupted run would block this one.
  if ((await lab.namespaces(`fc-${o.name}-`)).length > 0) {
    o.progress(`removing the earlier lab ${o.name}`)
    await lab.down(o.name)
  }
  try {
    const state = await lab.up({name: o.name, nodes: o.nodes, backend: o.backend, segments: 1, podsPerNode: 2, store: o.store, progress: o.progress})
    o.out(renderLabStatus(state))
    o.out(`\nLeases in ${state.store} (network 10.244.0.0/16, backend ${o.backend}):`)
    o.out(leaseTable(await lab.leases(state)))
    o.progress('pinging every pod pair')
    const pings = await lab.pingMatrix(await loadLab(o.name))
    o.out('\nPod-to-pod ping matrix (real ICMP between pod namespaces):')
    o.out(renderPingMatrix(state, pings, o.color))
    o.progress('tracing one pod pair through the tables of every host on its path')
    const traced = await explainLabTrace(await loadLab(o.name), {color: o.color})
    o.out(`\n${traced.text}`)
    const allOk = pings.every(p => p.ok) && traced.delivered
    if (o.keep) {
      const name = labNameArg(o.name)
      o.out(`\nThe lab ${o.name} is still up. Look around, break it, trace it (docs/getting-started.md):`)
      o.out(`  flannelctl lab status${name} --ping`)
      o.out(`  flannelctl lab exec${name} n1 -- ip route`)
      o.out(`  flannelctl lab break${name} n1 missing-fdb`)
      o.out(`  flannelctl trace ${traced.trace.src.name} ${traced.trace.dst.name} --lab ${o.name}`)
      o.out(`  flannelctl lab down${name}`)
    }
    return allOk
  } finally {
    if (!o.keep) {
      o.progress(`removing lab ${o.name} (use --keep to explore it)`)
      await lab.down(o.name)
    }
  }
}
