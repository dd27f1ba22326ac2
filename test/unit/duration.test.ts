import { expect } from 'chai';
import { formatDuration, parseDuration } from '../../src/config/duration.ts';

describe('parseDuration', () => {
  it('reads milliseconds, seconds, minutes, hours and sequences of them', () => {
    expect(parseDuration('500ms')).to.equal(500);
    expect(parseDuration('2s')).to.equal(2000);
    expect(parseDuration('1.5s')).to.equal(1500);
    expect(parseDuration('1m')).to.equal(60_000);
    expect(parseDuration('1h')).to.equal(3_600_000);
    expect(parseDuration('1m30s')).to.equal(90_000);
    expect(parseDuration('0s')).to.equal(0);
  });

  it('rejects unit-less, negative, empty and unknown-unit durations with a sentence', () => {
    expect(parseDuration('5')).to.match(/has no unit/);
    expect(parseDuration('-1s')).to.match(/negative/);
    expect(parseDuration('')).to.match(/empty/);
    expect(parseDuration('5d')).to.match(/not a duration/);
    expect(parseDuration('5 s')).to.match(/not a duration/);
    expect(parseDuration('s')).to.match(/not a duration/);
  });

  it('formats back to the largest whole unit', () => {
    expect(formatDuration(10_000)).to.equal('10s');
    expect(formatDuration(120_000)).to.equal('2m');
    expect(formatDuration(250)).to.equal('250ms');
    expect(formatDuration(0)).to.equal('0s');
  });
});
