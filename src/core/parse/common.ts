/**
 * Shared lexing for the parsers: address checks, tokens, and the "pasted from a terminal" frame
 * (prompt lines, the command they ran and the filter it applied). Hand-written scanners instead of
 * regular expressions on the hot path: a snapshot can hold millions of lines, and a scanner cannot
 * backtrack.
 */

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57
}

function isHexDigit(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70)
}

/** Dotted quad without leading zeros (inet_aton would read them as octal). */
export function isIPv4(s: string): boolean {
  const n = s.length
  if (n < 7 || n > 15) return false
  let dots = 0
  let digits = 0
  let value = 0
  let leadingZero = false
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c === 46) {
      if (digits === 0) return false
      dots++
      digits = 0
      value = 0
      continue
    }
    if (!isDigit(c)) return false
    if (digits === 1 && leadingZero) return false
    if (digits === 0) leadingZero = c === 48
    value = value * 10 + (c - 48)
    digits++
    if (value > 255) return false
  }
  return dots === 3 && digits > 0
}

export function isIPv6(s: string): boolean {
  const n = s.length
  if (n < 2 || n > 45) return false
  const gap = s.indexOf('::')
  if (gap !== -1 && s.indexOf('::', gap + 1) !== -1) return false
  if (s.charCodeAt(0) === 58 && gap !== 0) return false
  if (s.charCodeAt(n - 1) === 58 && gap !== n - 2) return false
  let groups = 0
  let start = 0
  for (let i = 0; i <= n; i++) {
    if (i < n && s.charCodeAt(i) !== 58) continue
    const len = i - start
    if (len === 0) {
      start = i + 1
      continue
    }
    if (i === n && s.indexOf('.', start) !== -1) {
      if (!isIPv4(s.slice(start))) return false
      groups += 2
    } else {
      if (len > 4) return false
      for (let j = start; j < i; j++) if (!isHexDigit(s.charCodeAt(j))) return false
      groups++
    }
    start = i + 1
  }
  return gap === -1 ? groups === 8 : groups <= 7
}

export function isIP(s: string): boolean {
  return isIPv4(s) || isIPv6(s)
}

export function familyOf(ip: string): 4 | 6 {
  return ip.includes(':') ? 6 : 4
}

/** `addr/len` with a valid length for the family, or a bare address. */
export function isAddressOrCidr(s: string): boolean {
  const slash = s.indexOf('/')
  if (slash === -1) return isIP(s)
  const ip = s.slice(0, slash)
  const len = parseUint(s.slice(slash + 1))
  if (len === undefined) return false
  if (isIPv4(ip)) return len <= 32
  return isIPv6(ip) && len <= 128
}

/** Host routes and addresses print without a length; the model always carries one. */
export function withPrefix(s: string): string {
  if (s.includes('/')) return s
  return s.includes(':') ? `${s}/128` : `${s}/32`
}

/** The inverse of withPrefix, as `ip` prints a host route. */
export function withoutHostPrefix(s: string): string {
  if (s.endsWith('/32') && !s.includes(':')) return s.slice(0, -3)
  if (s.endsWith('/128') && s.includes(':')) return s.slice(0, -4)
  return s
}

/** Colon-separated hex octets: ethernet, infiniband, ... */
export function isLinkLayerAddress(s: string): boolean {
  const n = s.length
  if (n < 2 || n % 3 !== 2) return false
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (i % 3 === 2 ? c !== 58 : !isHexDigit(c)) return false
  }
  return true
}

export function isMac(s: string): boolean {
  return s.length === 17 && isLinkLayerAddress(s)
}

/** A decimal integer that fits in 32 bits, or undefined. */
export function parseUint(s: string | undefined): number | undefined {
  if (s === undefined || s.length === 0 || s.length > 10) return undefined
  let v = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (!isDigit(c)) return undefined
    v = v * 10 + (c - 48)
  }
  return v <= 0xffffffff ? v : undefined
}

/** 255.255.255.0 → 24; undefined when the mask is not contiguous. */
export function netmaskToPrefixlen(mask: string): number | undefined {
  if (!isIPv4(mask)) return undefined
  let n = 0
  for (const part of mask.split('.')) n = n * 256 + Number(part)
  let len = 0
  while (len < 32 && n >= 2 ** (31 - len)) {
    n -= 2 ** (31 - len)
    len++
  }
  return n === 0 ? len : undefined
}

/** tokens(text).slice(0, max), without splitting the rest. */
export function leadingWords(text: string, max: number): string[] {
  const words: string[] = []
  const word = /\S+/g
  for (let m = word.exec(text); m !== null && words.length < max; m = word.exec(text)) words.push(m[0])
  return words
}

