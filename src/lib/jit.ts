// The compiled binary starts with a reluctant JIT (`--compile-jit-policy`, scripts/build.ts):
// most of a short run is code that executes once, and compiling it only competes with the run.
// Before long work (a task that runs, a loop over thousands of files) the normal policy returns.

/** Loops this long are worth compiling. */
export const LONG_LOOP = 500;

export function expectLongWork(): void {
  Bun.unsafe.setJITPolicy?.(1);
}
