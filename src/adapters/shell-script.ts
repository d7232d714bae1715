/**
 * Several programs run by one shell, each output coming back byte for byte: the host's read script
 * (HostAdapter.readSeveral) and a RealRunner's shell session both speak this framing.
 *
 * After each program the script prints, on stdout, a newline, a random marker and the exit code on
 * a line of their own, and on stderr a newline and the marker. A program reads a quoted
 * here-document ended by `MARKER-in`, or /dev/null: never the rest of the script.
 */
import {randomBytes} from 'node:crypto'
import type {CommandResult} from './runner.js'
import {shellQuote} from './target.js'

/** A word of a script: a plain word is quoted, a glob is left for the shell to expand. */
export type ShellWord = string | {glob: string}
/**
 * A program of a script: its words, and what it reads on stdin (else /dev/null); or a few lines of
 * shell written here in flannelctl (never built from input but by shellWord), named for messages.
 */
export type ShellCommand = ShellWord[] | {words: ShellWord[]; input?: string} | {name: string; script: string}

export function newMarker(): string {
  return `flannelctl-${randomBytes(12).toString('hex')}`
}

export function shellWord(w: ShellWord): string {
  if (typeof w === 'string') return shellQuote(w)
  if (!/^[A-Za-z0-9_./*-]+$/.test(w.glob)) throw new Error(`not a plain glob: ${w.glob}`)
  return w.glob
}

/** Whether `input` can be a here-document of a script framed by `marker` (else the program needs a run of its own). */
export function fitsHereDocument(input: string, marker: string): boolean {
  return input.endsWith('\n') && !input.split('\n').includes(`${marker}-in`)
}

/**
 * The script that runs `commands` in turn. Every word is quoted (globs are checked to hold nothing
 * else): nothing in a command reaches the shell's parser as anything but a word.
 */
export function framedScript(marker: string, commands: ShellCommand[]): string {
  const done = frameEnd(marker)
  return commands.map(c => {
    if ('script' in c) return `{ ${c.script}\n} </dev/null; ${done}`
    const {words, input} = Array.isArray(c) ? {words: c, input: undefined} : c
    const argv = words.map(shellWord).join(' ')
    if (input === undefined) return `${argv} </dev/null; ${done}`
    if (!fitsHereDocument(input, marker)) throw new Error('a script\'s input must end with a newline and not hold its marker')
    return `${argv} <<'${marker}-in'; ${done}${input}${marker}-in\n`
  }).join('')
}

/**
 * What framedScript(marker, [...first, ...beside]) prints, with `beside` running at the same time
 * as `first`. A command substitution takes `beside`'s stderr; in it, `first` runs in the
 * background, printing straight to the script's stdout (fd 3) and stderr, while an inner one takes
 * `beside`'s stdout, which is printed once `first` has ended; `beside`'s stderr comes after. No temp
 * file, no program more than `first` and `beside` start, and no pattern matching over their output
 * (which the shell does in quadratic time): under load every process more is a wait for a CPU. A
 * trailing `x` keeps the trailing newlines that `$(…)` strips; what it cannot keep are NUL bytes,
 * which the shell drops: `beside` must be programs that print none. Its one variable, e, ends
 * unset (in a session shell too).
 */
export function framedScriptSideBySide(marker: string, first: ShellCommand[], beside: ShellCommand[]): string {
  return `{ e=$( {\n${framedScript(marker, first)}} </dev/null >&3 &\np=$!\n`
    + `{ b=$(\n${framedScript(marker, beside)}echo x); wait $p; printf '%s' "\${b%x}" >&3; } 2>&1; echo x)\n`
    + `printf '%s' "\${e%x}" >&2; unset e; } 3>&1\n`
}

/** What the script runs after each program: its frame, the program's exit code in it. */
export function frameEnd(marker: string): string {
  return `s=$?; printf '\\n%s %d\\n' ${marker} "$s"; printf '\\n%s\\n' ${marker} >&2\n`
}

/**
 * The first program's result in a framed script's output so far, and the output after it;
 * undefined while either of its two frames is incomplete.
 */
export function takeFrame(stdout: string, stderr: string, marker: string): {result: CommandResult; stdout: string; stderr: string} | undefined {
  const end = stdoutFrameEnd(stdout, marker)
  if (!end) return undefined
  const errEnd = stderr.indexOf(stderrFrameEnd(marker))
  if (errEnd < 0) return undefined
  return {
    result: {stdout: stdout.slice(0, end.index), stderr: stderr.slice(0, errEnd), exitCode: end.exitCode},
    stdout: stdout.slice(end.after),
    stderr: stderr.slice(errEnd + marker.length + 2),
  }
}

/**
 * Where the first stdout frame end (`\n`, the marker, a space, the exit code's digits, `\n`) is in
 * `text`. A string search, not a RegExp: one built for each program's new marker cost ~15–20 µs.
 */
function stdoutFrameEnd(text: string, marker: string): {index: number; after: number; exitCode: number} | undefined {
  const head = `\n${marker} `
  for (let at = text.indexOf(head); at >= 0; at = text.indexOf(head, at + 1)) {
    const digits = at + head.length
    let i = digits
    while (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++
    if (i > digits && text.charCodeAt(i) === 10) return {index: at, after: i + 1, exitCode: Number(text.slice(digits, i))}
  }
  return undefined
}

const stderrFrameEnd = (marker: string) => `\n${marker}\n`

/**
 * A framed program's output as the two pipes deliver it. Each chunk is searched once for the
 * frame's end, together with the few characters before it (a frame line split between chunks), and
 * the whole text is joined once, when both frames are complete: a program that prints 300 KB
 * arrives in dozens of chunks, and searching all that came so far on each was quadratic.
 */
export class FrameReader {
  private readonly stdout: ArrivingText
  private readonly stderr: ArrivingText

  constructor(private readonly marker: string) {
    const errEnd = stderrFrameEnd(marker)
    // "\n", the marker, " ", an exit code of at most three digits, "\n"
    this.stdout = new ArrivingText(text => stdoutFrameEnd(text, marker) !== undefined, marker.length + 6)
    this.stderr = new ArrivingText(text => text.includes(errEnd), errEnd.length)
  }

  addStdout(text: string): void {
    this.stdout.add(text)
  }

  addStderr(text: string): void {
    this.stderr.add(text)
  }

  /** The program's result and what came after it, once both frames are complete (takeFrame's answer). */
  take(): {result: CommandResult; stdout: string; stderr: string} | undefined {
    if (!this.stdout.ended || !this.stderr.ended) return undefined
    return takeFrame(this.stdout.text(), this.stderr.text(), this.marker)
  }
}

/** One pipe's text in chunks, and whether a frame's end has come (`endIn` says so of a stretch of text at most `endLength` long, or longer). */
class ArrivingText {
  private readonly chunks: string[] = []
  /** the last endLength - 1 characters searched: a frame end that began there ends in the next chunk */
  private carry = ''
  ended = false

  constructor(private readonly endIn: (text: string) => boolean, private readonly endLength: number) {}

  add(text: string): void {
    if (text === '') return
    this.chunks.push(text)
    if (this.ended) return
    const searched = this.carry + text
    this.ended = this.endIn(searched)
    this.carry = searched.slice(-(this.endLength - 1))
  }

  text(): string {
    return this.chunks.join('')
  }
}

/**
 * A program of a script as --verbose shows it: its words (a batch's lines after it, in brackets),
 * or a shell snippet's name.
 */
export function programLine(c: ShellCommand): string {
  if ('script' in c) return c.name
  const {words, input} = Array.isArray(c) ? {words: c, input: undefined} : c
  const line = words.map(w => (typeof w === 'string' ? w : w.glob)).join(' ')
  return input === undefined ? line : `${line} [${input.trimEnd().split('\n').join(' | ')}]`
}

/** What messages call a command of a script. */
export function commandName(c: ShellCommand): string {
  if ('script' in c) return c.name
  const first = (Array.isArray(c) ? c : c.words)[0]
  return typeof first === 'string' ? first : first.glob
}