/** Whitespace-separated fields; never returns an empty-string field. */
export function tokens(line: string): string[] {
  const t = line.trim()
  return t === '' ? [] : t.split(/\s+/)
}

export function startsWithSpace(line: string): boolean {
  const c = line.charCodeAt(0)
  return c === 32 || c === 9
}

/* ------------------------------------------------------------------------------------------ */
/* Pasted terminal sessions                                                                     */

/** What a pasted command line tells the parser about the output below it. */
export interface PastedCommand {
  /** 1-based line of the prompt */
  line: number
  /** the command after the prompt, '' for a bare trailing prompt */
  text: string
  /** ip, bridge, route, arp, ifconfig, iptables-save, iptables, sysctl, netstat, ... */
  tool?: string
  /** for ip / bridge: route, neigh, addr, link, fdb */
  object?: string
  filter: OutputFilter
  /** what the output went through after the tool (`| grep flannel`): it may hold some lines only */
  pipe?: string
  /** `ip -6 route`, `ip -f inet6 neigh`: IPv6 entries only, so the IPv4 ones are unknown */
  ipv6Only?: boolean
  /** `ip route get DST`: the route for one destination, not the table */
  routeGet?: string
}

/** Fields a `show` filter removes from every line it prints. */
export interface OutputFilter {
  dev?: string
  table?: string
  type?: string
  proto?: string
  scope?: string
  /** `iptables -t nat -S` */
  iptablesTable?: string
  /** `iptables -S FORWARD`: the one chain listed */
  iptablesChain?: string
  /** `ip link show master cni0` */
  master?: string
  /**
   * `ip neigh show nud permanent`, `ip neigh show 10.244.1.0`, `bridge fdb show vlan 10`: a selector
   * that keeps some entries of each device it prints, so no device's table is known whole
   */
  someEntries?: string
  /** `ip route get`: each line is a path the kernel already resolved, its gateway reachable */
  resolved?: boolean
}

/** Words of `ip addr show` / `ip link show` that are not a device name. */
const ADDR_LINK_SHOW_WORDS = new Set(['up', 'dynamic', 'permanent', 'tentative', '-tentative', 'deprecated', '-deprecated',
  'dadfailed', '-dadfailed', 'temporary', 'secondary', 'primary', 'nomaster', 'home', 'nodad', 'mngtmpaddr', 'noprefixroute',
  'autojoin', 'stable-privacy'])
const ADDR_LINK_SHOW_KEYS = new Set(['to', 'label', 'group', 'vrf', 'proto', 'protocol', 'index', 'alias'])

/**
 * Whether the pasted command printed only some devices (`ip addr show flannel.1`, `ip link show
 * type vxlan`, `ifconfig eth0`): what it leaves out is unknown, not absent.
 */
export function listsSomeDevices(command: PastedCommand | undefined): boolean {
  if (command === undefined) return false
  const f = command.filter
  if ((command.pipe !== undefined || command.ipv6Only) && command.tool !== undefined) return true
  if (command.tool === 'ifconfig') return f.dev !== undefined
  if (command.tool !== 'ip' || (command.object !== 'addr' && command.object !== 'link')) return false
  return f.dev !== undefined || f.type !== undefined || f.master !== undefined
}

/** `# $ % >`, what a shell's own prompt ends in. Spelt out, not a set: it runs for every character of a paste. */
function isShellPromptEnd(c: number): boolean {
  return c === 35 || c === 36 || c === 37 || c === 62
}

/** A character a prompt may end in: a shell's, or any beyond ASCII (`❯`, `➜`, `»`, `λ`, …: zsh themes, starship). */
function mayEndPrompt(c: number): boolean {
  return c >= 128 || isShellPromptEnd(c)
}

/**
 * `root@worker3:~# cmd`, `[root@n1 ~]# cmd`, `$ cmd`, `# cmd`, or a bare prompt. Returns the
 * command text, or undefined when the line is not a prompt. A scan, not a regex: most lines are
 * rejected at their first space.
 */
