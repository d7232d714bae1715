/**
 * `sysctl -a` style lines to a key → value map. Keys are normalised to the dotted form with device
 * names kept whole (`net.ipv4.conf.flannel.1.rp_filter`), which is what `interestingSysctls` asks
 * for; sysctl itself prints that device as `flannel/1`, and `/proc/sys` paths use slashes.
 */
import {looksLikeJson, promptCommand, splitLines} from './common.js'
import {type ParseOptions, ParseError, quote, resolveOptions} from './errors.js'

export function normaliseSysctlKey(key: string): string {
  let k = key
  if (k.startsWith('/proc/sys/')) k = k.slice('/proc/sys/'.length)
  const slash = k.indexOf('/')
  const dot = k.indexOf('.')
  if (slash !== -1 && (dot === -1 || slash < dot)) {
    // net/ipv4/conf/flannel.1/rp_filter: slashes separate, dots belong to names
    return k.split('/').filter(p => p !== '').join('.')
  }
  // net.ipv4.conf.flannel/1.rp_filter: sysctl wrote the device's dot as a slash
  return k.replace(/\//g, '.')
}

function validKey(key: string): boolean {
  if (key === '' || key.length > 512) return false
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i)
    if (c <= 32 || c === 61 || c === 127) return false
  }
  return true
}

export function parseSysctl(text: string, options?: ParseOptions | string): Record<string, string> {
  const {source} = resolveOptions(options)
  const out: Record<string, string> = {}
  const lines = splitLines(text)
  const first = lines.findIndex(l => l.trim() !== '')
  if (first !== -1 && looksLikeJson(lines[first]) && lines[first].trimStart().startsWith('{')) {
    return sysctlJson(lines.slice(first).join('\n'), source, first)
  }
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    // stderr noise from `sysctl -a` run unprivileged
    if (line.startsWith('sysctl: ')) continue
    const eq = line.indexOf('=')
    let key: string
    let value: string
    if (eq !== -1) {
      key = line.slice(0, eq).trim()
      value = line.slice(eq + 1).trim()
    } else if (line.startsWith('/proc/sys/') && line.includes(':')) {
      // grep -r . /proc/sys/net/ipv4/conf/*/rp_filter
      const colon = line.indexOf(':')
      key = line.slice(0, colon)
      value = line.slice(colon + 1).trim()
    } else {
      if (promptCommand(lines[i]) !== undefined) continue
      throw new ParseError(source, i + 1, `cannot read ${quote(line)} as \`key = value\``,
        'capture sysctls with `sysctl -a` (or `sysctl KEY...`)')
    }
    if (!validKey(key)) {
      if (promptCommand(lines[i]) !== undefined) continue
      throw new ParseError(source, i + 1, `cannot read ${quote(line)} as \`key = value\``,
        'capture sysctls with `sysctl -a` (or `sysctl KEY...`)')
    }
    out[normaliseSysctlKey(key)] = value
  }
  return out
}

function sysctlJson(text: string, source: string, firstLine: number): Record<string, string> {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (e) {
    throw new ParseError(source, firstLine + 1, `cannot read sysctl JSON: ${e instanceof Error ? e.message : String(e)}`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ParseError(source, firstLine + 1, 'expected a JSON object of sysctl key to value')
  }
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      throw new ParseError(source, firstLine + 1, `sysctl ${k} has no plain value`)
    }
    if (!validKey(k)) throw new ParseError(source, firstLine + 1, `cannot read ${quote(k)} as a sysctl key`)
    out[normaliseSysctlKey(k)] = String(v)
  }
  return out
}
