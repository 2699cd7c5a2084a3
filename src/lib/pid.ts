// Whether a process id names a live process, for the owners dwf records (install locks,
// upgrade staging folders, containers and run records of a dwf that may have been killed).
import { readFileSync } from "node:fs";

/** kill(pid, 0): ESRCH means no such process; EPERM means one exists that is not ours. */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * The fields after the command name of /proc/<pid>/stat (state is [0], ppid [1], starttime [19]),
 * or undefined when there is no such process (or no /proc). The command name may hold spaces
 * and parentheses, so the split starts after its last ')'.
 */
export function procStat(pid: number | "self"): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "latin1");
    return s.slice(s.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}