export function promptCommand(line: string): string | undefined {
  const n = line.length
  let i = 0
  if (n > 0 && line.charCodeAt(0) === 91) { // [user@host dir]#
    const close = line.indexOf(']')
    if (close === -1 || close > 200) return undefined
    i = close + 1
  } else {
    while (i < n && i <= 200) {
      const c = line.charCodeAt(i)
      if (c === 32 || c === 9 || isShellPromptEnd(c)) break
      i++
    }
    if (i < n && (line.charCodeAt(i) === 32) && i > 0) i++ // `host #` (one space)
  }
  if (i >= n || !isShellPromptEnd(line.charCodeAt(i))) return looserPrompt(line)
  i++
  if (i === n) return ''
  const after = line.charCodeAt(i)
  if (after !== 32 && after !== 9) return looserPrompt(line)
  return line.slice(i + 1).trim()
}

/** Whether a prompt end closes a word in the first 300 characters: most lines are rejected here. */
function hasWordEnd(line: string): boolean {
  const n = Math.min(line.length, 300)
  for (let i = 0; i < n; i++) {
    const c = line.charCodeAt(i)
    if (!mayEndPrompt(c)) continue
    const next = i + 1 < line.length ? line.charCodeAt(i + 1) : 32
    if (next === 32 || next === 9) return true
  }
  return false
}

/** Prompt ends beyond `# $ % >`: zsh themes, starship. */
const LOOSE_PROMPT_ENDS = ['#', '$', '%', '>', '❯', '➜', '»', 'λ']

const SPACE = /\s/

/** Whether the character at `i` is whitespace (as `\s` says), asking the RegExp only beyond ASCII. */
function isSpaceAt(line: string, i: number): boolean {
  const c = line.charCodeAt(i)
  return c < 128 ? c === 32 || (c >= 9 && c <= 13) : SPACE.test(line[i])
}

/**
 * Whether one of the first four words (of the first 300 characters) ends in `# $ % >` or a
 * character beyond ASCII: looserPrompt finds a prompt end nowhere else. Most output lines fail at
 * their fourth word; an iptables rule's are `-A CHAIN -m comment`.
 */
export function leadingWordMayEndPrompt(line: string): boolean {
  const n = Math.min(line.length, 300)
  let words = 0
  for (let i = 0; i < n && words < 4; i++) {
    if (isSpaceAt(line, i)) continue
    // a word (as tokens splits): its last character decides
    let end = i
    while (end + 1 < n && !isSpaceAt(line, end + 1)) end++
    if (mayEndPrompt(line.charCodeAt(end))) return true
    words++
    i = end
  }
  return false
}

/**
 * Prompts with spaces before their end: `core@node1 ~ $` (Flatcar, CoreOS, Gentoo), `(venv)
 * root@n1:~#`, `❯`. Output lines hold such words too (`flags=73<UP,RUNNING>  mtu`), so a prompt
 * of this kind counts only when the command after it runs a known tool, or nothing follows a
 * prompt end standing alone.
 */
function looserPrompt(line: string): string | undefined {
  if (!leadingWordMayEndPrompt(line) || !hasWordEnd(line)) return undefined
  // the first four words are looked at, and whether a fifth follows: an iptables rule of kube-proxy's
  // (`--comment "ns/svc:http -> 10.1.2.3:8080"`) has a prompt end, and dozens of words after it
  const head = leadingWords(line.length > 300 ? line.slice(0, 300) : line, 5)
  const limit = Math.min(head.length, 4)
  for (let k = 0; k < limit; k++) {
    const word = head[k]
    const end = LOOSE_PROMPT_ENDS.find(e => word.endsWith(e))
    if (end === undefined) continue
    // bare: only a prompt end standing alone (`node1 ~ #`); `ip -br link` lines end in `<UP,LOWER_UP>`
    if (k + 1 === head.length) return word === end && line.length <= 200 ? '' : undefined
    const at = line.indexOf(word) + word.length
    const text = line.slice(at).trim()
    if (readCommand(text, 0).tool !== undefined) return text
    // oh-my-zsh's `➜  ~ cmd`: the directory follows the arrow
    const afterDir = text.slice(text.search(/\s|$/)).trim()
    return word === end && readCommand(afterDir, 0).tool !== undefined ? afterDir : undefined
  }
  return undefined
}

const TOOLS = new Set(['ip', 'bridge', 'route', 'arp', 'ifconfig', 'iptables-save', 'iptables', 'ip6tables',
  'ip6tables-save', 'iptables-legacy-save', 'iptables-nft-save', 'iptables-legacy', 'iptables-nft', 'sysctl', 'netstat'])

function expandIpObject(word: string): string | undefined {
  const objects: Array<[string, string[]]> = [
    ['route', ['route']], ['neigh', ['neighbour', 'neighbor', 'neigh']], ['addr', ['address', 'addr']],
    ['link', ['link']], ['fdb', ['fdb']]]
  for (const [object, names] of objects) {
    if (names.some(name => name.startsWith(word))) return object
  }
  return undefined
}

