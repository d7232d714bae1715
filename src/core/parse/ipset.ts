/**
 * `ipset save` (`create NAME TYPE …` and `add NAME ENTRY …` lines) or `ipset list` (Name:, Type:,
 * then the entries under Members:), as the sets the iptables evaluator tests `-m set` against.
 */
import type {IpSet} from '../model.js'
import {firstContentLine, tokens} from './common.js'
import {ParseError, type ParseOptions} from './errors.js'
import {eachSection} from './text.js'

export function parseIpsets(text: string, options?: ParseOptions | string): IpSet[] {
  return eachSection(text, options, (lines, section, ctx) => {
    const first = firstContentLine(lines, section)
    if (first === -1) return []
    const sets = new Map<string, IpSet>()
    let listed: IpSet | undefined
    let inMembers = false
    for (let i = first; i < section.end; i++) {
      const line = lines[i].trim()
      if (line === '') continue
      const t = tokens(line)
      if (t[0] === 'create' && t.length >= 3) {
        sets.set(t[1], {name: t[1], type: t[2], members: []})
      } else if (t[0] === 'add' && t.length >= 3) {
        const set = sets.get(t[1])
        if (set === undefined) throw new ParseError(ctx.source, i + 1, `\`add ${t[1]}\` comes before \`create ${t[1]}\``)
        set.members.push(t.slice(2).join(' '))
      } else if (line.startsWith('Name:')) {
        listed = {name: line.slice(5).trim(), type: '', members: []}
        sets.set(listed.name, listed)
        inMembers = false
      } else if (listed !== undefined && line.startsWith('Type:')) {
        listed.type = line.slice(5).trim()
      } else if (listed !== undefined && line === 'Members:') {
        inMembers = true
      } else if (listed !== undefined && inMembers) {
        listed.members.push(line)
      } else if (listed === undefined) {
        throw new ParseError(ctx.source, i + 1, `cannot read ${JSON.stringify(line)} as \`ipset save\` or \`ipset list\` output`)
      }
      // (`ipset list`'s Revision:, Header:, References: … lines say nothing a match needs)
    }
    return [...sets.values()]
  })
}
