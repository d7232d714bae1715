/**
 * doctor orders and merges fixes by the findings' structure (code, node, peer, the fixes' scope,
 * sync, byHand and recreates), not by the words of their messages or commands: a reworded message,
 * sync comment or re-creation command must not change what leads, what is merged, or what runs from here.
 */
import {expect} from 'chai'
import {join} from 'node:path'
import {isNetworkFix, runDoctor, setFixes, syncBehindNodesFirst, type DoctorFinding, type DoctorReport, type PairResult} from '../../src/services/doctor.js'
import {behindMoveSync, peerMacSync, publishVtepMacFix, recreatePodFix} from '../../src/core/trace/fixes.js'
import {fixSteps, type Fix, type World} from '../../src/core/trace/types.js'
import {labFixLine, renderDoctor} from '../../src/ui/doctor.js'
import {renderTrace} from '../../src/ui/trace-render.js'
import {labFixes} from '../../src/commands/trace.js'
import {withLabCommands} from '../../src/services/lab.js'
import type {Trace} from '../../src/core/trace/types.js'

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'snapshots')

const world = {hosts: [], pods: [{name: 'pod-1a', ip: '10.244.1.2', node: 'n1'}, {name: 'pod-2a', ip: '10.244.2.2', node: 'n2'}]} as World
const recreate = recreatePodFix('n2', 'pod-2a')

function made(f: Omit<DoctorFinding, 'fix' | 'fixes'>, fixes: Fix[]): DoctorFinding {
  return setFixes({...f, fix: [], fixes: []}, fixes)
}

/** n1 behind n2's move to 10.244.16.0/24, as hostChecks makes it, with `message` as its words. */
function behind(message: string): DoctorFinding {
  return made({code: 'MISSING_ROUTE', severity: 'error', node: 'n1', peer: 'n2', peerSubnet: '10.244.16.0/24', message},
    [behindMoveSync('n1', 'n2', '10.244.16.0/24', {byHand: true}), {node: 'n1', command: 'ip route replace 10.244.16.0/24 via 10.244.16.0 dev flannel.1 onlink', byHand: true}])
}

function drift(peer: string, message: string): DoctorFinding {
  return made({code: 'VTEP_MAC_DRIFT', severity: 'error', node: 'n1', peer, peerSubnet: '10.244.2.0/24', message},
    [{node: 'n1', command: 'ip neigh replace 10.244.2.0 lladdr 06:36:e0:f4:ea:f9 dev flannel.1 nud permanent'}])
}

const stranded = (): PairResult => ({from: 'pod-1a', to: 'pod-2a', disposition: 'NO_ROUTE', node: 'n2', reason: 'pod-2a is on a subnet n2 no longer has', fix: [recreate], warnings: []})

