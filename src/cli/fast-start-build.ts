/**
 * Build step (after `oclif manifest`): renders the root help with oclif's own Help class for every
 * width from MIN_WIDTH to MAX_WIDTH, checks a few of them against the real CLI run the slow way,
 * and writes what src/cli/fast-start.ts serves. When anything here does not hold (hooks that would
 * run, help options, output on stderr, a mismatch), it writes no answers and every call goes to
 * oclif as before: the fast path can be missing, never wrong.
 *
 *   node dist/cli/fast-start-build.js
 */
import type {Config} from '@oclif/core'
import {execFile} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {tmpdir} from 'node:os'
import {dirname, join, relative} from 'node:path'
import {pathToFileURL} from 'node:url'
import {bundleDir} from '../project-root.js'
import {
  ANSWERS_FILE, FAST_START_ENV, HELP_TEXTS_FILE, PROJECT_ROOT, fingerprint, platformAndArch, type StartupAnswers,
} from './fast-start.js'

/** oclif never picks a terminal width below 40; OCLIF_COLUMNS outside this range goes to oclif. */
const MIN_WIDTH = 40
/** Past ~270 columns nothing in today's help wraps any more; wider goes to oclif. */
const MAX_WIDTH = 320
/** What oclif fires for `--version`, `--help` and the help command; with any of them registered, oclif must run. */
const HOOKS_ON_THE_WAY = ['init', 'preparse', 'prerun', 'postrun', 'finally']
const BIN = join(PROJECT_ROOT, 'bin', 'run.js')

class Refusal extends Error {}

/** oclif as the CLI runs it: the copy bundled with the commands and the help class (src/cli/bundle-build.ts) */
function bundledOclif(): Promise<typeof import('./main.js')> {
  return import(pathToFileURL(join(bundleDir(), 'cli', 'main.js')).href) as Promise<typeof import('./main.js')>
}

function refuse(why: string): never {
  throw new Refusal(why)
}

async function renderRootHelp(config: Config, width: number): Promise<string> {
  const {loadHelpClass} = await bundledOclif()
  const HelpClass = await loadHelpClass(config)
  const help = new HelpClass(config, {maxWidth: width})
  let out = ''
  const write = process.stdout.write
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')
    return true
  }) as typeof process.stdout.write
  try {
    await help.showHelp(['--help'])
  } finally {
    process.stdout.write = write
  }
  return out
}

/** The project's own files, each plugin's package.json and manifest, and @oclif/core's version: what the texts depend on. */
function sourceFiles(config: Config): string[] {
  const files = ['package.json', 'oclif.manifest.json']
  const helpClass = config.pjson.oclif.helpClass
  const helpTarget = typeof helpClass === 'string' ? helpClass : helpClass?.target
  if (helpTarget) files.push(relative(PROJECT_ROOT, join(PROJECT_ROOT, helpTarget)))
  for (const plugin of config.getPluginsList()) {
    if (plugin.root === config.root) continue
    files.push(relative(PROJECT_ROOT, join(plugin.root, 'package.json')))
    if (!existsSync(join(plugin.root, 'oclif.manifest.json'))) refuse(`plugin ${plugin.name} has no oclif.manifest.json`)
    files.push(relative(PROJECT_ROOT, join(plugin.root, 'oclif.manifest.json')))
  }
  let dir = dirname(createRequire(join(PROJECT_ROOT, 'package.json')).resolve('@oclif/core'))
  while (!existsSync(join(dir, 'package.json')) || JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name !== '@oclif/core') {
    if (dirname(dir) === dir) refuse('cannot find @oclif/core/package.json')
    dir = dirname(dir)
  }
  files.push(relative(PROJECT_ROOT, join(dir, 'package.json')))
  for (const f of files) if (!existsSync(join(PROJECT_ROOT, f))) refuse(`${f} does not exist`)
  return files
}

interface Run {
  stdout: string
  stderr: string
  exitCode: number
}

function runSlowly(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise(resolve => {
    execFile(process.execPath, [BIN, ...args], {env, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024}, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
      resolve({stdout, stderr, exitCode: code})
    })
  })
}

