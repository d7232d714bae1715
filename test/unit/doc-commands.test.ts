/**
 * README.md and docs/*.md show `flannelctl …` lines for users to copy, and trace outputs to read
 * theirs against. help-examples.test.ts runs the --help examples; nothing ran the docs' own, so a
 * renamed flag or command, or a disposition that no longer exists, stayed in them unnoticed. This
 * parses every such line against the oclif manifest (the command, each flag, each value a flag
 * restricts, the number of arguments) and checks the words of every pasted trace against the
 * trace's data contract. docs/commands/ is generated from --help and checked by
 * command-docs.test.ts, so it is left out here.
 */
import {expect} from 'chai'
import {existsSync, readFileSync, readdirSync} from 'node:fs'
import {basename, dirname, join} from 'node:path'
import {DISPOSITIONS, STEP_KINDS, STEP_VERDICTS, WARNING_CODES} from '../../src/core/trace/index.js'
import {FAULTS} from '../../src/services/faults.js'
import {BUILT_BACKENDS} from '../../src/core/netconf.js'
import {MATRIX_TAGS} from '../../src/ui/doctor.js'
import {ROOT} from '../helpers/cli.js'
import {unlike} from '../helpers/doc-blocks.js'

interface ManifestFlag {type: 'option' | 'boolean'; char?: string; allowNo?: boolean; options?: string[]; aliases?: string[]}
interface ManifestCommand {flags: Record<string, ManifestFlag>; args: Record<string, unknown>; strict?: boolean}

const DOC_FILES = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter(f => f.endsWith('.md')).map(f => `docs/${f}`)]

/**
 * Text in the docs that reads like a command line and is not one: named here so that
 * everything else is checked.
 */
