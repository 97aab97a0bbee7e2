/** The process's resident memory in MB, what the log's `memory` shows (on wasm it includes the wasm heap). */
export function residentMemoryMB(): number {
  return Math.round(process.memoryUsage().rss / 2 ** 20);
}