async function buildAnswers(): Promise<{answers: StartupAnswers; texts: string}> {
  if (!process.getBuiltinModule) refuse('this node has no process.getBuiltinModule, which fast-start.ts needs')
  // The texts must be plain whatever terminal runs the build; supports-color reads this on load.
  process.env.FORCE_COLOR = '0'
  const {Config} = await bundledOclif()
  // User plugins belong to whoever runs the CLI; at run time fast-start.ts leaves them to oclif.
  const config = await Config.load({root: PROJECT_ROOT, userPlugins: false})
  if (config.isSingleCommandCLI) refuse('a single-command CLI reads its arguments differently')
  if (config.pjson.oclif.helpOptions ?? (config.pjson as {helpOptions?: unknown}).helpOptions) refuse('helpOptions are set')
  for (const plugin of config.getPluginsList()) {
    const hooks = Object.keys(plugin.hooks ?? {}).filter(h => HOOKS_ON_THE_WAY.includes(h))
    if (hooks.length > 0) refuse(`plugin ${plugin.name} has ${hooks.join(', ')} hooks`)
  }
  const where = platformAndArch()
  if (!where || config.userAgent !== `${config.name}/${config.version} ${where} node-${process.version}`) {
    refuse(`userAgent ${config.userAgent} is not what fast-start.ts would compute`)
  }

  const versionFlags = [...new Set(['--version', ...(config.pjson.oclif.additionalVersionFlags ?? [])])]
  const helpFlags = [...new Set([...(config.pjson.oclif.additionalHelpFlags ?? []), '--help'])]
  const helpForms: string[][] = [[], ...helpFlags.map(f => [f])]
  if (config.findCommand('help')?.pluginName === '@oclif/plugin-help') helpForms.push(['help'])

  const byText = new Map<string, [number, number]>()
  const helpByWidth: Record<string, [number, number]> = {}
  let texts = ''
  for (let width = MIN_WIDTH; width <= MAX_WIDTH; width++) {
    const text = await renderRootHelp(config, width)
    if (text.includes('\u001B')) refuse(`the help at width ${width} has escape sequences`)
    let range = byText.get(text)
    if (!range) {
      const start = Buffer.byteLength(texts)
      texts += text
      range = [start, Buffer.byteLength(texts)]
      byText.set(text, range)
    }
    helpByWidth[String(width)] = range
  }
  const textAt = (width: number) => {
    const [start, end] = helpByWidth[String(width)]
    return Buffer.from(texts).subarray(start, end).toString('utf8')
  }

  const fallThroughEnv = ['DEBUG', ...config.scopedEnvVarKeys('DATA_DIR'), ...config.scopedEnvVarKeys('DEBUG')]
  // The real CLI, run as a user would with nothing of theirs that fast-start.ts leaves to oclif.
  const emptyData = mkdtempSync(join(tmpdir(), 'flannelctl-fast-start-'))
  try {
    const env: NodeJS.ProcessEnv = {...process.env, [FAST_START_ENV]: '0', XDG_DATA_HOME: emptyData}
    for (const k of ['FORCE_COLOR', 'OCLIF_COLUMNS', 'NODE_ENV', ...fallThroughEnv]) delete env[k]
    const checks: {args: string[]; env: NodeJS.ProcessEnv; want: string}[] = [
      ...versionFlags.map(f => ({args: [f], env, want: `${config.userAgent}\n`})),
      ...helpForms.map(args => ({args, env, want: textAt(80)})),
      {args: ['--help'], env: {...env, OCLIF_COLUMNS: '100'}, want: textAt(100)},
      {args: ['--help'], env: {...env, OCLIF_COLUMNS: String(MIN_WIDTH)}, want: textAt(MIN_WIDTH)},
    ]
    const runs = await Promise.all(checks.map(c => runSlowly(c.args, c.env)))
    checks.forEach((c, i) => {
      const r = runs[i]
      const what = `flannelctl ${c.args.join(' ')}${c.env.OCLIF_COLUMNS ? ` (OCLIF_COLUMNS=${c.env.OCLIF_COLUMNS})` : ''}`
      if (r.exitCode !== 0 || r.stderr !== '') refuse(`${what} exits ${r.exitCode} with stderr: ${r.stderr.trim()}`)
      if (r.stdout !== c.want) refuse(`${what} prints something else than the rendered answer`)
    })
  } finally {
    rmSync(emptyData, {recursive: true, force: true})
  }

  const files = sourceFiles(config)
  return {
    answers: {
      schema: 1, fingerprint: {files, sha1: fingerprint(files)}, name: config.name, version: config.version, dirname: config.dirname,
      userAgent: config.userAgent, fallThroughEnv, versionFlags, helpForms, helpByWidth,
    },
    texts,
  }
}

// Stale answers must never outlive a failed or refused build step.
rmSync(ANSWERS_FILE, {force: true})
rmSync(HELP_TEXTS_FILE, {force: true})
try {
  const {answers, texts} = await buildAnswers()
  writeFileSync(HELP_TEXTS_FILE, texts)
  writeFileSync(ANSWERS_FILE, JSON.stringify(answers) + '\n')
} catch (error) {
  if (!(error instanceof Refusal)) throw error
  process.stderr.write(`fast-start: no stored --version/--help answers (${error.message}); oclif answers them\n`)
}
