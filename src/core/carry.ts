/**
 * The commands flannelctl prints (a hint, a note, a fix) are meant to be copied. A host set up
 * with its own files (`--state-file`, several "hosts" on one filesystem) or store needs them on
 * the next command too: a `flannelctl init` printed to a user who typed `reset --state-file S`
 * would look for the record at the default path. `carryFlags` puts the flags the user typed into
 * every `flannelctl …` command of a text, where that command needs them:
 *
 * - `--state-file`: into every command that takes it (after init, the rest comes from the record);
 * - `--cni-conf-dir`: into init, and into the commands that read this host without its record's
 *   help (doctor, trace, collect); sync, reset, status and peer take it from the record;
 * - the other node flags (`--subnet-file`, `--cni-ipam-dir`, `--store`, the etcd ones, `--iface`,
 *   `--public-ip`, `--bridge`, `--mtu`, `--cni-plugin`, `--[no-]ip-masq`): into init alone, which
 *   records them; given to the others they would be ignored (reset warns) or name another store;
 * - never `--etcd-password`: it is not printed.
 *
 * A flag the printed command names already is left as it is, and the flags of this host read
 * alone are not added to a command that names its hosts (`--lab`, `--inventory`, `--snapshot`),
 * which refuses them, nor to one run on another host ("flannelctl sync on the peers", "flannelctl
 * reset --release there"), whose files are its own, nor to a command named as the subject of a
 * sentence ("flannelctl sync would change:", "as flannelctl sync leaves it"): prose, no command
 * to copy. Applying it twice changes nothing more.
 */
import {shellQuote} from './words.js'

/** A flag the user typed: its name without dashes, its value (a boolean flag: true, or false for its --no- form). */
export interface GivenFlag {
  name: string
  value: string | boolean
}

export interface Carry {
  given: readonly GivenFlag[]
  /** every command, by its words ('peer add'), with the names of the flags it takes */
  commands: Readonly<Record<string, readonly string[]>>
}

/** The flags whose values are worth carrying, in the order they are added. */
export const CARRIED_FLAGS = ['state-file', 'subnet-file', 'cni-conf-dir', 'cni-ipam-dir', 'store', 'etcd-prefix', 'etcd-cafile', 'etcd-certfile',
  'etcd-keyfile', 'etcd-username', 'iface', 'public-ip', 'bridge', 'mtu', 'cni-plugin', 'ip-masq'] as const

/** Commands that read this host as it is, where the record does not name its conflist's directory for them. */
const READS_THIS_HOST = new Set(['doctor', 'trace', 'collect'])
/** Flags of this host read alone: refused beside flags naming other hosts (base.ts, refuseThisHostFlagsWithHosts). */
const THIS_HOST = new Set(['state-file', 'cni-conf-dir'])
const NAMES_HOSTS = /(?:^|\s)--(?:lab|inventory|snapshot)(?:[\s=]|$)| on | there\b/

/** Never a flag outside CARRIED_FLAGS (the etcd password above all), whoever builds the given list. */
function goesTo(flag: string, command: string): boolean {
  if (!(CARRIED_FLAGS as readonly string[]).includes(flag)) return false
  if (flag === 'state-file') return true
  if (flag === 'cni-conf-dir') return command === 'init' || READS_THIS_HOST.has(command)
  return command === 'init'
}

function asWords(f: GivenFlag): string {
  if (typeof f.value === 'boolean') return f.value ? `--${f.name}` : `--no-${f.name}`
  return `--${f.name} ${shellQuote(f.value)}`
}

/** Where a printed command ends: a line, a clause (`, `, `; `, ` then `, ` or `), a comment, a closing bracket or quote. */
const COMMAND_END = /[\n;)`"]|, | #| \(| or | then | and | to /

const MENTION = /\bflannelctl((?: [a-z][a-z-]*){1,3})/g

/** `text` with the given flags put into each `flannelctl COMMAND` it holds, where that command needs them. */
export function carryFlags(text: string, carry: Carry): string {
  if (carry.given.length === 0 || !text.includes('flannelctl ')) return text
  return text.replace(MENTION, (whole: string, words: string, at: number) => {
    const command = commandOf(words.trim().split(' '), carry.commands)
    if (command === undefined) return whole
    const end = at + 'flannelctl '.length + command.length
    if (!endsAWord(text, end) || PROSE_VERB.test(text.slice(end))) return whole
    const rest = text.slice(end)
    const segment = rest.slice(0, rest.search(COMMAND_END) === -1 ? rest.length : rest.search(COMMAND_END))
    const takes = new Set(carry.commands[command])
    const namesHosts = NAMES_HOSTS.test(segment)
    const named = flagsNamed(segment)
    const added = carry.given.filter(f => takes.has(f.name) && goesTo(f.name, command) && !(namesHosts && THIS_HOST.has(f.name)) && !named.has(f.name))
    return added.length === 0 ? whole : `flannelctl ${command}${added.map(f => ` ${asWords(f)}`).join('')}${whole.slice('flannelctl '.length + command.length)}`
  })
}

/** The flags a command's words name already, each by its name: `--name V`, `--name=V` and `--no-name` alike. */
function flagsNamed(segment: string): Set<string> {
  const names = new Set<string>()
  for (const word of segment.split(/\s+/)) {
    if (!word.startsWith('--')) continue
    const name = word.slice(2).split('=')[0]
    names.add(name.startsWith('no-') ? name.slice(3) : name)
  }
  return names
}

/** A verb right after a command's name makes it the subject of a sentence, not a command to run. */
const PROSE_VERB = /^ (?:would|will|leaves|left|changes|changed|has|had|is|was|does|did|took|takes|keeps|kept|writes|wrote|makes|made|reads|read|says|said|sees|saw|can|cannot|could|should|must|may)\b/

/** The longest run of leading words that names a command. */
function commandOf(words: string[], commands: Carry['commands']): string | undefined {
  for (let n = words.length; n > 0; n--) {
    const id = words.slice(0, n).join(' ')
    if (Object.hasOwn(commands, id)) return id
  }
  return undefined
}

/** A command's name ends at `at`: not inside a longer word ("flannelctl init's" is prose, no command). */
function endsAWord(text: string, at: number): boolean {
  const next = text.charAt(at)
  return !/[\w-]/.test(next) && !(next === '\'' && /\w/.test(text.charAt(at + 1)))
}

/** The same for every string a value (a --json answer) holds. */
export function carryFlagsIn<T>(value: T, carry: Carry): T {
  if (carry.given.length === 0) return value
  const walk = (v: unknown): unknown => typeof v === 'string' ? carryFlags(v, carry)
    : Array.isArray(v) ? v.map(walk)
      // plain objects only: a Date (or anything with its own toJSON) stays as it is
      : v !== null && typeof v === 'object' && [Object.prototype, null].includes(Object.getPrototypeOf(v)) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]))
        : v
  return walk(value) as T
}
