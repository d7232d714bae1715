/**
 * Build step (after tsc, before `oclif manifest`): bundles what a command run loads (tsc's
 * dist/commands, the help class, the hooks, and oclif with the libraries it needs at start) into
 * dist/bundle with esbuild, split into chunks the commands share. A run then reads a few files
 * instead of ~400 modules (@oclif/core's few hundred CommonJS files and ours), each resolved,
 * read and compiled on its own: about a quarter of a command's start (docs/performance.md, "start-up").
 * package.json's oclif section points at the bundle; tsc's dist/ stays for the tests and the build steps.
 *
 *   node dist/cli/bundle-build.js
 */
import {build} from 'esbuild'
import {readdirSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {bundleDir, projectRoot} from '../project-root.js'

/**
 * Loaded from node_modules as before, by name: etcd3 (gRPC reads files beside its own code) and the
 * prompts are loaded only by the commands that use them; oclif requires typescript and ts-node only
 * for a plugin in development, and semver only for the engine check bin/run.js turns off.
 */
const EXTERNAL = ['etcd3', '@inquirer/*', 'typescript', 'ts-node', 'semver']

function scripts(dir: string): string[] {
  return readdirSync(dir, {withFileTypes: true})
    .flatMap(e => (e.isDirectory() ? scripts(join(dir, e.name)) : e.name.endsWith('.js') ? [join(dir, e.name)] : []))
}

const dist = join(projectRoot(), 'dist')
const outdir = bundleDir()
rmSync(outdir, {recursive: true, force: true})
await build({
  entryPoints: [...scripts(join(dist, 'commands')), ...scripts(join(dist, 'hooks')), join(dist, 'cli', 'help.js'), join(dist, 'cli', 'main.js')],
  outdir,
  outbase: dist,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: EXTERNAL,
  // CommonJS code in an ESM file has no `require` of its own: oclif's requires of node's modules need one
  banner: {js: "import {createRequire as __bundleCreateRequire} from 'node:module'; const require = __bundleCreateRequire(import.meta.url);"},
  // ~4 % off a command's start (less to read and parse); the names stay, and the source maps lead
  // from a stack trace to src/ under `node --enable-source-maps` (through tsc's maps)
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  logLevel: 'warning',
})
