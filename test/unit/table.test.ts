import {expect} from 'chai'
import {renderTable} from '../../src/ui/table.js'

describe('renderTable', () => {
  it('a header, one separator line, then the rows, with no trailing spaces', () => {
    const lines = renderTable(['NODE', 'SUBNET'], [['n1', '10.244.1.0/24'], ['n2', 2]]).split('\n')
    expect(lines).to.have.length(4)
    expect(lines[0]).to.match(/^ NODE\s+SUBNET$/)
    expect(lines[1]).to.match(/^─+$/)
    expect(lines[3]).to.match(/^ n2\s+2$/)
  })

  it('no rows: the header alone (it threw reading the separator line cli-table3 does not draw then)', () => {
    expect(renderTable(['NODE', 'SUBNET'], [])).to.match(/^ NODE\s+SUBNET$/)
  })
})
