/**
 * The python3 the probes run, by its own path. Found once per test process: where python3 on PATH is
 * a version manager's shim (pyenv's starts some thirty programs before the interpreter, ~0.7 s a
 * call against ~0.05 s), every probe, listener and client would pay that, and a listener given a
 * fixed head start could still be starting when its client connects.
 */
import {execFileSync} from 'node:child_process'

let found: string | undefined

export function python3(): string {
  if (found === undefined) {
    try {
      const path = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], {encoding: 'utf8'}).trim()
      // tests put it into shell command lines unquoted
      found = /^[\w./+-]+$/.test(path) ? path : 'python3'
    } catch {
      found = 'python3' // not found: each call then fails as it would have, naming python3
    }
  }
  return found
}