describe('doctor: fixes ordered by the findings\' structure, not their words', () => {
  it('a VTEP_MAC_DRIFT on the other pod\'s node about the stranded pod\'s node leads with that node\'s sync, whatever the message says', () => {
    for (const message of ['neighbour 10.244.2.0 says n2\'s VTEP MAC is 16:58:7b:64:7f:ad, but …', 'reworded: n1 keeps an old MAC for n2']) {
      const pair = stranded()
      syncBehindNodesFirst(world, [pair], [drift('n2', message)])
      expect(pair.fix, message).to.deep.equal([peerMacSync('n1', 'n2'), recreate])
    }
  })

  it('a drift about another peer does not, even when its message names the stranded pod\'s node', () => {
    const pair = stranded()
    syncBehindNodesFirst(world, [pair], [drift('n3', 'neighbour 10.244.3.0 says n2\'s VTEP MAC is 16:58:7b:64:7f:ad')])
    expect(pair.fix).to.deep.equal([recreate])
  })

  it('a node behind the move: its sync, made again without the by-hand tail (none follows it in the pair), whatever the finding says', () => {
    for (const message of ['no route to n2\'s pod subnet 10.244.16.0/24: n2\'s lease moved there', 'reworded']) {
      const pair = stranded()
      syncBehindNodesFirst(world, [pair], [behind(message)])
      expect(pair.fix, message).to.deep.equal([
        {node: 'n1', command: 'flannelctl sync   # n1 has not synced since n2\'s lease moved to 10.244.16.0/24: it replaces the old entries', sync: 'peer'}, recreate])
    }
  })

  it('the moved node not yet publishing its VTEP\'s MAC: its own sync first, and the other node\'s says it waits for it', () => {
    const publish = made({code: 'VTEP_MAC_NOT_PUBLISHED', severity: 'error', node: 'n2', message: 'reworded'}, [publishVtepMacFix('n2', 'flannel.1')])
    const pair = stranded()
    syncBehindNodesFirst(world, [pair], [behind('reworded'), publish])
    expect(pair.fix.map(f => `${f.node} ${f.sync ?? '-'}`)).to.deep.equal(['n2 publish', 'n1 peer', 'n2 -'])
    expect(pair.fix[1].command).to.contain('once n2\'s own sync has published its VTEP\'s new MAC (VTEP_MAC_NOT_PUBLISHED), it replaces the old entries')
    expect(pair.fix[1].command).to.not.contain('or by hand')
  })

  it('a pair failing on the behind node: its sync leads, and the trace\'s commands of that node after it are its alternative by hand', () => {
    const route = {node: 'n1', command: 'ip route replace 10.244.16.0/24 via 10.244.16.0 dev flannel.1 onlink'}
    const other = {node: 'n2', command: 'ip link set cni0 up'}
    const pair: PairResult = {from: 'pod-1a', to: 'pod-2a', disposition: 'NO_ROUTE', node: 'n1', reason: 'no route', fix: [route, other], warnings: []}
    syncBehindNodesFirst(world, [pair], [behind('reworded')])
    expect(pair.fix).to.deep.equal([behind('x').fixes[0], {...route, byHand: true}, other])
    // a sync the trace put there itself (it saw the move) is not put there twice
    const seen: PairResult = {...pair, fix: [behindMoveSync('n1', 'n2', '10.244.16.0/24', {byHand: true}), {...route, byHand: true}]}
    syncBehindNodesFirst(world, [seen], [behind('reworded')])
    expect(seen.fix.filter(f => f.sync !== undefined)).to.have.length(1)
  })

  it('a pod\'s re-creation is known by the pod it names (recreates), not by its command\'s words: last, after the other node\'s sync, and a lab\'s own command in a lab', () => {
    const reworded: Fix = {...recreate, command: 'crictl runp pod-2a.json   # reworded: pod-2a again, in n2\'s subnet now'}
    const route = {node: 'n1', command: 'ip route replace 10.244.16.0/24 via 10.244.16.0 dev flannel.1 onlink'}
    const pair: PairResult = {...stranded(), fix: [reworded, route]}
    syncBehindNodesFirst(world, [pair], [drift('n2', 'reworded')])
    expect(pair.fix).to.deep.equal([peerMacSync('n1', 'n2'), route, reworded])
    expect(withLabCommands([reworded], 'demo')).to.deep.equal([{node: 'n2', command: 'flannelctl lab pod recreate pod-2a', scope: 'lab', recreates: 'pod-2a'}])
    // a command that only reads like one is none
    const lookalike: Fix = {node: 'n2', command: recreate.command}
    const other: PairResult = {...stranded(), fix: [lookalike, route]}
    syncBehindNodesFirst(world, [other], [drift('n2', 'reworded')])
    expect(other.fix).to.deep.equal([lookalike, route])
    expect(withLabCommands([lookalike], 'demo')).to.deep.equal([lookalike])
  })

  it('a migrate or a lab command runs from here by its scope: a command that only reads like one does not', () => {
    expect(isNetworkFix({node: 'n1', command: 'flannelctl migrate --backend vxlan --lab demo --yes', scope: 'network'})).to.equal(true)
    expect(isNetworkFix({node: 'n1', command: 'flannelctl lab pod recreate pod-2a', scope: 'lab'})).to.equal(true)
    expect(isNetworkFix({node: 'n1', command: 'flannelctl migrate --backend vxlan   # a node\'s own, say'})).to.equal(false)
  })
})

