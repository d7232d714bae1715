/**
 * The directory holding package.json and bin/run.js, found by walking up from this code's file:
 * the build bundles the commands (src/cli/bundle-build.ts), and a module's code then sits in
 * dist/bundle at another depth than tsc's dist/ gives it, different from one build to the next.
 */
import {existsSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

let root: string | undefined

export function projectRoot(): string {
  if (root !== undefined) return root
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bin', 'run.js'))) return (root = dir)
    if (dirname(dir) === dir) throw new Error(`no package.json with bin/run.js above ${fileURLToPath(import.meta.url)}`)
  }
}

/** where the build bundles the commands and oclif (src/cli/bundle-build.ts; package.json's oclif section points there) */
export function bundleDir(): string {
  return join(projectRoot(), 'dist', 'bundle')
}

/** the CLI as a user runs it, for a process of its own (`node BIN …`) */
export function cliBin(): string {
  return join(projectRoot(), 'bin', 'run.js')
}
