/** How a reconcile result reads to a person. */
import type {ReconcileResult} from '../services/node.js'
import {count} from '../core/words.js'
import {backendWords} from '../core/netconf.js'
import {describeChanges, type Op} from '../core/ops.js'

export function renderReconcile(r: ReconcileResult, verb: string): string {
  const lines: string[] = []
  const head = `${verb}: lease ${r.lease.subnet} for ${r.node.publicIP} (${backendWords(r.netConf.backend)}), network ${r.netConf.network}, ${count(r.peers.length, 'peer')}`
  lines.push(head)
  for (const w of r.warnings) lines.push(`warning: ${w}`)
  if (r.ops.length === 0) {
    lines.push('up to date: nothing to change')
    return lines.join('\n')
  }
  lines.push(...changeLines(r.ops, r.applied))
  return lines.join('\n')
}

/**
 * A plan, applied or not: a header counting the changes, then each change. A change may take
 * several commands (an iptables chain, then its rules): the header counts both when they differ,
 * and a change's further commands are indented under its first.
 */
export function changeLines(ops: Op[], applied: boolean, {appliedHead = 'applied', planHead = 'plan'} = {}): string[] {
  const changes = describeChanges(ops)
  const commands = changes.reduce((n, c) => n + c.length, 0)
  const howMany = `${count(changes.length, 'change')}${commands !== changes.length ? `, ${count(commands, 'command')}` : ''}`
  return [applied ? `${appliedHead} ${howMany}:` : `${planHead} (${howMany}; nothing applied — --dry-run):`,
    ...changes.flatMap(([first, ...rest]) => [`  ${first}`, ...rest.map(l => `    ${l}`)])]
}

export function reconcileJson(r: ReconcileResult) {
  return {
    lease: {subnet: r.lease.subnet, publicIP: r.lease.publicIP, backendType: r.lease.backendType, backendData: r.lease.backendData},
    network: r.netConf.network,
    backend: r.netConf.backend.type,
    // the text header names DirectRouting (backendWords): the JSON says it too
    directRouting: r.netConf.backend.type === 'vxlan' && r.netConf.backend.directRouting === true,
    applied: r.applied,
    upToDate: r.ops.length === 0,
    changes: r.plan,
    warnings: r.warnings,
    peers: r.peers,
  }
}