const NOT_COMMANDS = [
  /^flannelctl manual masq$/, // the iptables comment of the narrowed masquerade rule
  /^flannelctl reset plan \(/, // the header of reset's plan, quoted in prose
  /^flannelctl (sync process|--version\s{2}|--help\s{2}|lease list, an empty store|trace pod →|doctor,)/, // rows of bench's report
]

/** Placeholders the docs put where a user writes their own value. */
const PLACEHOLDER = /^(…|\.\.\.|[A-Z][A-Z_]*|<[^>]*>?)$|…|\|/

interface DocLine {where: string; text: string}

/** Every `flannelctl …` (and `npm run demo -- …`) command line in a doc: in fenced blocks and in inline code. */
function commandLines(file: string): DocLine[] {
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n')
  const found: DocLine[] = []
  let fenced = false
  for (const [i, line] of lines.entries()) {
    const where = `${file}:${i + 1}`
    if (/^\s*```/.test(line)) {
      fenced = !fenced
      continue
    }
    if (fenced) {
      // at the start of the line (after a prompt), after a label (`see it:  flannelctl …`), or in parentheses
      const m = /(?:^\s*(?:\$\s+)?|^\s*[a-z][\w ]{0,15}:\s+|\()(flannelctl\s.*)$/.exec(line) ?? /^\s*(?:\$\s+)?(npm run demo -- .*)$/.exec(line)
      if (m) found.push({where, text: m[1].replace(/\)?:?$/, '')})
    } else {
      for (const span of line.matchAll(/`([^`]+)`/g)) {
        const text = span[1].replace(/\\\|/g, '|')
        // prose often drops the program name: `lab break n1 missing-fdb`, `trace pod-1a pod-2a --lab demo`
        if (/^(flannelctl|npm run demo --)\s/.test(text)) found.push({where, text})
        else if (/^(lab|peer|lease|backend) [a-z]/.test(text) || /^(trace|doctor|collect|migrate|sync|init|reset|status) (-|\S+ \S)/.test(text)) found.push({where, text: `flannelctl ${text}`})
      }
    }
  }
  return found
}

/** Shell words of one command line, up to a comment, a pipe or a redirection. */
function words(text: string): string[] {
  const out: string[] = []
  for (const m of text.matchAll(/'([^']*)'|"([^"]*)"|(<[^>]*>|\S+)/g)) {
    // an optional part (`sync [--watch]`) is checked as if given
    const word = m[1] ?? m[2] ?? m[3].replace(/^\[|\]$/g, '')
    // a comment, a pipe, a redirection, or the note a lab prints after a command (`(expect FDB_MISSING)`)
    if (m[3] !== undefined && /^(#|\||>|&&|;|2>|\()/.test(word)) break
    out.push(word)
  }
  return out
}

function problems(manifest: Record<string, ManifestCommand>, argv: string[]): string[] {
  if (argv[0] === 'npm') argv = ['flannelctl', 'lab', 'demo', ...argv.slice(4)]
  let rest = argv.slice(1)
  // `flannelctl --help`, or `flannelctl …` for any command line
  if (rest.every(w => ['--help', '-h', '--version'].includes(w) || PLACEHOLDER.test(w))) return []
  // a topic's own help (`lab --help`)
  const topic = rest.filter(w => !w.startsWith('-')).join(':')
  if (rest.includes('--help') && Object.keys(manifest).some(id => id.startsWith(`${topic}:`))) return []
  // a topic or verb written as alternatives (`lab up|status|exec`) stands for each of them
  const alternatives = rest.findIndex(w => !w.startsWith('-') && w.includes('|'))
  if (alternatives >= 0 && alternatives < 2) {
    return rest[alternatives].split('|').flatMap(alt => problems(manifest, ['flannelctl', ...rest.slice(0, alternatives), alt, ...rest.slice(alternatives + 1)]))
  }
  let id = ''
  for (let n = Math.min(3, rest.length); n > 0 && !id; n--) {
    const candidate = rest.slice(0, n).join(':')
    if (manifest[candidate]) {
      id = candidate
      rest = rest.slice(n)
    }
  }
  if (!id) return [`no command ${rest.filter(w => !w.startsWith('-')).slice(0, 2).join(' ')}`]
  const command = manifest[id]
  const wrong: string[] = []
  const positionals: string[] = []
  for (let i = 0; i < rest.length; i++) {
    const word = rest[i]
    if (word === '--') {
      // what lab exec runs: checked itself when it is flannelctl again
      if (rest[i + 1] === 'flannelctl') wrong.push(...problems(manifest, rest.slice(i + 1)))
      break
    }
    if (word === '--help' || word === '-h') continue
    // a placeholder may stand for flags as well as arguments (`migrate … --plan`)
    if (PLACEHOLDER.test(word)) continue
    if (!word.startsWith('-') || word === '-') {
      positionals.push(word)
      continue
    }
    const [flagWord, inline] = word.split(/=(.*)/s, 2)
    const name = flagWord.replace(/^--?/, '')
    const entry = flagWord.startsWith('--')
      ? Object.entries(command.flags).find(([n, f]) => n === name || f.aliases?.includes(name) || (f.allowNo && `no-${n}` === name))
      : Object.entries(command.flags).find(([, f]) => f.char === name)
    if (!entry) {
      wrong.push(`${id.replaceAll(':', ' ')} has no flag ${flagWord}`)
      continue
    }
    const [, flag] = entry
    if (flag.type !== 'option') continue
    const value = inline ?? rest[++i]
    // prose names a flag without its value (`init --net-conf`)
    // a value written as alternatives (`--backend host-gw|vxlan`) names each of them
    // --backend is checked in run() (to say why udp is refused), so the manifest lists no options for it
    const options = flag.options ?? (name === 'backend' ? BUILT_BACKENDS : undefined)
    for (const one of value?.split('|') ?? []) {
      if (options && !PLACEHOLDER.test(one) && !options.includes(one)) wrong.push(`${flagWord} ${one} is not one of ${options.join(', ')}`)
    }
  }
  if (command.strict !== false && positionals.length > Object.keys(command.args ?? {}).length) {
    wrong.push(`${id.replaceAll(':', ' ')} takes ${Object.keys(command.args ?? {}).length} argument(s), the doc gives ${positionals.length}`)
  }
  const backend = id === 'backend:set' ? positionals[0] : undefined
  if (backend !== undefined && !PLACEHOLDER.test(backend) && !BUILT_BACKENDS.includes(backend)) wrong.push(`backend set ${backend} is not one of ${BUILT_BACKENDS.join(', ')}`)
  const fault = id === 'lab:break' ? positionals[1] : undefined
  if (fault !== undefined && !FAULTS.some(f => f.name === fault)) wrong.push(`lab break has no fault ${fault}`)
  return wrong
}

/** The words a pasted trace is made of: its step kinds and verdicts, its dispositions and warnings. */
function traceWordProblems(file: string): string[] {
  const wrong: string[] = []
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n')
  for (const [i, line] of lines.entries()) {
    const where = `${file}:${i + 1}`
    const step = /^ {2}(\w+) +([a-z][\w-]*) {2,}\S/.exec(line)
    // a step line is the only one indented two spaces whose first word is a step kind; others are checked by their verdict
    if (step && (STEP_KINDS as readonly string[]).includes(step[1]) && !(STEP_VERDICTS as readonly string[]).includes(step[2])) {
      wrong.push(`${where}: step verdict ${step[2]} (${line.trim()})`)
    }
    const stepLike = /^ {2}([a-z]+) +(ok|drop|accept|unchanged|delivered|assumed|unknown|exit|masquerade|snat|dnat) {2,}/.exec(line)
    if (stepLike && !(STEP_KINDS as readonly string[]).includes(stepLike[1])) wrong.push(`${where}: step kind ${stepLike[1]}`)
    const disposition = /^(?:Disposition|Return path): +([A-Z_]+)/.exec(line)
    if (disposition && !(DISPOSITIONS as readonly string[]).includes(disposition[1])) wrong.push(`${where}: disposition ${disposition[1]}`)
    const warning = /^ {2}warning +([A-Z_]+):/.exec(line)
    if (warning && !(WARNING_CODES as readonly string[]).includes(warning[1])) wrong.push(`${where}: warning ${warning[1]}`)
  }
  return wrong
}

/**
 * A doc block preceded by `<!-- output: FILE -->` shows FILE (a golden file a test already
 * renders from a fixture), trimmed: a line `…` stands for any number of lines, a line ending in
 * ` …` for any line that begins with what precedes it; every other line is FILE's next line.
 * So the block cannot drift from what the command prints.
 */
function pinnedBlocks(file: string): {where: string; golden: string; block: string[]}[] {
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n')
  const found: {where: string; golden: string; block: string[]}[] = []
  for (const [i, line] of lines.entries()) {
    const marker = /^<!-- output: (\S+) -->$/.exec(line)
    if (!marker) continue
    if (!/^```/.test(lines[i + 1] ?? '')) throw new Error(`${file}:${i + 1}: ${marker[0]} is not followed by a fenced block`)
    const end = lines.findIndex((l, j) => j > i + 1 && /^```/.test(l))
    found.push({where: `${file}:${i + 2}`, golden: marker[1], block: lines.slice(i + 2, end)})
  }
  return found
}

/** A path, or a path ending in `*` (`test/fixtures/snapshots/policy-vxlan-*`), exists in the repository. */
function repositoryHas(path: string): boolean {
  if (!path.endsWith('*')) return existsSync(join(ROOT, path.replace(/[#:].*$/, '')))
  const dir = dirname(path)
  return existsSync(join(ROOT, dir)) && readdirSync(join(ROOT, dir)).some(f => f.startsWith(basename(path).slice(0, -1)))
}

describe('command lines and trace outputs in README.md and docs/', () => {
  const manifestFile = join(ROOT, 'oclif.manifest.json')
  let manifest: Record<string, ManifestCommand>

  before(() => {
    if (!existsSync(manifestFile)) throw new Error('no build: run `npm run build` first')
    manifest = JSON.parse(readFileSync(manifestFile, 'utf8')).commands
  })

  it('finds the command lines (the extraction itself works)', () => {
    const all = DOC_FILES.flatMap(commandLines)
    expect(all.length).to.be.greaterThan(100)
    expect(all.map(l => l.text)).to.include('flannelctl trace pod-1a pod-2a --lab demo')
    expect(problems(manifest, words('flannelctl trace pod-1a pod-2a --lab demo --dry-run'))).to.deep.equal(['trace has no flag --dry-run'])
    expect(problems(manifest, words('flannelctl lab brake n1 missing-fdb'))).to.deep.equal(['no command lab brake'])
    expect(problems(manifest, words('flannelctl lab up --backend udp'))).to.deep.equal(['--backend udp is not one of vxlan, host-gw'])
    expect(problems(manifest, words('flannelctl migrate --backend host-gw --lab demo --dry-run'))).to.deep.equal([])
    expect(problems(manifest, words('flannelctl migrate --backend host-gw|udp'))).to.deep.equal(['--backend udp is not one of vxlan, host-gw'])
    expect(problems(manifest, words('flannelctl backend set hostgw'))).to.deep.equal(['backend set hostgw is not one of vxlan, host-gw'])
    expect(problems(manifest, words('flannelctl lab exec n1 -- flannelctl peer lst'))).to.deep.equal(['no command peer lst'])
    expect(problems(manifest, words('flannelctl lab break n1 missing-fbd'))).to.deep.equal(['lab break has no fault missing-fbd'])
    expect(unlike(['a', '…', 'd …', 'e'], ['a', 'b', 'c', 'd x', 'e'])).to.equal(undefined)
    expect(unlike(['a', 'c'], ['a', 'b', 'c'])).to.contain('"c"')
    expect(unlike(['a', '…', 'z'], ['a', 'b'])).to.contain('"z"')
    expect(unlike(['a'], ['a', 'b'])).to.contain('its end')
    expect(unlike(['a', '…'], ['a', 'b'])).to.equal(undefined)
  })

  it('docs/troubleshooting.md has a section for every disposition, headed with doctor\'s word for it', () => {
    const text = readFileSync(join(ROOT, 'docs', 'troubleshooting.md'), 'utf8')
    const headed = Object.fromEntries([...text.matchAll(/^### ([A-Z_]+) \(`([a-z]+)`\)$/gm)].map(m => [m[1], m[2]]))
    expect(headed).to.deep.equal(Object.fromEntries(DISPOSITIONS.map(d => [d, MATRIX_TAGS[d]])))
  })

  for (const file of DOC_FILES) {
    it(`${file}: every flannelctl line names a command, its flags and values`, () => {
      const wrong = commandLines(file)
        .filter(l => !NOT_COMMANDS.some(re => re.test(l.text)))
        .flatMap(l => problems(manifest, words(l.text)).map(p => `${l.where}: ${p}  (${l.text})`))
      expect(wrong, wrong.join('\n')).to.deep.equal([])
    })

    const pinned = pinnedBlocks(file)
    for (const {where, golden, block} of pinned) {
      it(`${where}: shows ${golden}`, () => {
        const path = join(ROOT, golden)
        expect(existsSync(path), `${where} names ${golden}, which does not exist`).to.equal(true)
        const wrong = unlike(block, readFileSync(path, 'utf8').replace(/\n$/, '').split('\n'))
        expect(wrong, `${where} differs from ${golden}: ${wrong}; paste the golden file (trimmed with …) into the block`).to.equal(undefined)
      })
    }

    it(`${file}: every file of the repository it names is there`, () => {
      const gone = readFileSync(join(ROOT, file), 'utf8').split('\n').flatMap((line, i) =>
        [...line.matchAll(/`((?:src|test|scripts|bin|docs)\/[^`\s<]+)`/g)]
          .filter(m => !repositoryHas(m[1]))
          .map(m => `${file}:${i + 1}: ${m[1]}`))
      expect(gone, gone.join('\n')).to.deep.equal([])
    })

    it(`${file}: every pasted trace uses the trace's own words`, () => {
      const wrong = traceWordProblems(file)
      expect(wrong, wrong.join('\n')).to.deep.equal([])
    })
  }
})
