// POSIX shell quoting, for printing command lines a user can paste. dwf never runs these
// strings; processes are always spawned from argv arrays.

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

function quoteArg(arg: string): string {
  if (arg === "") return "''";
  if (SAFE.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

export function quoteCommand(argv: string[]): string {
  return argv.map(quoteArg).join(" ");
}
