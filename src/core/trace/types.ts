/**
 * The trace as data: the public `--json` contract (design.md, "Trace"). Field names here are
 * what scripts read, so they change only with the schema in schema.ts and docs/trace.md.
 */
import type {HostSnapshot} from '../model.js'

export const DISPOSITIONS = [
  'DELIVERED', 'NO_ROUTE', 'NEXT_HOP_NOT_ONLINK', 'NEIGHBOR_MISSING', 'FDB_MISSING', 'WRONG_VTEP_HOST',
  'STALE_VTEP_MAC', 'VNI_MISMATCH', 'PORT_MISMATCH', 'DEVICE_DOWN', 'FORWARDING_DISABLED', 'DENIED_BY_FILTER',
  'NULL_ROUTED', 'REVERSE_PATH_FILTERED', 'MTU_EXCEEDED', 'LOOP', 'EXITS_NETWORK', 'DUPLICATE_ADDRESS', 'NAT_NOT_UNDONE', 'INSUFFICIENT_INFO',
] as const
export type Disposition = typeof DISPOSITIONS[number]

export const WARNING_CODES = ['SOURCE_NATED', 'NO_RETURN_ROUTE', 'ASYMMETRIC_PATH', 'ASSUMED'] as const
export type WarningCode = typeof WARNING_CODES[number]

export const STEP_KINDS = ['route', 'neigh', 'fdb', 'encap', 'decap', 'filter', 'nat', 'sysctl', 'mtu', 'deliver'] as const
export type StepKind = typeof STEP_KINDS[number]

/**
 * What a step decided. `ok`/`accept` let the packet on, `drop` ends the trace, `assumed` means the
 * table was not captured and a flannel node's usual setting stood in, `exit` means the packet left
 * the hosts we can see, the nat verdicts say what happened to an address.
 */
export const STEP_VERDICTS = [
  'ok', 'accept', 'drop', 'assumed', 'unknown', 'exit', 'delivered', 'unchanged', 'masquerade', 'snat', 'dnat', 'de-nat',
] as const
export type StepVerdict = typeof STEP_VERDICTS[number]

export type Proto = 'icmp' | 'tcp' | 'udp'

export interface Step {
  kind: StepKind
  /** the exact table line the decision rests on (an entity's `raw`), or a note in parentheses when none exists */
  evidence: string
  verdict: StepVerdict
  explanation: string
}

/** `in`/`out` are device names; `local` means the packet starts or ends on this host, `-` that none was chosen. */
export interface Hop {
  node: string
  in: string
  out: string
  steps: Step[]
}

export interface Fix {
  /** the host (snapshot name) to run the command on; with `scope: 'cluster'`, the host whose rule it is about */
  node: string
  command: string
  /**
   * `cluster`: a command for the cluster's API (kubectl), run wherever kubectl reaches it, not on
   * `node`: the rule there is a controller's, written from cluster objects.
   * `lab`: a `flannelctl lab` command (re-create a lab pod), run on the machine the lab is on, not
   * inside `node`, the node it is about.
   * `network` (doctor's findings only): a `flannelctl migrate` of the whole network, run once from
   * where doctor ran, not inside `node`.
   * Absent: a command run on `node`.
   */
  scope?: 'cluster' | 'lab' | 'network'
  /**
   * A node's `flannelctl sync` that takes what the store says anew, so it leads the other fixes:
   * `publish`, the node's own (its lease announces its VTEP's MAC again, which its peers' syncs
   * then write); `peer`, the sync of a node behind a peer (its lease moved, or its VTEP's MAC changed).
   */
  sync?: 'publish' | 'peer'
  /**
   * One of the commands that do by hand what the `sync: 'peer'` fix of the same node before it
   * does: run that sync or these, not both (after the sync, its deletions fail: the entries are gone).
   */
  byHand?: true
  /**
   * The pod this fix re-creates (its runtime's CNI ADD, or `lab pod recreate` in a lab): it gets an
   * address in its node's pod subnet now, so the fix comes after the syncs that route that subnet.
   */
  recreates?: string
  /**
   * Set when this fix is one of several ways to mend the same fault: the fixes of a list that carry
   * the same `option.choice` are one way, to be run together; run one way's fixes, not another's as
   * well. Fixes without it are needed whichever way is taken.
   */
  option?: FixOption
}

