/** Lab views: the node/pod inventory and the ping matrix. */
import {labRepair, type LabState} from '../services/lab.js'
import {renderTable} from './table.js'
import {backendWords} from '../core/netconf.js'

/** The network as the store's config has it now (migrate, backend set, an edited EnableNFTables change it after lab up). */
export interface LabNetwork {backend: string; directRouting: boolean; nftables: boolean}

export function renderLabStatus(s: LabState, now?: LabNetwork, missing: {what: string; netns: string}[] = []): string {
  const words = (n: LabNetwork) => `${backendWords({type: n.backend, directRouting: n.directRouting})}${n.nftables ? ', rules in nftables' : ''}`
  const built = words({backend: s.backend, directRouting: s.directRouting, nftables: s.nftables === true})
  const network = now === undefined || words(now) === built ? built : `${words(now)} (built as ${built})`
  const lines = [`lab ${s.name}: ${network}, ${s.segments} segment${s.segments > 1 ? 's' : ''}, store ${s.store}`]
  const gone = new Set(missing.map(m => m.netns))
  const netns = (name: string) => (gone.has(name) ? `${name} (gone)` : name)
  lines.push(renderTable(['NODE', 'NAMESPACE', 'UNDERLAY', 'SEGMENT', 'SUBNET', 'PODS'],
    s.nodes.map(n => [n.name, netns(n.netns), n.underlayIP, n.segment, n.subnet ?? '-', s.pods.filter(p => p.node === n.name).map(p => `${p.name} ${p.ip}${gone.has(p.netns) ? ' (gone)' : ''}`).join(', ')])))
  if (missing.length > 0) {
    const repair = labRepair(s, missing.map(m => m.netns))
    lines.push(`\n${missing.length === 1 ? 'a namespace of the lab is' : `${missing.length} namespaces of the lab are`} gone (\`ip netns list\` does not show ${missing.length === 1 ? 'it' : 'them'}): ${missing.map(m => `${m.what} (${m.netns})`).join(', ')}`,
      repair.podsOnly
        ? `re-create ${missing.length === 1 ? 'it' : 'them'} (a new namespace, then CNI DEL and ADD, as a runtime re-creates a pod): ${repair.command}`
        : `the lab is broken until it is built again (its links, routes and flannel's state went with ${missing.length === 1 ? 'it' : 'them'}): ${repair.command}`)
  }
  return lines.join('\n')
}

export function renderPingMatrix(s: LabState, results: {from: string; to: string; ok: boolean}[], color: boolean): string {
  const ok = color ? '\u001B[32m ok \u001B[0m' : ' ok '
  const bad = color ? '\u001B[31mFAIL\u001B[0m' : 'FAIL'
  const names = s.pods.map(p => p.name)
  const rows = names.map(from => [from, ...names.map(to => {
    if (from === to) return '  - '
    const r = results.find(x => x.from === from && x.to === to)
    return r?.ok ? ok : bad
  })])
  const good = results.filter(r => r.ok).length
  return `${renderTable(['FROM \\ TO', ...names], rows)}\n${good}/${results.length} pod pairs reachable`
}
