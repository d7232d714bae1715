/**
 * `flannelctl --version` and root `--help` answered without loading oclif: loading @oclif/core's
 * few hundred CommonJS modules is most of what those two cost. The answers are what oclif itself
 * printed at build time (src/cli/fast-start-build.ts), kept under dist/cli/ with a fingerprint of
 * everything they were rendered from. This module only decides whether a stored answer is the
 * one oclif would print now; whenever it cannot be sure, it returns undefined and bin/run.js
 * hands the call to oclif. It must stay cheap to load: node builtins only, no oclif.
 */
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

/**
 * fs, os, crypto and tty without `import`: an ESM import of a builtin builds its namespace (crypto
 * ~4 ms here), a cost every command would pay before oclif even starts. Node < 20.16 has no
 * getBuiltinModule; there oclif answers everything.
 */
const builtins = process.getBuiltinModule
  ? {fs: process.getBuiltinModule('node:fs'), os: process.getBuiltinModule('node:os')}
  : undefined

/** Set to 0 to send every call to oclif (the startup test compares both ways). */
export const FAST_START_ENV = 'FLANNELCTL_FAST_START'

export const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const ANSWERS_FILE = join(PROJECT_ROOT, 'dist', 'cli', 'startup-answers.json')
/** The distinct root help texts, one after another; ANSWERS_FILE says which bytes belong to which width. */
export const HELP_TEXTS_FILE = join(PROJECT_ROOT, 'dist', 'cli', 'startup-help.txt')

export interface StartupAnswers {
  schema: 1
  /** Files (relative to the project root) whose bytes the answers were rendered from, and their sha1. */
  fingerprint: {files: string[]; sha1: string}
  /** oclif's config.name, config.version and config.dirname at build time. */
  name: string
  version: string
  dirname: string
  /** The userAgent the help texts show under VERSION. */
  userAgent: string
  /** Variables that change what oclif prints or loads (user plugins, debug output): set → oclif answers. */
  fallThroughEnv: string[]
  /** oclif prints the version when the first argument is one of these. */
  versionFlags: string[]
  /** Argument lists that oclif answers with the root help, each checked against oclif at build time. */
  helpForms: string[][]
  /** Width → [start, end) in HELP_TEXTS_FILE, for the widths rendered. */
  helpByWidth: Record<string, [number, number]>
}

export interface Terminal {
  stdoutIsTTY: boolean
  stderrIsTTY: boolean
  /** Columns of stdout when it is a terminal. */
  stdoutColumns?: number
}

export function currentTerminal(): Terminal {
  const {isatty} = process.getBuiltinModule('node:tty')
  const stdoutIsTTY = isatty(1)
  return {stdoutIsTTY, stderrIsTTY: isatty(2), stdoutColumns: stdoutIsTTY ? process.stdout.getWindowSize()[0] : undefined}
}

/** What oclif's config.platform and config.arch would be, or undefined where oclif may say 'wsl' (it asks is-wsl). */
export function platformAndArch(): string | undefined {
  const {arch, platform} = builtins!.os
  const p = platform()
  if (p === 'win32') return undefined
  if (p === 'linux' && mayBeWsl()) return undefined
  return `${p}-${arch() === 'ia32' ? 'x86' : arch()}`
}

function mayBeWsl(): boolean {
  const {fs: {existsSync, readFileSync}, os: {release}} = builtins!
  if (release().toLowerCase().includes('microsoft')) return true
  try {
    if (readFileSync('/proc/version', 'utf8').toLowerCase().includes('microsoft')) return true
  } catch {}
  return existsSync('/proc/sys/fs/binfmt_misc/WSLInterop') || existsSync('/run/WSL')
}

export function fingerprint(files: readonly string[]): string {
  const {readFileSync} = builtins!.fs
  const hash = process.getBuiltinModule('node:crypto').createHash('sha1')
  for (const f of files) {
    hash.update(`${f}\0`)
    hash.update(readFileSync(join(PROJECT_ROOT, f)))
    hash.update('\0')
  }
  return hash.digest('hex')
}

