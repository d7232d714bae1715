/**
 * Doc blocks that show a command's output, trimmed: a line `…` (alone, or with a note in
 * parentheses: `…  (pod-1a's hop, as before)`) stands for any number of lines, a line ending in
 * ` …` for any line that begins with what precedes it; every other line is the output's next line.
 */
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {ROOT} from './cli.js'

const ELISION = /^\s*…(\s+\(.*\))?$/

/** The first line of `block` that `golden` does not account for, or undefined when it shows `golden` trimmed. */
export function unlike(block: string[], golden: string[]): string | undefined {
  let g = 0
  let skipping = false
  for (const line of block) {
    if (ELISION.test(line)) {
      skipping = true
      continue
    }
    const fits = (candidate: string | undefined) => candidate !== undefined && (line.endsWith(' …') ? candidate.startsWith(line.slice(0, -2)) : candidate === line)
    if (skipping) {
      while (g < golden.length && !fits(golden[g])) g++
    }
    if (!fits(golden[g])) return `${JSON.stringify(line)} (the output has ${JSON.stringify(golden[g] ?? '(its end)')} there)`
    g++
    skipping = false
  }
  // a block that does not end in an elision shows the output to its end
  if (!skipping && g < golden.length) return `its end (the output goes on with ${JSON.stringify(golden[g])})`
  return undefined
}

/** A command a doc shows after `$ ` in a fenced block, and the lines it shows under it. */
export interface ShownRun {
  where: string
  /** the words after `flannelctl` */
  argv: string[]
  shown: string[]
}

/** Every `$ flannelctl …` line of the fenced blocks of `file`, with the output the doc shows for it. */
export function shownRuns(file: string): ShownRun[] {
  const runs: ShownRun[] = []
  let fenced = false
  let current: ShownRun | undefined
  for (const [i, line] of readFileSync(join(ROOT, file), 'utf8').split('\n').entries()) {
    if (/^```/.test(line)) {
      fenced = !fenced
      current = undefined
      continue
    }
    if (!fenced) continue
    const command = /^\$ (.*)$/.exec(line)
    if (command) {
      current = undefined
      const words = command[1].split(/\s+/)
      if (words[0] !== 'flannelctl') continue
      current = {where: `${file}:${i + 1}`, argv: words.slice(1), shown: []}
      runs.push(current)
    } else current?.shown.push(line)
  }
  return runs
}
