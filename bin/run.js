#!/usr/bin/env node
// `--version` and the root `--help` come from what the build stored after oclif rendered them
// (src/cli/fast-start.ts), so they skip loading oclif; whatever it cannot vouch for goes to oclif.
let answer
try {
  const {fastAnswer} = await import('../dist/cli/fast-start.js')
  answer = fastAnswer(process.argv.slice(2))
} catch {}

if (answer === undefined) {
  // On import, oclif checks node against its own engines (>=18), loading semver for it: ~10-30 ms of
  // every run for a warning that cannot come where package.json's engines (>=20) are met.
  const asked = process.env.OCLIF_DISABLE_ENGINE_WARNING
  process.env.OCLIF_DISABLE_ENGINE_WARNING = '1'
  // oclif as the build bundled it with the commands (src/cli/bundle-build.ts): its index runs the check
  const bundled = new URL('../dist/bundle/cli/main.js', import.meta.url)
  const {execute} = await import(bundled.href).catch(error => {
    if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes(bundled.pathname)) throw error
    process.stderr.write(`Error: flannelctl is not built: ${bundled.pathname} is missing\nHint: run npm run build in ${new URL('..', import.meta.url).pathname}\n`)
    process.exit(1)
  })
  if (asked === undefined) delete process.env.OCLIF_DISABLE_ENGINE_WARNING
  else process.env.OCLIF_DISABLE_ENGINE_WARNING = asked
  await execute({dir: import.meta.url})
} else {
  // oclif writes with console.log, which ignores a reader that went away (`| head -1`); so do we.
  process.stdout.on('error', () => {})
  process.stdout.write(answer)
}
