#!/usr/bin/env node
// `--version` and the root `--help` come from what the build stored after oclif rendered them
// (src/cli/fast-start.ts), so they skip loading oclif; whatever it cannot vouch for goes to oclif.
let answer
try {
  const {fastAnswer} = await import('../dist/cli/fast-start.js')
  answer = fastAnswer(process.argv.slice(2))
} catch {}

if (answer === undefined) {
  const {execute} = await import('@oclif/core/execute')
  await execute({dir: import.meta.url})
} else {
  // oclif writes with console.log, which ignores a reader that went away (`| head -1`); so do we.
  process.stdout.on('error', () => {})
  process.stdout.write(answer)
}
