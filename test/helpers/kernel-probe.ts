/**
 * The kernel's side of the randomised differential tests of trace (trace-kernel-fuzz*.test.ts): the
 * echo server and client they probe with, and the counters they read before and after a probe.
 */
import {join} from 'node:path'
import type {Failure, Trace} from '../../src/core/trace/types.js'
import {dropText, firstFailure, firstWay, sameDrop} from './fix-probe.js'

/**
 * The packets each native rule (those with a comment: the grammar's) counted, keyed
 * "host nft "nK" VERDICT": drop, reject, the translation (a DNAT as ` --to-destination A[-B][:P[-Q]]`,
 * as iptables-save prints it, which trace-kernel-fuzz.test.ts's `identity` reads) or `-` for the rest.
 */
export const nativeCounters = (host: string, json: string): [string, number][] => {
  const items = (JSON.parse(json || '{"nftables": []}') as {nftables: Record<string, any>[]}).nftables
  const range = (v: unknown): string => {
    const r = v as {range?: unknown[], prefix?: {addr: string, len: number}}
    if (Array.isArray(r?.range)) return r.range.join('-')
    // nft lists an address range that is a whole prefix ("to 10.91.3.2-10.91.3.3") as the prefix: print it as its first and last address
    if (r?.prefix !== undefined) {
      const n = r.prefix.addr.split('.').reduce((a, o) => a * 256 + Number(o), 0)
      const size = 2 ** (32 - r.prefix.len)
      const first = n - (n % size)
      const dotted = (x: number) => [24, 16, 8, 0].map(b => Math.floor(x / 2 ** b) % 256).join('.')
      return size === 1 ? dotted(first) : `${dotted(first)}-${dotted(first + size - 1)}`
    }
    return typeof v === 'object' ? JSON.stringify(v) : String(v)
  }
  return items.filter(i => i.rule?.comment !== undefined).map(({rule}) => {
    const expr = rule.expr as Record<string, any>[]
    const packets = expr.find(e => e.counter !== undefined)?.counter?.packets ?? 0
    const dnat = expr.find(e => e.dnat !== undefined)?.dnat
    const verdict = expr.some(e => 'drop' in e) ? 'drop' : expr.some(e => 'reject' in e) ? 'reject'
      : dnat !== undefined ? `dnat --to-destination ${range(dnat.addr)}${dnat.port === undefined ? '' : `:${range(dnat.port)}`}`
        : expr.some(e => 'snat' in e) ? 'snat' : expr.some(e => 'masquerade' in e) ? 'masquerade' : expr.some(e => 'redirect' in e) ? 'redirect' : '-'
    return [`${host} nft "${rule.comment}" ${verdict}`, Number(packets)] as [string, number]
  })
}
/** the native rule a step of the trace names (its evidence is the rule as nft lists it, comment and all) */
export const nativeRule = (node: string, evidence: string): string | undefined => {
  const id = /comment "(n\d+)"/.exec(evidence)?.[1]
  return id === undefined ? undefined : `${node} nft "${id}"`
}

/** an echo server: every UDP datagram and TCP connection on 80 and 8080 is answered with "PEER LOCAL" as it saw them */
export const SERVER = `
import socket, selectors, struct
sel = selectors.DefaultSelector()
for port in (80, 8080):
    t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(('0.0.0.0', port)); t.listen(16)
    sel.register(t, selectors.EVENT_READ, 'tcp')
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.setsockopt(socket.IPPROTO_IP, 8, 1); u.bind(('0.0.0.0', port))  # IP_PKTINFO
    sel.register(u, selectors.EVENT_READ, 'udp')
while True:
    for key, _ in sel.select():
        s = key.fileobj
        try:
            if key.data == 'tcp':
                c, peer = s.accept(); c.settimeout(1); l = c.getsockname()
                c.sendall(('%s:%d %s:%d' % (peer + l)).encode()); c.close()
            else:
                d, anc, _, peer = s.recvmsg(2048, 256)
                info = [a for a in anc if a[0] == socket.IPPROTO_IP and a[1] == 8][0][2]
                local = socket.inet_ntoa(info[8:12])
                # answer from the address asked, as a DNS server does: the client's connected socket takes no other
                s.sendmsg([('%s:%d %s:%d' % (peer + (local, s.getsockname()[1]))).encode()], [(socket.IPPROTO_IP, 8, struct.pack('i4s4s', 0, info[8:12], bytes(4)))], 0, peer)
        except OSError:
            pass
`
/**
 * A shell line that empties a namespace's connection tracking table. Every client probe uses the
 * same 5-tuple (port 40000), so a connection left by an earlier case would meet the next one: its
 * packets skip the nat table, and the kernel then seems to ignore the case's NAT rules. A flush that
 * fails (the conntrack program missing) ends the script with an error rather than passing unnoticed.
 */
