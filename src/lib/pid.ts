// Whether a process id names a live process, for the owners dwf records (install locks,
// upgrade staging folders, containers and run records of a dwf that may have been killed).

/** kill(pid, 0): ESRCH means no such process; EPERM means one exists that is not ours. */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
