/** doctor's report for people: the pod matrix, what failed where (grouped), and the host findings. */
import type {DoctorFinding, DoctorReport, PairResult} from '../services/doctor.js'
import {isNetworkFix, pairIsBad} from '../services/doctor.js'
import {renderTable} from './table.js'
import {fixPartLines, fixParts, fixPlace, readsOnly, type Fix, type FixStep} from '../core/trace/types.js'
import {count} from '../core/words.js'
import {labNameArg} from '../services/lab.js'

/** The matrix's word for each disposition (troubleshooting.md heads each disposition's section with it). */
export const MATRIX_TAGS: Record<string, string> = {
  DELIVERED: 'ok', NO_ROUTE: 'noroute', NEXT_HOP_NOT_ONLINK: 'offlink', NEIGHBOR_MISSING: 'neigh', FDB_MISSING: 'fdb',
  WRONG_VTEP_HOST: 'vtephost', STALE_VTEP_MAC: 'stalemac', VNI_MISMATCH: 'vni', PORT_MISMATCH: 'port', DEVICE_DOWN: 'down',
  FORWARDING_DISABLED: 'fwdoff', DENIED_BY_FILTER: 'filter', NULL_ROUTED: 'null', REVERSE_PATH_FILTERED: 'rpf',
  MTU_EXCEEDED: 'mtu', LOOP: 'loop', EXITS_NETWORK: 'exits', DUPLICATE_ADDRESS: 'dupaddr',
  NAT_NOT_UNDONE: 'unnat', INSUFFICIENT_INFO: 'unknown',
}

/** How a command done by hand in place of its node's sync is introduced, under that sync (trace's "Instead" alike). */
const BY_HAND = 'instead'

function paint(color: boolean, code: number, s: string): string {
  return color ? `\u001B[${code}m${s}\u001B[0m` : s
}

function cell(p: PairResult, color: boolean): string {
  let tag = MATRIX_TAGS[p.disposition] ?? p.disposition
  if (p.disposition === 'DELIVERED' && p.warnings.includes('NO_RETURN_ROUTE')) tag = 'noreturn'
  else if (p.disposition === 'DELIVERED' && p.warnings.includes('SOURCE_NATED')) tag = 'snat'
  let text = tag
  if (p.ping === false && p.disposition === 'DELIVERED' && tag === 'ok') text = `${tag} ping✗`
  else if (p.ping === true && p.disposition !== 'DELIVERED') text = `${tag} ping✓`
  return paint(color, pairIsBad(p) ? 31 : 32, text)
}