export const FLUSH_CONNTRACK = "conntrack -F 2>/dev/null || { echo 'conntrack -F failed: the conntrack program (scripts/bootstrap.sh installs it)' >&2; exit 1; }"

/**
 * the client, from `bind` (a's 10.91.1.2) port 40000 (inside the ephemeral range trace judges the
 * client's port by, so a rule on a part of that range is ASSUMED, not decided): prints "reply TEXT",
 * "refused", "timeout" or the error. A TCP client gets its port as an unbound one does, in connect()
 * after the route lookup (IP_BIND_ADDRESS_NO_PORT), from a range of that one port (IP_LOCAL_PORT_RANGE):
 * the lookup sees source port 0, as a real client's does.
 */
export const CLIENT = (proto: 'udp' | 'tcp', dst: string, dport: number, bind: string) => `
import socket, struct, errno
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if '${proto}' == 'tcp' else socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if '${proto}' == 'tcp':
    s.setsockopt(socket.IPPROTO_IP, 24, 1)  # IP_BIND_ADDRESS_NO_PORT
    s.setsockopt(socket.IPPROTO_IP, 51, struct.pack('I', (40000 << 16) | 40000))  # IP_LOCAL_PORT_RANGE
s.bind(('${bind}', 0 if '${proto}' == 'tcp' else 40000)); s.settimeout(1.5)
try:
    s.connect(('${dst}', ${dport}))
    if '${proto}' == 'udp': s.send(b'x')
    print('reply', s.recv(200).decode())
except socket.timeout: print('timeout')
except ConnectionRefusedError: print('refused')
except OSError as e: print('error', errno.errorcode.get(e.errno, e.errno))
if '${proto}' == 'tcp': s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
s.close()
`

export interface Counted {
  /** "host table line" → packets, for rules and chain policies */
  rules: Map<string, number>
  received: Map<string, number>
  /** the packets each host dropped by rp_filter (TcpExt IPReversePathFilter) */
  rpFiltered: Map<string, number>
  /** "host:device" → packets sent, for the routers' devices */
  sent: Map<string, number>
  /** "host:device" → packets received: what came by lo (a host's own ICMP error to itself, late) is no probe's */
  got: Map<string, number>
  /** TCP segments each host received: a probe of another protocol leaves them out, as late segments of an earlier case's connection */
  tcpReceived: Map<string, number>
}

/** each host's counters: iptables and native rules, IpInReceives, TCP segments, rp_filter drops, packets sent by device */
export const readCounters = async (hosts: string[], run: (host: string, command: string) => Promise<string>): Promise<Counted> => {
  const rules = new Map<string, number>()
  const received = new Map<string, number>()
  const rpFiltered = new Map<string, number>()
  const sent = new Map<string, number>()
  const got = new Map<string, number>()
  const tcpReceived = new Map<string, number>()
  // every host at once: nothing else runs between a probe's two reads, and each is a process start or more
  // /proc/net/dev: every device's counters in the one cat, not two programs for each device's sysfs files
  const outs = await Promise.all(hosts.map(h => run(h, 'iptables-save -c; cat /proc/net/snmp /proc/net/netstat /proc/net/dev; echo "nft $(nft -j list ruleset)"')))
  for (const [i, h] of hosts.entries()) {
    const out = outs[i]
    for (const [key, n] of nativeCounters(h, /^nft (.*)$/m.exec(out)?.[1] ?? '')) rules.set(key, n)
    // a /proc/net/dev line: the device, then 8 receive counters (bytes, packets, …) and 8 transmit ones
    for (const m of out.matchAll(/^ *([^\s:]+): *(\d+(?: +\d+){15})$/gm)) {
      const n = m[2].split(/ +/).map(Number)
      if (m[1] !== 'lo') sent.set(`${h}:${m[1]}`, n[9])
      got.set(`${h}:${m[1]}`, n[1])
    }
    let tableName = ''
    for (const line of out.split('\n')) {
      if (line.startsWith('*')) tableName = line.slice(1)
      let m = /^\[(\d+):\d+\] (-A .*)$/.exec(line)
      if (m) rules.set(`${h} ${tableName} ${m[2]}`, (rules.get(`${h} ${tableName} ${m[2]}`) ?? 0) + Number(m[1]))
      m = /^:(\S+) (ACCEPT|DROP) \[(\d+):\d+\]$/.exec(line)
      if (m) rules.set(`${h} ${tableName} -P ${m[1]} ${m[2]}`, Number(m[3]))
    }
    const ip = out.split('\n').filter(l => l.startsWith('Ip: '))
    const names = ip[0].split(' ')
    received.set(h, Number(ip[1].split(' ')[names.indexOf('InReceives')]))
    const tcp = out.split('\n').filter(l => l.startsWith('Tcp: '))
    tcpReceived.set(h, Number(tcp[1].split(' ')[tcp[0].split(' ').indexOf('InSegs')]))
    const ext = out.split('\n').filter(l => l.startsWith('TcpExt: '))
    rpFiltered.set(h, Number(ext[1].split(' ')[ext[0].split(' ').indexOf('IPReversePathFilter')]))
  }
  return {rules, received, rpFiltered, sent, got, tcpReceived}
}

