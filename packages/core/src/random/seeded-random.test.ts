import { expect } from 'chai';
import { RandomStream, seededRandom } from './seeded-random.js';

describe('RandomStream', () => {
  it('draws the same sequence as seededRandom for the same seed', () => {
    const stream = new RandomStream(42);
    const plain = seededRandom(42);
    for (let i = 0; i < 5; i++) expect(stream.next()).to.equal(plain());
  });

  it('continues exactly from a saved state', () => {
    const stream = new RandomStream(7);
    stream.next();
    const state = stream.getState();
    const expected = [stream.next(), stream.next()];
    const resumed = new RandomStream();
    resumed.setState(state);
    expect([resumed.next(), resumed.uniform()]).to.deep.equal(expected);
  });

  it('refuses a state that is not a uint32', () => {
    expect(() => new RandomStream().setState(-1)).to.throw(/uint32/);
  });
});
