// Once-per-run values: the first call starts the work, every later one shares its promise.
export function memo<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}
