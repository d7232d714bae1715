/** Plain tables for people (cli-table3); borders stay ASCII-light so they paste well into tickets. */
import Table from 'cli-table3'

export function renderTable(head: string[], rows: (string | number)[][]): string {
  const t = new Table({
    head,
    style: {head: [], border: []},
    chars: {
      top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
      left: '', 'left-mid': '', mid: '─', 'mid-mid': '─', right: '', 'right-mid': '', middle: '  ',
    },
  })
  // Only the header gets a separator line.
  t.push(...rows.map(r => r.map(String)))
  // no rows: cli-table3 draws the header alone, without the separator line
  const [header, separator, ...body] = t.toString().split('\n')
  return [header, ...separator === undefined ? [] : [separator], ...body.filter(l => !/^[─\s]+$/.test(l))].map(l => l.trimEnd()).join('\n')
}
