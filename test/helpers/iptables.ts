/**
 * iptables-save text in a form two hosts (or two moments) can be compared by: no comments, zeroed
 * counters, no blank lines (nor lines matching `drop`), and no table that holds only its built-in chains at policy ACCEPT —
 * the first iptables-restore registers such a table, and nothing removes it again (nor needs to).
 */
export function comparableIptables(save: string, drop?: RegExp): string[] {
  const out: string[] = []
  let table: string[] = []
  for (const raw of save.split('\n')) {
    if (raw.startsWith('#') || raw.trim() === '' || drop?.test(raw)) continue
    const line = raw.replace(/\[\d+:\d+\]/, '[0:0]')
    if (line.startsWith('*')) table = [line]
    else if (line === 'COMMIT') {
      if (!table.slice(1).every(l => /^:[A-Z]+ ACCEPT \[0:0\]$/.test(l))) out.push(...table, line)
      table = []
    } else if (table.length) table.push(line)
    else out.push(line)
  }
  return out
}