/** what one case of a kernel fuzz found: the disagreements, what the trace assumed (which tolerates them), the kernel's side */
export interface CaseResult {
  problems: string[]
  tolerated: string[]
  kernel: string
  /** the trace compared: its fix is what `fix` of runCases runs */
  trace?: Trace
  /** the rules and policies whose counters the probe moved ("host table line", as Counted keys them) */
  moved?: string[]
}
/** what runCases needs to run a case's fix and probe again (see fix-probe.ts) */
export interface FixRunner<C> {
  /** runs a shell line on a host of the case (its namespace) */
  run: (host: string, command: string) => Promise<{exitCode: number, stderr: string}>
  /** the comparison of a case again, on the hosts as they are now (no reset, no set-up) */
  again: (c: C) => Promise<CaseResult>
  /**
   * lets go of what the first probe left half done: an ARP still retrying (INCOMPLETE) fails the
   * probe after the fix with the first one's "host unreachable", which a user trying later never meets
   */
  forget: () => Promise<unknown>
}
/** FixRunner's forget on one host: its neighbour entries still resolving or given up */
export const FORGET_UNRESOLVED = 'ip neigh flush nud incomplete; ip neigh flush nud failed; true'
/**
 * Runs the kept and the drawn cases of a kernel fuzz (FC_KDIFF_CASE=i: drawn case i alone) and returns
 * the disagreements trace did not tolerate, each with the case that shows it. FC_KDIFF_VERBOSE=1 prints
 * the tolerated ones too, =2 every case; FC_KDIFF_COLLECT=DIR has `collect` (the caller's) write the
 * hosts' tables of each disagreeing case there, as the case left them, for a unit test's fixture.
 * With `fix` (FC_KDIFF_FIXES=0 leaves it out), a case the trace and the kernel agree dies in has the
 * first way of the trace's fix run (where it is runnable, fix-probe.ts) and is compared again: a fix
 * that fails to run, or leaves the same drop, is a failure (FC_KDIFF_COLLECT gets the tables before the fix).
 */