/** oclif's help width (@oclif/core screen.js): OCLIF_COLUMNS, else the terminal's columns (at least 40), else 80. */
export function helpWidth(env: NodeJS.ProcessEnv, term: Terminal): number {
  const columns = Number.parseInt(env.OCLIF_COLUMNS!, 10)
  if (columns) return columns
  if (!term.stdoutIsTTY) return 80
  const width = term.stdoutColumns ?? 0
  if (width < 1) return 80
  return width < 40 ? 40 : width
}

/**
 * oclif's help is plain when supports-color (which oclif asks about stdout and stderr) says no:
 * with FORCE_COLOR unset that is when either stream is not a terminal. Colour flags on the
 * command line would also count, but no argument list answered here has any.
 */
function helpIsPlain(env: NodeJS.ProcessEnv, term: Terminal): boolean {
  return !('FORCE_COLOR' in env) && !(term.stdoutIsTTY && term.stderrIsTTY)
}

/** oclif loads plugins a user linked or installed from <dataDir>/package.json; with any, its answers may differ. */
function hasUserPlugins(env: NodeJS.ProcessEnv, answers: StartupAnswers): boolean {
  const {fs: {existsSync}, os: {homedir, tmpdir}} = builtins!
  const home = env.HOME || homedir() || tmpdir()
  const dataDir = join(env.XDG_DATA_HOME || join(home, '.local/share'), answers.dirname)
  return existsSync(join(dataDir, 'package.json'))
}

function sameArgs(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

export function loadAnswers(): StartupAnswers | undefined {
  let answers: StartupAnswers
  try {
    answers = JSON.parse(builtins!.fs.readFileSync(ANSWERS_FILE, 'utf8')) as StartupAnswers
  } catch {
    return undefined
  }
  return answers.schema === 1 ? answers : undefined
}

/** The answers hold while every file they were rendered from is byte for byte what it was then. */
export function stillFresh(answers: StartupAnswers): boolean {
  try {
    return fingerprint(answers.fingerprint.files) === answers.fingerprint.sha1
  } catch {
    return false
  }
}

function readHelpText(range: [number, number]): string {
  const {closeSync, openSync, readSync} = builtins!.fs
  const buffer = Buffer.alloc(range[1] - range[0])
  const fd = openSync(HELP_TEXTS_FILE, 'r')
  try {
    let done = 0
    while (done < buffer.length) {
      const n = readSync(fd, buffer, done, buffer.length - done, range[0] + done)
      if (n === 0) throw new Error(`${HELP_TEXTS_FILE} is shorter than ${ANSWERS_FILE} says`)
      done += n
    }
  } finally {
    closeSync(fd)
  }
  return buffer.toString('utf8')
}

/**
 * What oclif would print on stdout for `flannelctl ...argv` when that is the version or the root
 * help, or undefined: then oclif must run (other commands, other widths, colour, changed files,
 * user plugins, debug output, FLANNELCTL_FAST_START=0).
 */
export function fastAnswer(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, term?: Terminal): string | undefined {
  if (env[FAST_START_ENV] === '0' || !builtins) return undefined
  if (env.NODE_ENV === 'development' || env.NODE_ENV === 'test') return undefined
  const answers = loadAnswers()
  if (!answers) return undefined
  if (answers.fallThroughEnv.some(k => env[k])) return undefined
  const isVersion = argv.length > 0 && answers.versionFlags.includes(argv[0])
  const isHelp = answers.helpForms.some(form => sameArgs(form, argv))
  if (!isVersion && !isHelp) return undefined
  if (!stillFresh(answers)) return undefined
  const where = platformAndArch()
  if (!where || hasUserPlugins(env, answers)) return undefined
  const userAgent = `${answers.name}/${answers.version} ${where} node-${process.version}`
  // oclif looks at the first argument only: `--version --json` prints the version too.
  if (isVersion) return `${userAgent}\n`
  // The help shows the userAgent under VERSION; a different node or machine means different text.
  if (userAgent !== answers.userAgent) return undefined
  term ??= currentTerminal()
  if (!helpIsPlain(env, term)) return undefined
  const range = answers.helpByWidth[String(helpWidth(env, term))]
  return range ? readHelpText(range) : undefined
}
