/** How a reconcile result reads to a person. */
import type {ReconcileResult} from '../services/node.js'
import {count} from '../core/words.js'

export function renderReconcile(r: ReconcileResult, verb: string): string {
  const lines: string[] = []
  const head = `${verb}: lease ${r.lease.subnet} for ${r.node.publicIP} (${r.netConf.backend.type}${r.netConf.backend.directRouting ? ', DirectRouting' : ''}), network ${r.netConf.network}, ${count(r.peers.length, 'peer')}`
  lines.push(head)
  for (const w of r.warnings) lines.push(`warning: ${w}`)
  if (r.ops.length === 0) {
    lines.push('up to date: nothing to change')
  } else if (r.applied) {
    lines.push(`applied ${count(r.ops.length, 'change')}:`)
    lines.push(...r.plan.map(l => `  ${l}`))
  } else {
    lines.push(`plan (${count(r.ops.length, 'change')}, nothing applied — --dry-run):`)
    lines.push(...r.plan.map(l => `  ${l}`))
  }
  return lines.join('\n')
}

export function reconcileJson(r: ReconcileResult) {
  return {
    lease: {subnet: r.lease.subnet, publicIP: r.lease.publicIP, backendType: r.lease.backendType, backendData: r.lease.backendData},
    network: r.netConf.network,
    backend: r.netConf.backend.type,
    applied: r.applied,
    upToDate: r.ops.length === 0,
    changes: r.plan,
    warnings: r.warnings,
    peers: r.peers,
  }
}
