/** How a reconcile result reads to a person. */
import type {ReconcileResult} from '../services/node.js'
import {count} from '../core/words.js'
import {describeChanges} from '../core/ops.js'

export function renderReconcile(r: ReconcileResult, verb: string): string {
  const lines: string[] = []
  const head = `${verb}: lease ${r.lease.subnet} for ${r.node.publicIP} (${r.netConf.backend.type}${r.netConf.backend.directRouting ? ', DirectRouting' : ''}), network ${r.netConf.network}, ${count(r.peers.length, 'peer')}`
  lines.push(head)
  for (const w of r.warnings) lines.push(`warning: ${w}`)
  if (r.ops.length === 0) {
    lines.push('up to date: nothing to change')
    return lines.join('\n')
  }
  // A change may take several commands (an iptables chain, then its rules): the header counts
  // both when they differ, and a change's further commands are indented under its first.
  const changes = describeChanges(r.ops)
  const commands = changes.reduce((n, c) => n + c.length, 0)
  const howMany = `${count(changes.length, 'change')}${commands !== changes.length ? `, ${count(commands, 'command')}` : ''}`
  lines.push(r.applied ? `applied ${howMany}:` : `plan (${howMany}; nothing applied — --dry-run):`)
  for (const [first, ...rest] of changes) lines.push(`  ${first}`, ...rest.map(l => `    ${l}`))
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