/** One way of several to mend a fault (see Fix.option). */
export interface FixOption {
  /** which way: 1, 2, … in the order the list gives them, the recommended first */
  choice: number
  /** what this way does and when it is the one to take */
  why: string
  /** the way trace recommends (at most one per list) */
  recommended?: true
}

/** Where a fix runs, as the text output says it: `on NODE`, the cluster for a kubectl command, here for a lab's or the network's. */
export function fixPlace(fix: Fix): string {
  if (fix.scope === 'cluster') return `in the cluster, where kubectl works; the rule is on ${fix.node}`
  if (fix.scope === 'lab' || fix.scope === 'network') return `from here, not inside ${fix.node}`
  return `on ${fix.node}`
}

/**
 * A command that only reads (`ip … show`, `ip route get`, `ping`, `bridge fdb show`, `kubectl get`, …):
 * where the tables cannot say what mends a fault, the trace hands out what to look at; the text
 * output calls it a check, not a fix, so nobody runs it and waits for the packet to pass.
 */
const READ_COMMAND = new RegExp('^(?:' + [
  String.raw`ip(?:\s+-\S+)*\s+[a-z]+\s+(?:show|get|list|ls)(?:\s|$)`,
  String.raw`(?:bridge|tc)(?:\s+-\S+)*\s+[a-z]+\s+show(?:\s|$)`,
  String.raw`(?:ping|ss|cat|grep|tcpdump)\s`,
  String.raw`bpftool\s+\S+\s+(?:show|list|dump)(?:\s|$)`,
  String.raw`nft(?:\s+-\S+)*\s+list\s`,
  String.raw`conntrack\s+-L(?:\s|$)`,
  String.raw`iptables(?:-save|(?:\s+-t\s+\S+)?\s+-[SL])(?:\s|$)`,
  String.raw`kubectl\s+(?:get|describe)\s`,
].join('|') + ')')

export function readsOnly(fix: Fix): boolean {
  return READ_COMMAND.test(fix.command)
}

/** A fix as the text output lists it: a node's sync with the by-hand commands that are its alternative, if any. */
export interface FixStep {
  fix: Fix
  byHand: Fix[]
}

/**
 * The fixes as steps to run one after another: each by-hand command goes under the sync of its node
 * before it (not in the order of the list, where another node's sync may come between), since it is
 * that sync's alternative, not a further step. A by-hand command with no such sync before it is a step.
 */
export function fixSteps(fixes: Fix[]): FixStep[] {
  const steps: FixStep[] = []
  for (const fix of fixes) {
    const sync = fix.byHand === true ? [...steps].reverse().find(s => s.fix.node === fix.node && s.fix.sync === 'peer') : undefined
    if (sync !== undefined) sync.byHand.push(fix)
    else steps.push({fix, byHand: []})
  }
  return steps
}

/**
 * A list's fixes as the text prints them: steps run one after another, except where consecutive
 * fixes carry options: those are one choice, each way with its own steps, run one of them.
 */
export type FixPart = {steps: FixStep[]; ways?: undefined} | {steps?: undefined; ways: {option: FixOption; steps: FixStep[]}[]}

export function fixParts(fixes: Fix[]): FixPart[] {
  const parts: FixPart[] = []
  let run: Fix[] = []
  const flush = () => {
    if (run.length === 0) return
    if (run[0].option === undefined) parts.push({steps: fixSteps(run)})
    else {
      const choices = [...new Set(run.map(f => f.option!.choice))]
      parts.push({ways: choices.map(choice => {
        const own = run.filter(f => f.option!.choice === choice)
        return {option: own[0].option!, steps: fixSteps(own)}
      })})
    }
    run = []
  }
  for (const fix of fixes) {
    if ((fix.option === undefined) !== (run[0]?.option === undefined)) flush()
    run.push(fix)
  }
  flush()
  return parts
}

/** How a way of a choice is introduced: the first "either", the others "or", the recommended one says so. */
export function wayLabel(option: FixOption, first: boolean): string {
  return `${first ? 'either' : 'or'}${option.recommended ? ' (recommended)' : ''}: ${option.why}`
}

/**
 * A list's fixes as a report prints them, at `indent`: its steps as `step` prints them, and where
 * fixes are ways of one choice, a "LABEL, one of N ways:" line, then each way under its
 * "either"/"or" line (`inWay`: the step is printed under one).
 */