const SHOW_VERBS = new Set(['show', 'list', 'lst', 'ls', 'sh', 's', 'l'])

/** Words that run the real command: `sudo ip r`, `ssh node1 ip r`, `kubectl exec pod -- ip r`. */
const WRAPPERS = new Set(['sudo', 'doas', 'env', 'time', 'command', 'exec', 'nsenter', 'chroot', 'watch', 'kubectl',
  'docker', 'crictl', 'podman', 'nerdctl', 'ssh', 'busybox', 'toolbox'])

/** Selectors of `ip neigh show` / `bridge fdb show` that keep some entries of a device, not all. */
const ENTRY_SELECTORS: Record<string, Set<string>> = {
  neigh: new Set(['nud', 'to', 'proxy', 'vrf']),
  fdb: new Set(['vlan', 'state']),
}

/** Read a command line well enough to know the tool, the table and the filter it printed with. */
export function readCommand(text: string, line: number): PastedCommand {
  const bar = text.indexOf('|')
  const words = tokens(bar === -1 ? text : text.slice(0, bar))
  const command: PastedCommand = {line, text, filter: {}}
  if (bar !== -1 && text.slice(bar + 1).trim() !== '') command.pipe = text.slice(bar).trim()
  let wrapped = false
  let i = 0
  while (i < words.length) {
    const w = words[i]
    if (w === 'ip' && (words[i + 1] === 'netns' || words[i + 1] === 'net') && words[i + 2] === 'exec') {
      i += 4
      wrapped = true
      continue
    }
    const base = w.slice(w.lastIndexOf('/') + 1)
    if (TOOLS.has(base)) break
    if (WRAPPERS.has(base)) wrapped = true
    else if (!wrapped && !w.startsWith('-') && !w.includes('=')) return command
    i++
  }
  if (i >= words.length) return command
  const tool = words[i].slice(words[i].lastIndexOf('/') + 1)
  command.tool = tool
  const args = words.slice(i + 1)
  if (tool === 'ip' || tool === 'bridge') {
    const at = objectIndex(args)
    if (at < args.length) command.object = expandIpObject(args[at])
    if (command.object === 'route' && args[at + 1] === 'get') {
      command.routeGet = args.slice(at + 2).find(a => isAddressOrCidr(a)) ?? ''
      command.filter.resolved = true
    }
    const options = args.slice(0, at)
    const family = options.findIndex(o => o === '-f' || o === '-family')
    if (options.includes('-6') || (family !== -1 && options[family + 1] === 'inet6')) command.ipv6Only = true
    let j = firstArg(args)
    const filter = command.filter
    for (; j < args.length; j++) {
      const key = args[j]
      const value = args[j + 1]
      if (value === undefined) break
      if (key === 'dev' || key === 'oif') filter.dev = value
      else if (key === 'table' || key === 'tab') filter.table = value
      else if (key === 'type') filter.type = value
      else if (key === 'proto' || key === 'protocol') filter.proto = value
      else if (key === 'scope') filter.scope = value
      else if (key === 'master' || key === 'br') filter.master = value
      else if (command.object === 'fdb' && key === 'brport') filter.dev = value
      // `nud all` shows every entry (what collect runs: NOARP ones too); another state shows some
      else if (command.object === 'neigh' && key === 'nud' && value === 'all') { /* no narrowing */ }
      else if (ENTRY_SELECTORS[command.object ?? '']?.has(key)) filter.someEntries = `${key} ${value}`
      else continue
      j++
    }
    // `ip neigh show 10.244.1.0`: a bare address selects that neighbour; `bridge fdb show dynamic`: the learned ones
    if (filter.someEntries === undefined) {
      const shown = args.slice(firstArg(args))
      if (command.object === 'neigh') filter.someEntries = shown.find((a, k) => isAddressOrCidr(a) && shown[k - 1] !== 'dev')
      else if (command.object === 'fdb' && shown.includes('dynamic')) filter.someEntries = 'dynamic'
    }
    if ((command.object === 'addr' || command.object === 'link') && filter.dev === undefined) {
      // `ip addr show eth0`, `ip a s eth0 up`: a bare word is the device (its output keeps the name)
      const bare = deviceWord(args.slice(firstArg(args)))
      if (bare !== undefined) filter.dev = bare
    }
  } else if (tool === 'ifconfig') {
    const dev = args.find(a => !a.startsWith('-'))
    if (dev !== undefined) command.filter.dev = dev
  } else if (tool.startsWith('iptables') || tool.startsWith('ip6tables')) {
    const t = args.indexOf('-t')
    if (t !== -1 && args[t + 1] !== undefined) command.filter.iptablesTable = args[t + 1]
    const table = args.find(a => a.startsWith('--table='))
    if (table) command.filter.iptablesTable = table.slice('--table='.length)
    const list = args.findIndex(a => a === '-S' || a === '--list-rules')
    const chain = list === -1 ? undefined : args[list + 1]
    if (chain !== undefined && !chain.startsWith('-')) command.filter.iptablesChain = chain
  }
  return command
}

