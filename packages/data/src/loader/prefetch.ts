/**
 * Loading ahead of the consumer. Image decoding (sharp) runs on libuv's threads, so it proceeds
 * while the consumer computes; keeping `ahead` loads in flight means the next batch is usually
 * ready when it is asked for. Results come out in plan order, whatever order loads finish in.
 */
export async function* prefetched<T, R>(plan: Iterator<T>, load: (item: T) => Promise<R>, ahead: number): AsyncGenerator<R> {
  if (!Number.isInteger(ahead) || ahead < 1) throw new RangeError(`prefetched: ahead must be an integer >= 1, got ${ahead}`);
  const inFlight: Promise<R>[] = [];
  const refill = (): void => {
    while (inFlight.length < ahead) {
      const next = plan.next();
      if (next.done) return;
      const pending = load(next.value);
      // A failure surfaces when its turn comes; until then it must not count as unhandled.
      pending.catch(() => undefined);
      inFlight.push(pending);
    }
  };
  refill();
  while (inFlight.length) {
    const result = await inFlight.shift()!;
    // Start the next load before handing this one over, so that `ahead` loads run while the
    // consumer works on `result`.
    refill();
    // A result that was ready resolves through microtasks only, and the I/O callbacks that start
    // and finish other loads (decodes finished while the consumer was busy) would wait behind a
    // consumer that never gives the event loop a turn: give it one here.
    await new Promise<void>((resolve) => setImmediate(resolve));
    yield result;
  }
}
