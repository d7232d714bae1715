/**
 * trace: gather a World from the chosen source and ask the engine where one packet goes.
 * The engine is pure; everything here is about where the tables come from.
 */
import {traceFlow} from '../core/trace/engine.js'
import type {Trace, TraceRequest, World} from '../core/trace/types.js'
import {renderTrace} from '../ui/trace-render.js'
import {inventoryStateFiles, withHostStateFiles} from '../ui/carry.js'
import {knownPeers, loadSource, labHosts, networkVxlan, readStoreOf, type LoadOptions, type SourceOptions} from './collect.js'
import {withLabCommands, type LabState} from './lab.js'
import {captureHost} from '../adapters/collect.js'
import {userError} from '../errors.js'

export interface TraceOptions extends SourceOptions, TraceRequest {}

export function traceWorld(world: World, req: TraceRequest): Trace {
  return traceFlow(world, req)
}

export function validateFlow(o: {proto?: string; dport?: number; size?: number; noDf?: boolean}): void {
  if (o.dport !== undefined && (o.proto === undefined || o.proto === 'icmp')) {
    throw userError('--dport needs --proto tcp or udp', 'e.g. flannelctl trace pod-a pod-b --proto tcp --dport 80')
  }
  if (o.dport !== undefined && (o.dport < 1 || o.dport > 65535)) throw userError(`--dport ${o.dport} is not a port`, 'give 1-65535')
  if (o.size !== undefined && (o.size < 28 || o.size > 65535)) throw userError(`--size ${o.size} is not an IP packet size`, 'give the IP packet size in bytes, 28-65535 (ping -s N sends N + 28)')
  if (o.noDf === true && o.size === undefined) throw userError('--no-df needs --size', 'e.g. flannelctl trace pod-a pod-b --size 1500 --no-df')
}

export async function runTrace(o: TraceOptions, opts: LoadOptions = {}): Promise<{trace: Trace; source: string}> {
  validateFlow(o)
  const src = await loadSource(o, opts)
  const req: TraceRequest = {src: o.src, dst: o.dst, proto: o.proto, dport: o.dport, size: o.size, noDf: o.noDf}
  let trace = traceFlow(src.world, req)
  // Two questions the store answers, read then, not for every trace: a VTEP's changed MAC (does
  // the peer's lease announce the new one? else the sender's sync writes the old one back), and of
  // two nodes whose vxlan devices disagree, which is on the network's VNI and port.
  const question = src.world.leases === undefined ? asksTheStore(trace) : undefined
  if (question !== undefined) {
    const summary = await readStoreOf(src, o, opts.progress, question)
    const leases = knownPeers(summary)
    if (leases !== undefined) trace = traceFlow({...src.world, leases, vxlan: networkVxlan(summary)}, req)
  }
  if (o.lab !== undefined) {
    for (const failure of [trace.failure, trace.returnPath.failure]) if (failure !== undefined) failure.fix = withLabCommands(failure.fix, o.lab)
  }
  // an inventory's nodes set up with a state file of their own: each fix run there names it
  if (src.kind === 'inventory') {
    const files = inventoryStateFiles(src.inventory.nodes)
    for (const failure of [trace.failure, trace.returnPath.failure]) if (failure !== undefined) failure.fix = withHostStateFiles(failure.fix, files)
  }
  return {trace, source: src.description}
}

/** What a trace cannot settle without the store, said as what its fix lacks when the store cannot be read; undefined: nothing. */
function asksTheStore(trace: Trace): string | undefined {
  const dispositions = [trace.disposition, trace.returnPath.disposition]
  if (dispositions.includes('STALE_VTEP_MAC')) return 'the fix cannot say whether the peer\'s lease announces its new MAC'
  if (dispositions.includes('VNI_MISMATCH') || dispositions.includes('PORT_MISMATCH')) return 'the fix cannot say which node\'s vxlan device is off the network\'s VNI and port'
  return undefined
}

/** A lab as a World, every host read in parallel. */
export async function labWorld(state: LabState): Promise<World> {
  const {live} = labHosts(state)
  const captured = await Promise.all(live.map(h => captureHost(h.runner, h.name)))
  return {hosts: captured.map(c => c.snapshot), pods: state.pods.map(p => ({name: p.name, ip: p.ip, node: p.node, netns: p.name}))}
}

/**
 * The demo's last act: trace one cross-node pod pair of a lab and explain it. Picks the first pod
 * on the first node and the first pod on the last node unless told otherwise; returns the text
 * to print and whether the packet was delivered.
 */
export async function explainLabTrace(state: LabState, o: {color: boolean; src?: string; dst?: string}): Promise<{text: string; trace: Trace; delivered: boolean}> {
  const first = state.pods.find(p => p.node === state.nodes[0]?.name)
  const last = [...state.pods].reverse().find(p => p.node !== first?.node)
  const src = o.src ?? first?.name
  const dst = o.dst ?? last?.name
  if (!src || !dst) throw userError(`lab ${state.name} has no two pods on different nodes to trace`, 'bring it up with --nodes 2 --pods 1 or more')
  const trace = traceFlow(await labWorld(state), {src, dst})
  const heading = `Where a packet from ${src} to ${dst} goes (flannelctl trace ${src} ${dst} --lab ${state.name}):`
  return {text: `${heading}\n${renderTrace(trace, {color: o.color})}`, trace, delivered: trace.disposition === 'DELIVERED'}
}

