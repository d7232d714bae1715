/** Temp directories for tests, removed afterwards also when a test fails. */
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

/**
 * Within a describe block: a fresh temp directory named PREFIX…, made before its tests (or before
 * each, with `each`) and removed after; `use` receives its path.
 */
export function tempDirHooks(prefix: string, use: (dir: string) => void, {each = false} = {}): void {
  let dir: string | undefined
  ;(each ? beforeEach : before)(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix))
    use(dir)
  })
  ;(each ? afterEach : after)(async () => {
    if (dir) await rm(dir, {recursive: true, force: true})
  })
}
