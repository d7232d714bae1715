import {expect} from 'chai'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {traceFlow} from '../../src/core/trace/engine.js'
import {traceJsonSchema} from '../../src/core/trace/schema.js'
import type {Trace} from '../../src/core/trace/types.js'
import {FIXTURES, loadScenario, loadWorld, scenarioFiles} from '../fixtures/trace/load.js'

type Schema = Record<string, unknown>

/** The subset of JSON Schema 2020-12 the trace schema uses: $ref, type, enum, required, properties, additionalProperties, items, minimum, maximum. */
function validate(value: unknown, schema: Schema, root: Schema, path = '$'): string[] {
  if (typeof schema.$ref === 'string') {
    const name = schema.$ref.replace('#/$defs/', '')
    const target = (root.$defs as Record<string, Schema>)[name]
    if (target === undefined) return [`${path}: unresolved ${schema.$ref}`]
    return validate(value, target, root, path)
  }
  const errors: string[] = []
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) errors.push(`${path}: ${JSON.stringify(value)} not in enum`)
  switch (schema.type) {
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${path}: not an object`]
      const v = value as Record<string, unknown>
      const props = (schema.properties ?? {}) as Record<string, Schema>
      for (const r of (schema.required ?? []) as string[]) if (!(r in v)) errors.push(`${path}: missing ${r}`)
      for (const [k, child] of Object.entries(v)) {
        if (props[k] !== undefined) errors.push(...validate(child, props[k], root, `${path}.${k}`))
        else if (schema.additionalProperties === false) errors.push(`${path}: unexpected property ${k}`)
      }
      break
    }
    case 'array':
      if (!Array.isArray(value)) return [`${path}: not an array`]
      value.forEach((item, i) => errors.push(...validate(item, schema.items as Schema, root, `${path}[${i}]`)))
      break
    case 'string':
      if (typeof value !== 'string') errors.push(`${path}: not a string`)
      break
    case 'integer':
      if (!Number.isInteger(value)) errors.push(`${path}: not an integer`)
      else {
        if (typeof schema.minimum === 'number' && (value as number) < schema.minimum) errors.push(`${path}: below ${schema.minimum}`)
        if (typeof schema.maximum === 'number' && (value as number) > schema.maximum) errors.push(`${path}: above ${schema.maximum}`)
      }
      break
  }
  return errors
}

function check(t: Trace): void {
  // what --json prints: undefined fields vanish
  const json = JSON.parse(JSON.stringify(t)) as unknown
  const errors = validate(json, traceJsonSchema as unknown as Schema, traceJsonSchema as unknown as Schema)
  expect(errors, errors.join('\n')).to.deep.equal([])
}

describe('trace --json schema', () => {
  it('is draft 2020-12 and names every top-level field of the contract', () => {
    expect(traceJsonSchema.$schema).to.equal('https://json-schema.org/draft/2020-12/schema')
    expect(Object.keys(traceJsonSchema.properties)).to.deep.equal(['src', 'dst', 'flow', 'disposition', 'hops', 'failure', 'returnPath', 'traceroute', 'warnings'])
  })

  it('catches a malformed trace (the validator is not a rubber stamp)', () => {
    const t = traceFlow(loadWorld('flannel-vxlan'), {src: 'pod-a', dst: 'pod-b'}) as unknown as Record<string, unknown>
    const bad = {...t, disposition: 'LOST', extra: 1, hops: [{node: 'x'}]}
    const errors = validate(bad, traceJsonSchema as unknown as Schema, traceJsonSchema as unknown as Schema)
    expect(errors.some(e => e.includes('not in enum'))).to.equal(true)
    expect(errors.some(e => e.includes('unexpected property extra'))).to.equal(true)
    expect(errors.some(e => e.includes('$.hops[0]: missing steps'))).to.equal(true)
  })

  it('validates traces of every fixture world and failure scenario', () => {
    const pairs: [string, string, string][] = [
      ['flannel-vxlan', 'pod-a', 'pod-b'], ['flannel-vxlan', 'pod-c', 'pod-a'], ['flannel-vxlan', 'node1', '203.0.113.9'],
      ['flannel-host-gw', 'pod-a', 'pod-b'], ['flannel-host-gw-partial', 'pod-b', 'pod-a'], ['flannel-directrouting', 'pod-d', 'pod-a'],
      ['flannel-old', 'pod-a', 'pod-b2'], ['calico', 'web-0', 'db-0'], ['docker-masq', 'web', 'host2'],
    ]
    for (const [w, src, dst] of pairs) check(traceFlow(loadWorld(w), {src, dst, proto: 'tcp', dport: 443, size: 1200}))
    for (const f of scenarioFiles()) {
      const {world, scenario} = loadScenario(f)
      check(traceFlow(world, scenario.request))
    }
  })

  it('validates an ASSUMED warning made for want of a table, which names it (`table`, what doctor groups by)', () => {
    const w = structuredClone(loadWorld('flannel-vxlan'))
    delete w.hosts.find(h => h.name === 'node1')!.sysctls
    const t = traceFlow(w, {src: 'pod-a', dst: 'pod-b'})
    expect(t.warnings.filter(x => x.node === 'node1').map(x => x.table)).to.include('sysctls')
    check(t)
  })

  it('is embedded verbatim in docs/trace.md', () => {
    const doc = readFileSync(join(FIXTURES, '..', '..', '..', 'docs', 'trace.md'), 'utf8')
    expect(doc).to.contain('```json\n' + JSON.stringify(traceJsonSchema, null, 2) + '\n```')
  })
})
