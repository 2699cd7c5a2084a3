// Writing to the terminal without node's stream objects: touching process.stdout or
// process.stderr builds them, which costs ~10 ms of a ~5 ms start. Writes are synchronous,
// so output keeps its order and is complete when dwf exits.
import { writeSync } from "node:fs";

function writeFd(fd: 1 | 2, text: string): void {
  if (text === "") return;
  const bytes = Buffer.from(text);
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(fd, bytes, offset);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // A non-blocking pipe that is full: wait for the reader.
      if (code === "EAGAIN") {
        Bun.sleepSync(1);
        continue;
      }
      // The reader went away (`dwf … | head`): nothing more to say.
      if (code === "EPIPE") return;
      throw e;
    }
  }
}

export const writeStdout = (text: string): void => writeFd(1, text);
export const writeStderr = (text: string): void => writeFd(2, text);

/** Importing node:tty costs ~2 ms (it builds the stream classes); the runtime's binding answers alone. */
function isatty(fd: number): boolean {
  const binding = (process as unknown as { binding?: (name: string) => { isTTY?: (fd: number) => boolean } }).binding;
  const isTTY = binding?.("tty_wrap").isTTY;
  return typeof isTTY === "function" ? isTTY(fd) : (require("node:tty") as typeof import("node:tty")).isatty(fd);
}

export function isTerminal(fd: 0 | 1 | 2): boolean {
  try {
    return isatty(fd);
  } catch {
    return false;
  }
}
