/** The bench report for people: one row per measurement, the ratio against its limit and the verdict. */
import type {BenchReport, BenchRow, Goal, ScalePoint} from '../services/bench.js'
import {renderTable} from './table.js'

export function formatRatio(r: number | null): string {
  if (r === null || !Number.isFinite(r)) return 'n/a'
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`
}

export function formatValue(v: number | null, unit: BenchRow['unit']): string {
  if (v === null || !Number.isFinite(v)) return 'n/a'
  if (unit === 'Mbit/s') return `${Math.round(v).toLocaleString('en-US')} Mbit/s`
  if (unit === 'µs') return `${Math.round(v)} µs`
  return v >= 100 ? `${Math.round(v)} ms` : v >= 10 ? `${v.toFixed(1)} ms` : `${v.toFixed(2)} ms`
}

export function formatGoal(g: Goal | undefined): string {
  if (!g) return '-'
  return `${g.kind === 'max' ? '≤' : '≥'} ${g.value}×`
}

export function formatVerdict(row: Pick<BenchRow, 'verdict' | 'note'>): string {
  if (row.verdict === 'n/a') return row.note ?? 'n/a'
  return row.verdict
}

export function benchRows(rows: BenchRow[]): string[][] {
  return rows.map(r => [r.what, formatValue(r.measured, r.unit), `${formatValue(r.limit, r.unit)}  ${r.limitWhat}`, formatRatio(r.ratio), formatGoal(r.goal), formatVerdict(r)])
}

export function renderScale(points: ScalePoint[]): string {
  const ms = (v: number | undefined) => (v === undefined ? '-' : formatValue(v, 'ms'))
  return renderTable(['BACKEND', 'PEERS', 'STEP', 'FLANNELCTL', 'RAW BATCH', 'RATIO', 'APPLY', 'RECORD', 'READ+PLAN'],
    points.map(p => [p.backend, p.peers, p.step, formatValue(p.ms, 'ms'), formatValue(p.rawMs, 'ms'), formatRatio(p.ratio),
      ms(p.breakdown?.apply), ms(p.breakdown?.record), ms(p.breakdown?.readAndPlan)]))
}

/** Where each sync row's time went: the kernel batches, the record writes, reading + store + planning. */
export function renderBreakdown(rows: BenchRow[]): string {
  const withSpans = rows.filter(r => r.breakdown)
  return renderTable(['SYNC ROW', 'TOTAL', 'APPLY (batches)', 'RECORD (node.json)', 'READ HOST + STORE + PLAN'],
    withSpans.map(r => [r.id, formatValue(r.measured, 'ms'), formatValue(r.breakdown!.apply, 'ms'), formatValue(r.breakdown!.record, 'ms'),
      formatValue(r.breakdown!.readAndPlan, 'ms')]))
}

export function renderBench(report: BenchReport): string {
  const m = report.machine
  const lines = [`flannelctl bench: ${m.cpus} × ${m.cpuModel}, Linux ${m.kernel}, node ${m.node}; medians of ${report.options.reps} sync reps, ${report.options.startupRuns} start-up runs`]
  if (m.loadAvg) {
    const busy = Math.max(m.loadAvg.start, m.loadAvg.end) > m.cpus
    lines.push(`load average ${m.loadAvg.start.toFixed(1)} at the start, ${m.loadAvg.end.toFixed(1)} at the end${busy ? ` — above ${m.cpus} CPUs: other work shares the machine, expect noisy ratios` : ''}`)
  }
  lines.push(renderTable(['MEASURED', 'TIME / RATE', 'LIMIT (same run)', 'RATIO', 'GOAL', 'VERDICT'], benchRows(report.rows)))
  const goals = report.rows.filter(r => r.goal)
  const met = goals.filter(r => r.verdict === 'met').length
  const missed = goals.filter(r => r.verdict === 'missed').map(r => r.id)
  const unmeasured = goals.filter(r => r.verdict === 'n/a').map(r => r.id)
  lines.push(`goals met: ${met}/${met + missed.length}${missed.length ? `; missed: ${missed.join(', ')}` : ''}${unmeasured.length ? `; not measured: ${unmeasured.join(', ')}` : ''}`)
  const notes = report.rows.filter(r => r.note && r.verdict !== 'n/a')
  for (const r of notes) lines.push(`note (${r.id}): ${r.note}`)
  if (report.rows.some(r => r.breakdown)) lines.push('', 'where the sync time goes (medians):', renderBreakdown(report.rows))
  if (new Set(report.scale.map(p => p.peers)).size > 1) {
    lines.push('', 'sync cost by peer count (medians):', renderScale(report.scale))
  }
  return lines.join('\n')
}
