/** `1 host`, `2 hosts`, `0 pods`: a count with its noun in the number it takes. */
export function count(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`
}

/** The first few of a list and how many more: `a, b, c and 4 more`. */
export function firstFew(items: string[], shown = 3): string {
  return items.length > shown ? `${items.slice(0, shown).join(', ')} and ${items.length - shown} more` : items.join(', ')
}

/** Text broken between words into lines of at most `width` characters (a longer word gets a line of its own). */
export function wrapWords(text: string, width: number): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else line = line ? `${line} ${word}` : word
  }
  if (line) lines.push(line)
  return lines
}

/** Levenshtein distance (insert, delete, replace, and swapping two neighbours as one). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({length: a.length + 1}, (_, i) => [i, ...Array<number>(b.length).fill(0)])
  for (let j = 1; j <= b.length; j++) d[0][j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1)
    }
  }
  return d[a.length][b.length]
}

/** The candidate a typo most likely meant: the nearest within a third of its length (at least 2 edits); none when two tie. */
export function closest(typed: string, candidates: string[]): string | undefined {
  const scored = candidates.map(c => ({c, d: editDistance(typed, c)})).sort((x, y) => x.d - y.d)
  const best = scored[0]
  if (best === undefined || best.d > Math.max(2, Math.floor(typed.length / 3))) return undefined
  return scored[1]?.d === best.d ? undefined : best.c
}

/** One word for a POSIX shell, whatever it holds (bare when it needs no quoting). */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./=:,@+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`
}