describe('doctor --json: the findings\' structure beside the strings it always had', () => {
  it('each finding\'s fixes are its fix, one object for each string, in its order; a node behind a move names the peer and marks its sync and the commands by hand', async () => {
    const report = await runDoctor({snapshot: join(FIXTURES, 'lab-vxlan-peer-moved-new-mac')}, {})
    for (const f of report.findings) {
      expect(f.fixes.map(x => x.command), f.code).to.deep.equal(f.fix)
    }
    const missing = report.findings.find(f => f.node === 'n1' && f.code === 'MISSING_ROUTE')!
    expect(missing).to.include({peer: 'n2', peerSubnet: '10.244.102.0/24'})
    expect(missing.fixes[0].sync).to.equal('peer')
    expect(missing.fixes.slice(1).every(x => x.byHand === true)).to.equal(true)
    const stale = report.findings.filter(f => f.node === 'n1' && f.code.startsWith('STALE_'))
    expect(stale.map(f => [f.peer, f.fixes[0].sync, f.fixes.slice(1).every(x => x.byHand)])).to.deep.equal([['n2', 'peer', true], ['n2', 'peer', true], ['n2', 'peer', true]])
    expect(report.findings.find(f => f.code === 'VTEP_MAC_NOT_PUBLISHED')!.fixes[0].sync).to.equal('publish')
  })
})

describe('the commands by hand print as the sync\'s alternative, not as further steps (doctor and trace alike)', () => {
  const sync1 = behindMoveSync('n1', 'n2', '10.244.16.0/24', {byHand: true})
  const sync3 = behindMoveSync('n3', 'n2', '10.244.16.0/24', {byHand: true})
  const del = (node: string): Fix => ({node, command: 'ip route del 10.244.51.0/24', byHand: true})

  it('each goes under its own node\'s sync, also where the merged list put another node\'s sync between', () => {
    expect(fixSteps([sync1, sync3, del('n1'), del('n3'), recreate])).to.deep.equal([
      {fix: sync1, byHand: [del('n1')]}, {fix: sync3, byHand: [del('n3')]}, {fix: recreate, byHand: []}])
    // with no sync of its node before it, a command is a step
    expect(fixSteps([del('n1')])).to.deep.equal([{fix: del('n1'), byHand: []}])
  })

  it('doctor: under the sync as "instead"; the lab line says it is one or the other', () => {
    const report: DoctorReport = {source: 'lab demo', nodes: ['n1', 'n2'], pods: ['pod-1a', 'pod-2a'], sampled: false, rules: {}, healthy: false, findings: [behind('no route to n2\'s pod subnet')],
      pairs: [{from: 'pod-1a', to: 'pod-2a', disposition: 'STALE_VTEP_MAC', node: 'n1', reason: 'n1 sends frames to the old MAC', fix: [sync1, del('n1')], warnings: []}]}
    const text = renderDoctor(report, {color: false})
    expect(text).to.contain([`    fix [n1]: ${sync1.command}`, '      instead [n1]: ip route del 10.244.51.0/24'].join('\n'))
    expect(text).to.contain([`    fix [n1]: ${sync1.command}`, '      instead [n1]: ip route replace 10.244.16.0/24 via 10.244.16.0 dev flannel.1 onlink'].join('\n'))
    expect(text).to.not.match(/fix \[n1\]: ip /)
    expect(labFixLine(report, 'demo')).to.equal('In the lab, run each fix on its host: flannelctl lab exec HOST -- COMMAND; an "instead" line does by hand what the sync above it does: run the sync or those lines, not both')
  })

  it('trace: under the sync as "Instead"; its lab list comments them out, so pasted whole it runs the sync alone', () => {
    const t = {src: {name: 'pod-1a', ip: '10.244.1.2'}, dst: {name: 'pod-2a', ip: '10.244.16.2'}, flow: {proto: 'icmp'}, disposition: 'STALE_VTEP_MAC', hops: [], traceroute: [], warnings: [],
      failure: {node: 'n1', step: 'neigh', evidence: '(old MAC)', reason: 'n1 sends frames to the old MAC', fix: [sync1, del('n1')]}, returnPath: {disposition: 'DELIVERED', hops: []}} as unknown as Trace
    expect(renderTrace(t, {color: false})).to.contain([`  Fix (on n1): ${sync1.command}`, '    Instead (on n1): ip route del 10.244.51.0/24'].join('\n'))
    expect(labFixes(t, 'demo').split('\n')).to.deep.equal(['', 'In the lab, apply it with:', `  flannelctl lab exec n1 -- ${sync1.command}`, '  #   instead: flannelctl lab exec n1 -- ip route del 10.244.51.0/24'])
  })
})