export function renderDoctor(r: DoctorReport, {color}: {color: boolean}): string {
  const out: string[] = [`doctor: ${r.source} — ${count(r.nodes.length, 'host')}, ${count(r.pods.length, 'pod')}${r.sampled ? ' in the matrix (one per node)' : ''}`]
  if (r.pods.length > 1) {
    const rows = r.pods.map(from => [from, ...r.pods.map(to => {
      if (from === to) return '-'
      const p = r.pairs.find(x => x.from === from && x.to === to)
      // (no pair: the two share an address, as containers of two docker hosts do)
      return p ? cell(p, color) : '-'
    })])
    out.push('', renderTable(['FROM \\ TO', ...r.pods], rows))
    const good = r.pairs.filter(p => !pairIsBad(p)).length
    out.push(`${good}/${r.pairs.length} pod pairs fine${r.pairs.some(p => p.ping !== undefined) ? ' (trace and real ping agree where no ✗/✓ is shown)' : ''}`)
  } else {
    out.push('', 'fewer than two pods: no pod matrix (name pods in the inventory, or let them talk so the bridge learns them)')
  }

  // One entry per distinct cause, not per pair: a stale entry on one node breaks every pair behind
  // it, in both directions (the replies show it as NO_RETURN_ROUTE). The cause is told by what mends
  // it: the reason names each pair's addresses, so one rule dropping every pod's traffic would
  // otherwise be listed once per pair. Where a cause shows differently (the request dies on one
  // node, the reply at the pod), each place is listed with its pairs, and the fix once after them.
  // The sync of a node behind a peer's move is left out of the cause: pairs through n1 and through
  // n3 that need the same pod re-created are one cause, mended after both nodes' syncs. Each node's
  // commands by hand are printed under its sync, as its alternative, not as further steps.
  const groups = new Map<string, {fix: Fix[]; places: Map<string, {p: PairResult; pairs: PairResult[]; labels: Set<string>}>}>()
  for (const p of r.pairs.filter(pairIsBad)) {
    const own = p.fix.filter(f => f.sync === undefined)
    const cause = p.fix.length > 0 ? (own.length > 0 ? own : p.fix).map(f => `${f.node}: ${f.command}`).sort().join('\n') : `${p.node}|${p.reason}`
    const key = `${cause}|${p.ping}`
    const label = p.disposition === 'DELIVERED'
      ? (p.warnings.filter(w => w === 'SOURCE_NATED' || w === 'NO_RETURN_ROUTE').join(', ') || (p.ping === false ? 'PING_FAILED' : 'DELIVERED'))
      : p.disposition
    const g = groups.get(key) ?? {fix: [] as Fix[], places: new Map()}
    groups.set(key, g)
    // syncs lead, then the pairs' own fixes, each once
    for (const f of p.fix) if (!g.fix.some(x => x.node === f.node && x.command === f.command)) g.fix.push(f)
    g.fix.sort((a, b) => Number(a.sync === undefined) - Number(b.sync === undefined))
    const place = g.places.get(p.node ?? '')
    if (place) {
      place.pairs.push(p)
      place.labels.add(label)
    } else g.places.set(p.node ?? '', {p, pairs: [p], labels: new Set([label])})
  }
  if (groups.size > 0) {
    out.push('', 'Pod traffic problems:')
    for (const {fix, places} of groups.values()) {
      for (const {p, pairs, labels} of places.values()) {
        const where = p.node ? ` at ${p.node}` : ''
        const example = pairs.slice(0, 4).map(x => `${x.from}→${x.to}`).join(', ') + (pairs.length > 4 ? `, … (${pairs.length} pairs)` : '')
        out.push(`  ${paint(color, 31, [...labels].join(' / '))}${where}: ${p.reason ?? (p.ping === false ? 'real ping failed although the tables say it should work' : '')}`)
        out.push(`    pairs: ${example}`)
      }
      const first = places.values().next().value!.p
      // where the tables ran out, the commands read what would settle it
      const label = first.disposition === 'INSUFFICIENT_INFO' ? 'find out' : 'fix'
      // a fix that opens with a choice says whom it is for on its own "one of N ways" line
      const opensWithWays = fixParts(fix)[0]?.ways !== undefined
      if (places.size > 1 && fix.length > 0 && !opensWithWays) out.push(`    fix for the ${places.size} above:`)
      const stepLines = (step: FixStep, head: string, indent: string) => [
        `${indent}${head === 'fix ' && readsOnly(step.fix) ? 'check ' : head}[${step.fix.scope !== undefined ? fixPlace(step.fix) : step.fix.node}]: ${step.fix.command}`,
        ...step.byHand.map(f => `${indent}  ${BY_HAND} [${f.node}]: ${f.command}`)]
      const choiceLabel = places.size > 1 && opensWithWays ? `${label} for the ${places.size} above` : label
      out.push(...fixPartLines(fix, choiceLabel, '    ', (step, inWay) => inWay ? stepLines(step, '', '        ') : stepLines(step, `${label} `, '    ')))
    }
  }

  // where flannel's masquerade and forward rules are (EnableNFTables moves them to nftables)
  const modes = Object.entries(r.rules ?? {})
  if (modes.length > 0) {
    const same = new Set(modes.map(([, m]) => m))
    const said = (m: string) => m === 'old-flanneld' ? 'iptables in POSTROUTING/FORWARD (flanneld before 0.20)' : m
    out.push('', `Flannel rules: ${same.size === 1 && modes.length > 1 ? `${said(modes[0][1])} on every node` : modes.map(([node, m]) => `${node} ${said(m)}`).join(', ')}`)
  }

  if (r.findings.length > 0) {
    out.push('', 'Host checks:')
    out.push(renderTable(['', 'NODE', 'CHECK', 'WHAT'], r.findings.map(f => [
      paint(color, f.severity === 'error' ? 31 : 33, f.severity === 'error' ? 'ERROR' : 'warn'), f.node, f.code, f.message])))
    // A fix for the whole network (a migrate) runs once, from here: several findings share it (one
    // per node and unreachable peer), so it is printed once, after them, as a pair's fix is printed
    // once for all the pairs of its cause. --json keeps it on each finding, as on each pair.
    const fromHere = new Map<string, DoctorReport['findings']>()
    // Findings of one node led by the same fix (a node behind a peer's move: its sync mends the stale
    // route, the stale neighbour and the missing route at once) show their evidence together, then
    // that fix once, then each one's commands by hand, under it: they are its alternative.
    // A finding whose fixes are ways of a choice stands alone: merged by their text, a way's command would pass for another finding's step.
    const leadOf = (f: DoctorFinding) => f.fixes.length > 0 && !isNetworkFix(f.fixes[0]) && !f.fixes.some(x => x.option !== undefined) ? `${f.node}|${f.fixes[0].command}` : undefined
    const led = new Map<string, DoctorFinding[]>()
    for (const f of r.findings) {
      const lead = leadOf(f)
      if (lead !== undefined) led.set(lead, [...led.get(lead) ?? [], f])
    }
    const shown = new Set<DoctorFinding>()
    for (const f of r.findings) {
      if (shown.has(f)) continue
      const group = led.get(leadOf(f) ?? '') ?? [f]
      for (const g of group) {
        shown.add(g)
        if (g.evidence) out.push(`  ${g.node} ${g.code}: ${g.evidence}`)
      }
      // each command once, with its text in the finding's `fix` (a fix for another host says which)
      const fixes = new Map<string, Fix>()
      for (const g of group) g.fixes.forEach((x, i) => fixes.has(g.fix[i]) || fixes.set(g.fix[i], x))
      const text = new Map([...fixes].map(([t, x]) => [x, t]))
      out.push(...fixPartLines([...fixes.values()], 'fix', '    ', (step, inWay) => {
        const c = text.get(step.fix)!
        const indent = inWay ? '        ' : '    '
        const lines: string[] = []
        if (isNetworkFix(step.fix)) fromHere.set(c, [...fromHere.get(c) ?? [], ...group.filter(g => g.fix.includes(c))])
        else lines.push(`${indent}${inWay ? '' : 'fix '}[${step.fix.scope === 'cluster' ? fixPlace(step.fix) : f.node}]: ${c}`)
        for (const x of step.byHand) lines.push(`${indent}  ${BY_HAND} [${f.node}]: ${text.get(x)!}`)
        return lines
      }))
    }
    for (const [c, needing] of fromHere) {
      const nodesByCode = new Map<string, Set<string>>()
      for (const f of needing) nodesByCode.set(f.code, (nodesByCode.get(f.code) ?? new Set()).add(f.node))
      const which = [...nodesByCode].map(([code, nodes]) => `${[...nodes].join(', ')} ${code}`).join('; ')
      out.push(`  fix from here, once${needing.length > 1 ? ` for ${needing.length} findings` : ''} (${which}): ${c}`)
    }
  } else {
    out.push('', 'Host checks: no problems found')
  }
  const warnings = r.findings.filter(f => f.severity === 'warning').length
  out.push('', r.healthy ? paint(color, 32, warnings > 0 ? `healthy, with ${count(warnings, 'warning')} above` : 'healthy') : paint(color, 31, 'problems found'))
  return out.join('\n')
}

