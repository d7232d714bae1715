/**
 * DEBUG=flannelctl* (or flannelctl:run, flannelctl:trace, …) shows what --verbose does not: exit
 * codes, timings, output sizes, where a source's tables came from. It uses the `debug` package
 * that @oclif/core already brings (and that answers DEBUG=oclif* the same way); should it ever be
 * missing, the tiny matcher below honours DEBUG the same way for our own namespaces.
 */
import {createRequire} from 'node:module'
import {format} from 'node:util'

export interface Debugger {
  (formatter: string, ...args: unknown[]): void
  readonly enabled: boolean
}

type Factory = (namespace: string) => Debugger

function fallbackFactory(): Factory {
  const patterns = (process.env.DEBUG ?? '').split(/[\s,]+/).filter(Boolean)
  const toRegex = (p: string) => new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`)
  const skip = patterns.filter(p => p.startsWith('-')).map(p => toRegex(p.slice(1)))
  const names = patterns.filter(p => !p.startsWith('-')).map(toRegex)
  return namespace => {
    const enabled = names.some(r => r.test(namespace)) && !skip.some(r => r.test(namespace))
    const log = (formatter: string, ...args: unknown[]) => {
      if (enabled) process.stderr.write(`${namespace} ${format(formatter, ...args)}\n`)
    }
    return Object.assign(log, {enabled})
  }
}

function loadFactory(): Factory {
  try {
    return createRequire(import.meta.url)('debug') as Factory
  } catch {
    return fallbackFactory()
  }
}

let factory: Factory | undefined

/** A debugger for `flannelctl:<scope>`. */
export function debug(scope: string): Debugger {
  factory ??= loadFactory()
  return factory(`flannelctl:${scope}`)
}