/** Index of OBJECT in `ip [options] OBJECT ...`. */
function objectIndex(args: string[]): number {
  let j = 0
  while (j < args.length && args[j].startsWith('-')) {
    // options with a value
    if (['-n', '-netns', '-f', '-family', '-rc', '-rcvbuf', '-b', '-batch'].includes(args[j])) j++
    j++
  }
  return j
}

/** Index of the first argument after `ip [options] OBJECT [show]`. */
function firstArg(args: string[]): number {
  const j = objectIndex(args) + 1
  return j < args.length && SHOW_VERBS.has(args[j]) ? j + 1 : j
}

function deviceWord(args: string[]): string | undefined {
  for (let k = 0; k < args.length; k++) {
    const w = args[k]
    if (w === 'dev') return args[k + 1]
    if (ADDR_LINK_SHOW_KEYS.has(w) || w === 'type' || w === 'master' || w === 'scope' || w === 'table') {
      k++
      continue
    }
    if (!ADDR_LINK_SHOW_WORDS.has(w) && !w.startsWith('-')) return w
  }
  return undefined
}

/** A run of lines after one pasted command (or from the top when nothing was pasted). */
export interface Section {
  command?: PastedCommand
  /** index into the line array of the first line below the prompt */
  start: number
  /** index after the last line */
  end: number
}

/** The text as lines, without CR and colour escapes (`ip -c` output pasted from a terminal). */
export function splitLines(text: string): string[] {
  // a byte order mark, as Windows editors save text
  let t = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
  if (t.includes('\x1b')) t = t.replace(/\x1b\[[0-9;]*m/g, '')
  const lines = t.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]
    if (l.length > 0 && l.charCodeAt(l.length - 1) === 13) lines[i] = l.slice(0, -1)
  }
  return lines
}

/**
 * Split at prompt lines; each section's output was printed by the command pasted above it.
 * Sections without lines (a trailing prompt) are dropped.
 */
export function sections(lines: string[]): Section[] {
  const out: Section[] = []
  let current: Section = {start: 0, end: 0}
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    const first = line.charCodeAt(0)
    // Fast path: an indented line or one starting with a digit never is a prompt.
    if (first === 32 || first === 9 || (first >= 48 && first <= 57) || line.length === 0) continue
    const text = promptCommand(line)
    if (text === undefined) continue
    const command = readCommand(text, i + 1)
    // `# Generated by iptables-save`, `# comment`: a bare `#` prompt must run a known tool.
    if (first === 35 && text !== '' && command.tool === undefined) continue
    current.end = i
    out.push(current)
    current = {command, start: i + 1, end: i + 1}
  }
  current.end = lines.length
  out.push(current)
  return out.filter(s => s.start < s.end && !isSessionCommand(s.command))
}

/** Commands of a terminal session around the pasted tables: what they print is no table. */
const SESSION_COMMANDS = new Set(['exit', 'logout', 'clear', 'ssh', 'su', 'cd', 'pwd', 'hostname', 'whoami', 'id', 'date',
  'uptime', 'uname', 'history', 'echo', 'tmux', 'screen'])

function isSessionCommand(command: PastedCommand | undefined): boolean {
  if (command === undefined || command.tool !== undefined) return false
  const words = tokens(command.text)
  // `sudo -i`, `sudo su -`: a root shell, not a table
  const first = words[0] === 'sudo' && (words.length === 1 || words[1].startsWith('-') || words[1] === 'su') ? 'su' : words[0]
  return first !== undefined && SESSION_COMMANDS.has(first.slice(first.lastIndexOf('/') + 1))
}

/** First non-blank line of a section, or -1. */
export function firstContentLine(lines: string[], section: Section): number {
  for (let i = section.start; i < section.end; i++) if (lines[i].trim() !== '') return i
  return -1
}

export function looksLikeJson(line: string): boolean {
  const t = line.trimStart()
  return t.startsWith('[') || t.startsWith('{')
}
