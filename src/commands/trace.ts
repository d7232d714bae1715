import {Args, Flags} from '@oclif/core'
import {BaseCommand, useColor, refuseThisHostFlagsWithHosts} from '../cli/base.js'
import {absolute, recordedStoreFlags} from '../cli/flags.js'
import {runTrace} from '../services/trace.js'
import {sourceNatFixes} from '../core/trace/fixes.js'
import {commandEcho} from '../services/context.js'
import {labNameArg} from '../services/lab.js'
import {renderTrace} from '../ui/trace-render.js'
import {renderTraceDiagram} from '../ui/trace-diagram.js'
import {fixParts, readsOnly, wayLabel, type Fix, type FixStep, type Trace as TraceData} from '../core/trace/types.js'
import {userError} from '../errors.js'
import {debug} from '../debug.js'
import {traceExitCode} from '../core/trace/engine.js'

const FORMATS = ['text', 'json', 'mermaid', 'dot'] as const
type Format = typeof FORMATS[number]

export default class Trace extends BaseCommand {
  static override summary = 'Explain, hop by hop, where a packet from SRC to DST goes and why'
  static override description = `Follows one packet through the real kernel tables of every host on its path: pod routes, the bridge, ip_forward, the route lookup, FORWARD and POSTROUTING, neighbour and fdb entries, vxlan encapsulation on one node and decapsulation on the next, rp_filter and MTU. Then it traces the reply, predicts what \`traceroute -n\` prints, and when the packet is lost names the node, the table line and the command that fixes it.

SRC and DST are pod names, pod IPs or node names; DST may also be any IPv4 address. IPv4 forwarding is what the engine models: an IPv6 address is refused (exit 2), naming the pod or node that has it; a dual-stack pod's name traces its IPv4 address. The tables come from this host (the default: pods are found from the bridge's neighbours and the CNI host-local state), from the hosts of a --lab, from live hosts in an --inventory (local, netns:NAME, ssh:USER@HOST), or from a --snapshot directory written by \`flannelctl collect\` (offline).

--format mermaid or dot draws the path as a diagram: hosts, devices, encap/decap, the failing step in red (render dot with \`dot -Tpng\`). See docs/trace.md for every disposition.

Exit codes: 0 delivered (and, for icmp and tcp, its reply too), 1 not delivered or its reply lost on the way back (the Return path line says where; a udp datagram is judged by itself), 2 bad input (an unknown name lists the known ones) or a host that cannot be read.`

  static override examples = [
    {description: 'Follow one packet between two pods of the lab (`flannelctl lab up` makes pods pod-1a, pod-1b, pod-2a, …)', command: '<%= config.bin %> trace pod-1a pod-2b --lab demo'},
    {description: 'Full-size TCP to port 80: segments sized as the sender and the peer\'s MSS allow, a smaller MTU on the way answered by path MTU discovery (or a black hole)', command: '<%= config.bin %> trace pod-1a pod-3a --lab demo --proto tcp --dport 80 --size 1450'},
    {description: 'From a node\'s own address to a pod on another node', command: '<%= config.bin %> trace n1 pod-3b --lab demo'},
    {description: 'The trace as JSON (the public contract: disposition, hops, failure, returnPath, traceroute, warnings)', command: '<%= config.bin %> trace pod-1a pod-2b --lab demo --json'},
    {description: 'The path as a Mermaid diagram, for a Markdown page or an issue', command: '<%= config.bin %> trace pod-1a pod-2b --lab demo --format mermaid'},
    {description: 'Offline, from a snapshot directory (`flannelctl collect --lab demo --out ./snap` wrote it)', command: '<%= config.bin %> trace pod-1a pod-2b --snapshot ./snap'},
    {description: 'Live hosts named in an inventory (nodes: [{name, exec: netns:NAME | ssh:USER@HOST}], pods: [...])', command: '<%= config.bin %> trace pod-2a pod-1b --inventory hosts.yaml'},
  ]

  static override args = {
    src: Args.string({description: 'source: pod name, pod IP or node name', required: true}),
    dst: Args.string({description: 'destination: pod name, pod IP, node name or any IPv4 address', required: true}),
  }

  static override flags = {
    lab: Flags.string({char: 'l', description: 'the hosts of a lab (flannelctl lab up)', exclusive: ['snapshot', 'inventory'], helpGroup: 'SOURCE'}),
    inventory: Flags.string({char: 'i', description: 'YAML/JSON inventory of live hosts (local, netns:NAME, ssh:USER@HOST)', exclusive: ['snapshot', 'lab'], helpGroup: 'SOURCE'}),
    snapshot: Flags.string({char: 's', description: 'snapshot directory, offline (written by flannelctl collect)', exclusive: ['inventory', 'lab'], helpGroup: 'SOURCE'}),
    proto: Flags.string({description: 'protocol', options: ['icmp', 'tcp', 'udp'], default: 'icmp', helpGroup: 'PACKET'}),
    dport: Flags.integer({description: 'destination port (with --proto tcp or udp)', helpGroup: 'PACKET'}),
    size: Flags.integer({description: 'IP packet size in bytes, sent with DF set: checks the MTU along the path (with --proto tcp, the segment the sender\'s MTU and the peer\'s MSS allow, shrunk by path MTU discovery)', helpGroup: 'PACKET'}),
    'no-df': Flags.boolean({description: 'send the --size packet without DF (ping -M dont): a link too small for it fragments it instead of dropping it; with --proto tcp, a socket with IP_PMTUDISC_DONT (TCP still sizes its segments by the MSS)', dependsOn: ['size'], helpGroup: 'PACKET'}),
    format: Flags.string({description: 'text, json, mermaid (a flowchart for Markdown) or dot (Graphviz) [default: text]', options: [...FORMATS], helpGroup: 'OUTPUT'}),
    json: Flags.boolean({description: 'same as --format json', helpGroup: 'OUTPUT'}),
    ...recordedStoreFlags,
  }

