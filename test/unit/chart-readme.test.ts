import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { renderReadme, valuesRows } from '../../scripts/helm/values-readme.ts';

const CHART = new URL('../../helm/sluice/', import.meta.url);

describe('chart README (generated from values.yaml)', () => {
  it('is what values.yaml gives; run npm run helm:readme after changing values.yaml', () => {
    const values = readFileSync(new URL('values.yaml', CHART), 'utf8');
    expect(readFileSync(new URL('README.md', CHART), 'utf8')).to.equal(renderReadme(values));
  });

  it('documents a key with the comment right above it and its default, skipping list contents', () => {
    const rows = valuesRows([
      '# Top.',
      'a:',
      '  # What b is.',
      '  b: 1',
      '',
      '# Not about c: a blank line follows.',
      '',
      'c:',
      '  - name: x',
      '    value: y',
      'd: {}',
      '',
    ].join('\n'));
    expect(rows).to.deep.equal([
      { key: 'a', value: undefined, comment: 'Top.' },
      { key: 'a.b', value: 1, comment: 'What b is.' },
      { key: 'c', value: [{ name: 'x', value: 'y' }], comment: '' },
      { key: 'd', value: {}, comment: '' },
    ]);
  });
});
