/**
 * A change to a host, as data. The planner produces ops; the host adapter batches and applies them;
 * --dry-run prints them. Each op says why it is needed so a plan reads as an explanation.
 */
export type Op =
  /** one line of `ip -batch -`, e.g. ['route', 'replace', '10.244.2.0/24', 'via', ...] */
  | {tool: 'ip'; args: string[]; why: string}
  /** one line of `bridge -batch -` */
  | {tool: 'bridge'; args: string[]; why: string}
  /** rules for one table fed to `iptables-restore --noflush` (without the *table / COMMIT lines) */
  | {tool: 'iptables'; table: string; lines: string[]; why: string}
  /** lines of one `nft -f -` transaction (consecutive nft ops are one transaction: all or nothing) */
  | {tool: 'nft'; lines: string[]; why: string}
  | {tool: 'sysctl'; key: string; value: string; why: string}
  | {tool: 'file'; path: string; content: string; mode: number; why: string}
  | {tool: 'rmfile'; path: string; why: string}

/** How a user would type the op by hand (the dry-run plan and --verbose output). */
export function opToShell(op: Op): string[] {
  switch (op.tool) {
    case 'ip': return [`ip ${op.args.join(' ')}`]
    case 'bridge': return [`bridge ${op.args.join(' ')}`]
    case 'iptables': return op.lines.map(l => {
      // `:CHAIN` in iptables-restore --noflush creates the chain, or empties it when it exists.
      if (!l.startsWith(':')) return `iptables -t ${op.table} ${l}`
      const chain = l.slice(1).split(' ')[0]
      // emptied to be deleted (reset): by hand that is a flush of a chain that exists
      if (op.lines.includes(`-X ${chain}`)) return `iptables -t ${op.table} -F ${chain}`
      return `iptables -t ${op.table} -N ${chain} || iptables -t ${op.table} -F ${chain}`
    })
    // one command a line; by hand, `nft -f FILE` with these lines is the one transaction the batch is
    case 'nft': return op.lines.map(l => `nft ${/^[\w ./:,=-]*$/.test(l) ? l : `'${l}'`}`)
    case 'sysctl': return [`sysctl -w ${op.key}=${op.value}`]
    case 'file': return [`write ${op.path} (mode ${op.mode.toString(8)})`]
    case 'rmfile': return [`rm ${op.path}`]
  }
}

/** The plan as lines: each op's first command with why, then its further commands (an iptables chain's rules). */
export function describePlan(ops: Op[]): string[] {
  return describeChanges(ops).flat()
}

/** The plan's lines a change at a time: one op may take several commands (a chain and its rules). */
export function describeChanges(ops: Op[]): string[][] {
  return ops.map(op => {
    const [first, ...rest] = opToShell(op)
    return [`${first.padEnd(72)}  # ${op.why}`, ...rest]
  })
}