export async function runCases<C>(kept: (C & {why: string})[], drawn: C[], seed: number, o: {
  check: (c: C) => Promise<CaseResult>, describe: (name: string, c: C) => string, collect: (dir: string) => Promise<unknown>, tolerates: string,
  fix?: FixRunner<C>,
}): Promise<string[]> {
  const only = process.env.FC_KDIFF_CASE === undefined ? undefined : Number(process.env.FC_KDIFF_CASE)
  const numbered = drawn.map((c, i) => ({name: `seed ${seed} case ${i}`, id: `seed${seed}-case${i}`, c, i}))
  const cases = only !== undefined ? numbered.filter(d => d.i === only) : [...kept.map((c, i) => ({name: `kept case ${i} (${c.why})`, id: `kept${i}`, c: c as C, i})), ...numbered]
  const failures: string[] = []
  let tolerated = 0
  let replied = 0
  const fixes: FixTally = {run: 0, mended: 0, elsewhere: 0, unnamed: 0, skipped: new Map(), disagreed: []}
  const fixer = process.env.FC_KDIFF_FIXES === '0' ? undefined : o.fix
  for (const {name, id, c} of cases) {
    let result: CaseResult
    try {
      result = await o.check(c)
    } catch (error) {
      failures.push(`${o.describe(name, c)}\n  error: ${(error as Error).message}`)
      continue
    }
    if (result.kernel.startsWith('kernel: reply')) replied++
    if (process.env.FC_KDIFF_VERBOSE === '2') console.log(`${o.describe(name, c)}\n  ${result.kernel}`)
    if (result.problems.length === 0) {
      if (fixer === undefined || result.trace === undefined || result.kernel.startsWith('kernel: reply')) continue
      const broken = await fixBroken(result.trace, c, fixer, fixes, {
        label: o.describe(name, c), before: () => (process.env.FC_KDIFF_COLLECT ? o.collect(join(process.env.FC_KDIFF_COLLECT, `${id}-before-fix`)) : Promise.resolve()),
      })
      if (broken !== undefined) {
        failures.push(`${o.describe(name, c)}\n  ${result.kernel}\n  ${broken}`)
        if (process.env.FC_KDIFF_VERBOSE) console.log(failures.at(-1))
      }
      continue
    }
    if (result.tolerated.length > 0) {
      tolerated++
      if (process.env.FC_KDIFF_VERBOSE) console.log(`tolerated (${o.tolerates}): ${o.describe(name, c)}\n  ${result.problems.join('\n  ')}\n  ${result.tolerated.join('\n  ')}`)
      continue
    }
    failures.push(`${o.describe(name, c)}\n  ${result.kernel}\n  ${result.problems.join('\n  ')}`)
    if (process.env.FC_KDIFF_COLLECT) await o.collect(join(process.env.FC_KDIFF_COLLECT, id))
    if (process.env.FC_KDIFF_VERBOSE) console.log(failures.at(-1))
  }
  if (tolerated > 0) console.log(`  ${tolerated} disagreement(s) where trace said ${o.tolerates}`)
  console.log(`  ${replied} of ${cases.length} probes answered by the kernel`)
  if (fixer !== undefined) {
    console.log(`  ${fixes.run} fixes run: ${fixes.mended} delivered after, ${fixes.elsewhere} died elsewhere (a second fault; ${fixes.unnamed} of them not named by the trace), ${fixes.disagreed.length} not judged (the trace after the fix disagrees with the kernel)`)
    // a disagreement on the layout a fix made is the verdict's, not the fix's: shown, for the verdict's fuzz to pin
    for (const d of fixes.disagreed) console.log(`  not judged: ${d.replace(/\n/g, '\n    ')}`)
    const skipped = [...fixes.skipped].sort((a, b) => b[1] - a[1]).map(([why, n]) => `${n} ${why}`)
    if (skipped.length > 0) console.log(`  not run: ${skipped.join('; ')}`)
  }
  return failures
}

/**
 * Runs the first way of the fix of a failed trace on the case's hosts and compares again: what is
 * wrong with the fix (it failed to run, it left the same drop, the trace after it disagrees with the
 * kernel), or nothing. `before` runs first (the tables as the case left them, for a fixture); `label` names the case.
 */
