/**
 * Do trace's fixes fix? The kernel fuzzes (trace-kernel-fuzz*.test.ts, through runCases) take a case
 * whose trace says the packet dies, and the kernel agrees, run the fix the trace printed on the hosts
 * it names, and probe again: the same drop (the same disposition at the same node and step) must not
 * come back.
 */
import {readsOnly, type Failure, type Fix, type Trace} from '../../src/core/trace/types.js'

/** The words that stand where trace could not fill a value in: the reader supplies it, no program can. */
const PLACEHOLDERS = /\b(GATEWAY|DEVICE|PREFIX|ADDRESS|IFACE|NEXT|PORT|MAC)\b/
/** Programs whose commands change a host's tables: the others (ping, grep, systemctl, rm, …) point at where to look. */
const WRITERS = new Set(['ip', 'bridge', 'iptables', 'nft', 'sysctl'])

/**
 * Whether a fix is a command these fuzzes can run as it is printed, and if not why. Runnable: a
 * command on a host (no `scope`: a kubectl, lab or network command runs elsewhere) whose program
 * writes tables (ip, bridge, iptables, nft, sysctl) and whose words are all filled in. Not runnable:
 * a read that only points (`ip neigh show`, `ping`, `ip route get`), a placeholder (GATEWAY, DEVICE),
 * and `flannelctl` itself: the fuzzes' hosts have no flannelctl state (faults.test.ts runs those on a lab).
 */
export function fixRunnable(fix: Fix): {ok: true} | {ok: false, why: string} {
  const command = fix.command.replace(/#.*$/, '').trim()
  if (fix.scope !== undefined) return {ok: false, why: `a ${fix.scope} command`}
  if (PLACEHOLDERS.test(command)) return {ok: false, why: 'a placeholder to fill in'}
  const program = command.split(/\s+/)[0]
  if (program === 'flannelctl') return {ok: false, why: 'flannelctl (no state on these hosts)'}
  if (!WRITERS.has(program) || readsOnly({...fix, command})) return {ok: false, why: 'a pointer (it reads, or is no table command)'}
  return {ok: true}
}

/** The failure the kernel meets first, as the fuzzes compare it: the request's, else its reply's. */
export function firstFailure(t: Trace): {failure: Failure, disposition: string} | undefined {
  if (t.disposition !== 'DELIVERED') return t.failure === undefined ? undefined : {failure: t.failure, disposition: t.disposition}
  if (t.returnPath.disposition !== 'DELIVERED' && t.returnPath.failure !== undefined) return {failure: t.returnPath.failure, disposition: t.returnPath.disposition}
  return undefined
}

/**
 * The commands of the way a user takes first: the fixes every way needs, and those of the lowest
 * `option.choice` (the list gives the recommended way first). A peer's `flannelctl sync` gives way to
 * the commands that do it by hand (`byHand`), which these hosts can run. Undefined with why, where a
 * command of that way is not runnable (see fixRunnable): the whole way or nothing, as a half-run fix proves nothing.
 */
export function firstWay(fixes: Fix[]): {fixes: Fix[]} | {fixes: undefined, why: string} {
  if (fixes.length === 0) return {fixes: undefined, why: 'no fix'}
  const choices = fixes.flatMap(f => (f.option === undefined ? [] : [f.option.choice]))
  const first = choices.length === 0 ? undefined : Math.min(...choices)
  const hasHand = (f: Fix) => f.sync === 'peer' && fixes.some(h => h.byHand === true && h.node === f.node)
  const way = fixes.filter(f => (f.option === undefined || f.option.choice === first) && !hasHand(f))
  for (const f of way) {
    const r = fixRunnable(f)
    if (!r.ok) return {fixes: undefined, why: `${r.why}: ${f.command}`}
  }
  return {fixes: way}
}

/** a table line without what changes as packets pass: a native rule's counter */
const uncounted = (evidence: string) => evidence.replace(/\bcounter packets \d+ bytes \d+ /g, 'counter ')
/**
 * The same drop: the same disposition at the same node and step, by the same table line. Another
 * rule of the same chain dropping next (a second fault the first hid) is a drop elsewhere.
 */
export const sameDrop = (a: {failure: Failure, disposition: string}, b: {failure: Failure, disposition: string}): boolean =>
  a.disposition === b.disposition && a.failure.node === b.failure.node && a.failure.step === b.failure.step
  && uncounted(a.failure.evidence) === uncounted(b.failure.evidence)

export const dropText = (d: {failure: Failure, disposition: string} | undefined): string =>
  d === undefined ? 'delivered both ways' : `${d.disposition} at ${d.failure.node} ${d.failure.step}: ${d.failure.reason} [${d.failure.evidence}]`