export function fixPartLines(fixes: Fix[], label: string, indent: string, step: (s: FixStep, inWay: boolean) => string[]): string[] {
  return fixParts(fixes).flatMap(part => part.ways === undefined
    ? part.steps.flatMap(s => step(s, false))
    : [`${indent}${label}, one of ${part.ways.length} ways:`, ...part.ways.flatMap((way, i) => [
      `${indent}  ${wayLabel(way.option, i === 0)}`, ...way.steps.flatMap(s => step(s, true))])])
}

export interface Failure {
  node: string
  step: StepKind
  evidence: string
  reason: string
  fix: Fix[]
}

/** A table of a host that was not captured, as an ASSUMED warning standing in for it names it. */
export const UNREAD_TABLES = ['links', 'addresses', 'routes', 'rules', 'neighbours', 'fdb', 'iptables', 'nft', 'sysctls', 'qdiscs'] as const
export type UnreadTable = typeof UNREAD_TABLES[number]

export interface TraceWarning {
  code: WarningCode
  node: string
  message: string
  /**
   * An ASSUMED warning made for want of one of `node`'s tables: which (each use the walk made of
   * it is its own warning: each device taken as up, each MTU not checked; one table missing all the
   * same). Absent: an assumption of another kind (an undecidable match, a guess beyond the tables).
   */
  table?: UnreadTable
}

export interface ReturnPath {
  disposition: Disposition
  hops: Hop[]
  failure?: Failure
}

export interface Endpoint {
  /** pod: a pod of the inventory; node: a host; address: an IPv4 address outside the hosts we can see */
  kind: 'pod' | 'node' | 'address'
  name: string
  ip: string
  /** the node a pod runs on */
  node?: string
}

export interface Flow {
  proto: Proto
  dport?: number
  /** IP packet size in bytes (headers included), checked with DF set */
  size?: number
  /** with --no-df: the packet goes without DF, so a link too small for it fragments it */
  df?: false
}

export interface Trace {
  src: Endpoint
  dst: Endpoint
  flow: Flow
  disposition: Disposition
  hops: Hop[]
  failure?: Failure
  returnPath: ReturnPath
  /** the addresses `traceroute -n` would print, the destination last; `*` for a hop that stays silent */
  traceroute: string[]
  warnings: TraceWarning[]
}

export interface PodRef {
  name: string
  ip: string
  node: string
  /** name of the HostSnapshot holding the pod's own namespace tables, when captured */
  netns?: string
}

export interface World {
  hosts: HostSnapshot[]
  pods: PodRef[]
  /**
   * Only some of the network's hosts were read (a trace on this host alone): an address no host
   * here owns may well answer ARP, so a missing neighbour entry is where the tables run out, not a
   * drop. Without it the hosts are taken as the whole network, as an inventory or a lab says.
   */
  partial?: boolean
  /**
   * The pods were found (bridge neighbours, CNI allocations), not listed: a pod that has sent nothing
   * lately, with its address kept where no allocation was read, shows in neither, so an address on a
   * node's pod bridge that nothing answers for is unknown, not gone.
   */
  podsDiscovered?: boolean
  /**
   * Nodes of the network whose tables are missing (collect could not read them: down, their
   * namespace gone), with why. Where a packet leaves the nodes read other than into a pod of theirs,
   * it may reach one of these: a trace says the tables run out there, naming them, as with `partial`,
   * instead of calling the packet dropped.
   */
  unread?: {name: string; reason: string}[]
  /**
   * The pod network (the net-conf's `Network`), when the store was read: an accept for pod traffic
   * names it, as flanneld's FLANNEL-FWD does. Absent: guessed from the pods' addresses (podNetwork).
   */
  network?: string
  /**
   * The store's leases, when it was read (doctor): what a peer announces, to say why an entry of
   * it is stale (its lease moved, or announces another MAC). Absent: the tables alone tell.
   * `staticOf`: a static peer (`peer add`) of that node alone, no lease: the others route none of it.
   */
  leases?: {subnet: string; publicIP: string; vtepMac?: string; staticOf?: string}[]
  /**
   * The net-conf's vxlan VNI and port, when the store was read: of two nodes whose devices disagree
   * on one, without other nodes to outvote, the one off the network's setting is put right.
   */
  vxlan?: {vni: number; port: number}
}

export interface TraceRequest {
  src: string
  dst: string
  proto?: Proto
  dport?: number
  size?: number
  /** send the sized packet without DF (`ping -M dont`, traceroute without -F) */
  noDf?: boolean
}