interface FixTally {
  run: number
  mended: number
  elsewhere: number
  /** of those, where the trace before the fix had not named that second stop (the other way's failure, or a clause of the reason) */
  unnamed: number
  skipped: Map<string, number>
  disagreed: string[]
}
async function fixBroken<C>(t: Trace, c: C, fixer: FixRunner<C>, tally: FixTally, o: {label: string, before: () => Promise<unknown>}): Promise<string | undefined> {
  const drop = firstFailure(t)
  if (drop === undefined) return undefined
  const skip = (why: string) => {
    tally.skipped.set(why, (tally.skipped.get(why) ?? 0) + 1)
    return undefined
  }
  if (drop.disposition === 'INSUFFICIENT_INFO') return skip('INSUFFICIENT_INFO (the tables ran out: its fix reads)')
  const way = firstWay(drop.failure.fix)
  if (way.fixes === undefined) return skip(`${drop.disposition}: ${way.why.replace(/:.*$/, '')}`)
  tally.run++
  await o.before()
  const printed = way.fixes.map(f => `[${f.node}] ${f.command}`).join('; ')
  for (const f of way.fixes) {
    const done = await fixer.run(f.node, f.command.replace(/#.*$/, '').trim())
    if (done.exitCode !== 0) return `trace said ${dropText(drop)}\n  its fix failed to run: [${f.node}] ${f.command}: ${done.stderr.trim()}\n  (the way: ${printed})`
  }
  await fixer.forget()
  const again = await fixer.again(c)
  const after = again.trace === undefined ? undefined : firstFailure(again.trace)
  // the kernel's own word, whatever the trace after the fix says: the drop it counted is the one the fix was for
  if (!again.kernel.startsWith('kernel: reply') && drop.disposition === 'DENIED_BY_FILTER' && again.moved !== undefined && countedDrop(drop.failure, again.moved)) {
    return `trace said ${dropText(drop)}\n  after its fix (${printed}) the kernel counted the same drop: ${again.kernel}`
  }
  if (again.problems.length > 0) {
    tally.disagreed.push(`${o.label}\ntrace said ${dropText(drop)}\nafter its fix (${printed}): ${again.kernel}\n${again.problems.join('\n')}`)
    return undefined
  }
  // an MTU fix that lowered the sender's MTU works when the same oversized probe is refused by its own socket
  const refusedBySender = after?.disposition === 'MTU_EXCEEDED' && after.failure.reason.includes('the socket refuses it')
    && way.fixes.some(f => f.node === after.failure.node && / mtu \d+$/.test(f.command))
  if (again.kernel.startsWith('kernel: reply') || refusedBySender) {
    tally.mended++
    return undefined
  }
  if (after !== undefined && sameDrop(drop, after)) return `trace said ${dropText(drop)}\n  after its fix (${printed}) the same drop: ${dropText(after)}\n  ${again.kernel}`
  tally.elsewhere++
  const other = drop.failure === t.failure ? t.returnPath.failure : t.failure
  const named = namedBefore(drop, other, after, again.trace)
  if (!named) tally.unnamed++
  if (process.env.FC_KDIFF_VERBOSE) console.log(`died elsewhere after the fix${named ? ', where the trace named' : ', unnamed'}: ${o.label}\n  trace said ${dropText(drop)}\n  after its fix (${printed}): ${after === undefined && again.trace !== undefined ? `${again.trace.disposition}/${again.trace.returnPath.disposition}` : dropText(after)}`)
  return undefined
}

/** whether the trace before the fix named the stop the trace after it meets (or could not: past the tables) */
function namedBefore(drop: {failure: Failure}, other: Failure | undefined, after: {failure: Failure, disposition: string} | undefined, again: Trace | undefined): boolean {
  // the trace after the fix sends the packet past what the tables show (out of the network, to a host not read):
  // what the kernel does there is no fault the trace could name
  if (after === undefined) return again !== undefined && (again.disposition !== 'DELIVERED' || again.returnPath.disposition !== 'DELIVERED')
  return (other !== undefined && other.node === after.failure.node && other.evidence === after.failure.evidence)
    || drop.failure.reason.includes(`${after.failure.node}'s \`${after.failure.evidence}\``)
    // where the tables run out, what the host not read holds is unknown either way: the words differ with
    // the neighbour's state by then (an ARP the kernel resolved meanwhile), not with what the trace knew
    || (after.disposition === 'INSUFFICIENT_INFO' && drop.failure.reason.includes('reaches what the tables do not show'))
}

/** whether a drop rule or policy that counted (Counted's keys) is the failure's own line on its node (a native rule by its comment) */
function countedDrop(failure: {node: string, evidence: string}, moved: string[]): boolean {
  const native = nativeRule(failure.node, failure.evidence)
  return moved.some(key => / -j (DROP|REJECT)| -P \S+ DROP$| nft "n\d+" (drop|reject)$/.test(key)
    && (native !== undefined ? key.startsWith(`${native} `) : key.startsWith(`${failure.node} `) && key.endsWith(failure.evidence)))
}

/** what a probe found on the kernel's side, for compareWithKernel */
export interface KernelAnswer {
  ok: boolean
  said: string
  /** a "fragmentation needed" (or the sender's own "message too long") came back */
  fragNeeded: boolean
}
/**
 * The comparisons every fuzz of hosts with pods makes (trace-kernel-fuzz-overlay, -foreign): the reply
 * against request and reply DELIVERED, a `DENIED_BY_FILTER`'s rule or policy against the drops that
 * counted, rp_filter's drops against `REVERSE_PATH_FILTERED`, "fragmentation needed" against
 * `MTU_EXCEEDED` (one "no one tells" of is silent). What the trace said ASSUMED (but those `assumes`
 * leaves out) or INSUFFICIENT_INFO is returned as what tolerates a disagreement.
 */
export function compareWithKernel(t: Trace, k: KernelAnswer, before: Counted, after: Counted, leaveOut?: RegExp) {
  const problems: string[] = []
  const moved = [...after.rules].filter(([key, n]) => n > (before.rules.get(key) ?? 0)).map(([key]) => key)
  const drops = moved.filter(key => / -j (DROP|REJECT)| -P \S+ DROP$/.test(key))
  const rpFiltered = [...after.rpFiltered].filter(([h, n]) => n > before.rpFiltered.get(h)!).map(([h]) => h)
  const tolerated = t.warnings.filter(w => w.code === 'ASSUMED' && !(leaveOut?.test(w.message) ?? false)).map(w => `${w.node}: ${w.message}`)
  const traced = t.disposition === 'DELIVERED' && t.returnPath.disposition === 'DELIVERED'
  // the failure the kernel meets first: the request's, else the reply's
  const [failure, failed] = t.disposition !== 'DELIVERED' ? [t.failure, t.disposition] : [t.returnPath.failure, t.returnPath.disposition]
  if (failed === 'INSUFFICIENT_INFO') tolerated.push(`${failure?.node}: INSUFFICIENT_INFO ${failure?.reason}`)
  const kernel = `kernel: ${k.ok ? 'reply' : 'no reply'} (${k.said}); rp_filter dropped on ${rpFiltered.join(',') || '-'}; rules hit: ${moved.join(' | ') || '-'}`
  const verdict = `trace says ${t.disposition}/${t.returnPath.disposition}${failure ? ` at ${failure.node} ${failure.step}: ${failure.reason} [${failure.evidence}]` : ''}`
  if (k.ok !== traced) problems.push(`the kernel ${k.ok ? 'got a reply' : 'got none'}, ${verdict}`)
  if (failure?.step === 'filter' && failed === 'DENIED_BY_FILTER' && !countedDrop(failure, moved)) {
    problems.push(`trace's drop \`${failure.evidence}\` on ${failure.node} counted no packet; the kernel's drops: ${drops.join(' | ') || 'none'}`)
  }
  const tracedRp = failed === 'REVERSE_PATH_FILTERED' && failure?.evidence.includes('rp_filter') ? failure.node : undefined
  if (tracedRp !== undefined && !rpFiltered.includes(tracedRp)) problems.push(`trace says rp_filter drops on ${tracedRp}, the kernel's rp_filter dropped ${rpFiltered.length > 0 ? `on ${rpFiltered.join(', ')}` : 'nothing'}`)
  if (rpFiltered.length > 0 && tracedRp === undefined && !k.ok) problems.push(`the kernel's rp_filter dropped on ${rpFiltered.join(', ')}, trace's failure is ${failure ? `${failure.node} ${failure.step}` : 'none'}`)
  // a frame too long for a receiving device is dropped silently ("no one tells" the sender), and a "fragmentation
  // needed" lost on its way back tells no one either (a path MTU black hole): MTU_EXCEEDED without an error
  const silent = failed === 'MTU_EXCEEDED' && /no one tells|path MTU black hole/.test(failure?.reason ?? '')
  if (k.fragNeeded !== (failed === 'MTU_EXCEEDED' && !silent) && !k.ok) problems.push(`the kernel said ${k.fragNeeded ? '"fragmentation needed"' : 'no "fragmentation needed"'} (${k.said}), ${verdict}`)
  return {problems, tolerated, kernel, moved, traced, failure}
}

/**
 * The devices a probe's packets left by (`watched` of the `sent` counters), probed again with the
 * neighbours the first probe resolved, against `expected`: a device a packet of nobody's probe (a
 * neighbour's reachability probe) left by must be counted by a second probe as well. A disagreement, or none.
 */
export async function devicesProbedAgain(expected: string[], o: {
  again: () => Promise<{ok: boolean}>, counters: () => Promise<Counted>, flush: () => Promise<unknown>, watched: (hostDevice: string) => boolean,
}): Promise<string | undefined> {
  const devicesUsed = async () => {
    await o.flush()
    const first = await o.counters()
    const again = await o.again()
    const last = await o.counters()
    return {ok: again.ok, used: [...last.sent].filter(([d, n]) => o.watched(d) && n > first.sent.get(d)!).map(([d]) => d).sort()}
  }
  let measured = await devicesUsed()
  if (measured.ok && measured.used.join(' ') !== expected.join(' ')) {
    const second = await devicesUsed()
    measured = {ok: second.ok, used: second.used.filter(d => measured.used.includes(d) || expected.includes(d))}
  }
  return measured.ok && measured.used.join(' ') !== expected.join(' ') ? `the packets left by ${measured.used.join(' ')}, trace's hops by ${expected.join(' ')}` : undefined
}