  async run(): Promise<void> {
    const {args, flags, raw} = await this.parse(Trace)
    refuseThisHostFlagsWithHosts(raw, {lab: flags.lab, inventory: flags.inventory, snapshot: flags.snapshot})
    if (flags.json && flags.format && flags.format !== 'json') {
      throw userError(`--json and --format ${flags.format} ask for two outputs`, 'give one: --json is --format json')
    }
    const format: Format = flags.json ? 'json' : (flags.format as Format | undefined) ?? 'text'
    const started = Date.now()
    const {trace, source} = await runTrace({
      src: args.src, dst: args.dst, inventory: flags.inventory, snapshot: flags.snapshot, lab: flags.lab,
      stateFile: flags['state-file'], etcdPassword: flags['etcd-password'], cniConfDir: absolute(flags['cni-conf-dir']), nodeName: flags['node-name'],
      proto: flags.proto as 'icmp' | 'tcp' | 'udp', dport: flags.dport, size: flags.size, noDf: flags['no-df'],
    }, {progress: this.progress({verbose: flags.verbose, quiet: format !== 'text'}).report, listener: commandEcho(flags.verbose)})
    debug('trace')('%s → %s from %s: %s in %d ms', args.src, args.dst, source, trace.disposition, Date.now() - started)
    if (format === 'json') this.outJson(trace)
    else if (format === 'mermaid' || format === 'dot') this.out(renderTraceDiagram(trace, format))
    else {
      this.out(renderTrace(trace, {color: useColor()}))
      if (flags.lab) this.out(labFixes(trace, flags.lab))
    }
    process.exitCode = traceExitCode(trace)
  }
}

/**
 * In a lab every host is a namespace: the fixes, ready to paste, each through `lab exec` on its
 * node, but a lab command (`lab pod recreate`), which runs here. A cluster's command (kubectl) runs
 * on no node: it stays as the trace printed it. Empty when there is nothing to run.
 */
export function labFixes(trace: TraceData, lab: string): string {
  // Re-creating a device (ip link del, then add) drops every route, neighbour and fdb entry on it:
  // the list that does so goes first, or it takes out the entries the other list has just added.
  const lists = [trace.failure?.fix ?? [], trace.returnPath.failure?.fix ?? [], sourceNatFixes(trace)]
  const recreates = (list: Fix[]) => list.some(f => f.command.startsWith('ip link del '))
  const fixes: Fix[] = [...lists.filter(recreates), ...lists.filter(l => !recreates(l))].flat()
  const unique = fixes.filter((f, i) => f.scope !== 'cluster' && fixes.findIndex(g => g.node === f.node && g.command === f.command) === i)
  if (unique.length === 0) return ''
  const name = labNameArg(lab)
  // A placeholder (GATEWAY, DEVICE) needs a value first: say so rather than hand out a command that fails.
  // A lab's own command (re-create a pod) runs here, as it is.
  const line = (f: Fix) => f.scope === 'lab' ? f.command
    : `flannelctl lab exec${name} ${f.node} -- ${f.command}${/\b(GATEWAY|DEVICE|PEER_IP)\b/.test(f.command) ? '   # fill in the capitals first' : ''}`
  // A node's commands by hand go under its sync, as its alternative (run after it, their deletions
  // fail), as doctor prints them; commented out, so the list pasted as a whole runs the sync alone.
  // Of ways that are alternatives, the first (the recommended) is live, the others commented out
  // under their "or" line, for the same reason.
  const stepLines = (step: FixStep, off: string) => [`  ${off}${line(step.fix)}`, ...step.byHand.map(f => `  #   instead: ${line(f)}`)]
  // A choice whose other ways are the cluster's (kubectl) has one way left here: no "either" for it.
  const lines = fixParts(unique).flatMap(part => part.ways === undefined
    ? part.steps.flatMap(step => stepLines(step, ''))
    : part.ways.flatMap((way, i) => [`  # ${part.ways.length === 1 ? `${way.option.why} (of the ways printed above, the one a lab runs)` : wayLabel(way.option, i === 0)}`,
      ...way.steps.flatMap(step => stepLines(step, i === 0 ? '' : '#   '))]))
  return ['', `In the lab, ${unique.every(readsOnly) ? 'look with' : 'apply it with'}:`, ...lines].join('\n')
}