/**
 * The closing line of `doctor --lab`: every lab host is a namespace, so a fix printed for a host runs
 * there, one command at a time (as trace's lab fixes do). Only when the report printed such a fix:
 * a pair that is fine keeps the commands of a return path the trace could not read, unprinted, and a
 * migrate (a store finding's, or a shared one) runs from here, not inside a host.
 */
export function labFixLine(r: DoctorReport, lab: string): string | undefined {
  const hostFixes = r.pairs.some(p => pairIsBad(p) && p.fix.some(f => f.scope === undefined)) || r.findings.some(f => r.nodes.includes(f.node) && f.fixes.some(x => x.scope === undefined))
  if (!hostFixes) return undefined
  const fixes = [...r.findings.flatMap(f => f.fixes), ...r.pairs.filter(pairIsBad).flatMap(p => p.fix)]
  const kinds = [...new Set(fixes.filter(isNetworkFix).map(f => f.scope === 'network' ? 'a flannelctl migrate' : 'a flannelctl lab command'))]
  const fromHere = kinds.length > 0 ? ` (${kinds.join(' and ')} from here, as printed)` : ''
  // printed only where a sync leads them, as in trace's list
  const byHand = fixes.some(f => f.byHand === true)
  const ways = fixes.some(f => f.option !== undefined)
  return `In the lab, run each fix on its host: flannelctl lab exec${labNameArg(lab)} HOST -- COMMAND${fromHere}${
    byHand ? `; an "${BY_HAND}" line does by hand what the sync above it does: run the sync or those lines, not both` : ''}${
    ways ? '; of "either … or …" ways, run the fixes of one way' : ''}`
}
