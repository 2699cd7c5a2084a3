// A small POSIX tar (ustar + pax path records) for remote cache artifacts: regular files,
// folders and symlinks, nothing else. Writing and reading stay in memory; the reader checks
// every header's checksum and every size against the bytes present, so a truncated or
// altered archive is an error, never a partial result. Path safety is the caller's business
// (remote-cache.ts decides what may be restored where).

export type TarEntry =
  | { type: "file"; path: string; mode: number; data: Uint8Array }
  | { type: "dir"; path: string; mode: number }
  | { type: "symlink"; path: string; target: string };

const BLOCK = 512;
const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

function octal(value: number, width: number): string {
  // width includes the terminating NUL.
  return value.toString(8).padStart(width - 1, "0") + "\0";
}

function putString(buf: Uint8Array, offset: number, width: number, text: string): void {
  const bytes = enc.encode(text);
  buf.set(bytes.subarray(0, width), offset);
}

function header(name: string, opts: { mode: number; size: number; type: string; linkname?: string }): Uint8Array {
  const h = new Uint8Array(BLOCK);
  putString(h, 0, 100, name);
  putString(h, 100, 8, octal(opts.mode & 0o7777, 8));
  putString(h, 108, 8, octal(0, 8));
  putString(h, 116, 8, octal(0, 8));
  putString(h, 124, 12, octal(opts.size, 12));
  putString(h, 136, 12, octal(0, 12));
  h.fill(0x20, 148, 156);
  putString(h, 156, 1, opts.type);
  if (opts.linkname) putString(h, 157, 100, opts.linkname);
  putString(h, 257, 6, "ustar\0");
  putString(h, 263, 2, "00");
  let sum = 0;
  for (const b of h) sum += b;
  putString(h, 148, 8, octal(sum, 7) + " ");
  return h;
}

function padded(data: Uint8Array): Uint8Array[] {
  const rest = data.length % BLOCK;
  return rest === 0 ? [data] : [data, new Uint8Array(BLOCK - rest)];
}

/** A pax record `LEN key=value\n`, where LEN counts the whole record including itself. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLen = enc.encode(body).length;
  let len = bodyLen + 1;
  while (len !== bodyLen + String(len).length) len = bodyLen + String(len).length;
  return `${len}${body}`;
}

function fits(text: string): boolean {
  return enc.encode(text).length <= 100 && !/[^\x20-\x7e]/.test(text);
}

export function writeTar(entries: TarEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    const name = e.type === "dir" && !e.path.endsWith("/") ? `${e.path}/` : e.path;
    const link = e.type === "symlink" ? e.target : undefined;
    // Long or non-ASCII names go in a pax header; the ustar field keeps a truncated stand-in.
    if (!fits(name) || (link !== undefined && !fits(link))) {
      const pax = enc.encode(paxRecord("path", name) + (link !== undefined ? paxRecord("linkpath", link) : ""));
      parts.push(header("././@PaxHeader", { mode: 0o644, size: pax.length, type: "x" }), ...padded(pax));
    }
    const short = name.slice(0, 99);
    if (e.type === "file") parts.push(header(short, { mode: e.mode, size: e.data.length, type: "0" }), ...padded(e.data));
    else if (e.type === "dir") parts.push(header(short, { mode: e.mode, size: 0, type: "5" }));
    else parts.push(header(short, { mode: 0o777, size: 0, type: "2", linkname: link!.slice(0, 99) }));
  }
  parts.push(new Uint8Array(BLOCK * 2));
  return concatBytes(parts);
}

/** The parts one after another in one new array of their own. */
export function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export class TarError extends Error {}

function field(h: Uint8Array, offset: number, width: number): string {
  const slice = h.subarray(offset, offset + width);
  const end = slice.indexOf(0);
  try {
    return dec.decode(end < 0 ? slice : slice.subarray(0, end));
  } catch {
    throw new TarError("a header field is not valid UTF-8");
  }
}

function readOctal(h: Uint8Array, offset: number, width: number, what: string): number {
  const text = field(h, offset, width).trim();
  if (!/^[0-7]+$/.test(text)) throw new TarError(`bad ${what} field ${JSON.stringify(text)}`);
  return parseInt(text, 8);
}

function parsePax(data: Uint8Array): Record<string, string> {
  // Record lengths count bytes, so walk the bytes, not the decoded text.
  const out: Record<string, string> = {};
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const len = space < 0 ? NaN : Number(new TextDecoder().decode(data.subarray(at, space)));
    if (!Number.isInteger(len) || len <= space - at || at + len > data.length || data[at + len - 1] !== 0x0a)
      throw new TarError("malformed pax record");
    let record: string;
    try {
      record = dec.decode(data.subarray(space + 1, at + len - 1));
    } catch {
      throw new TarError("a pax header is not valid UTF-8");
    }
    const eq = record.indexOf("=");
    if (eq < 0) throw new TarError("malformed pax record");
    out[record.slice(0, eq)] = record.slice(eq + 1);
    at += len;
  }
  return out;
}

/**
 * Every entry of an archive. Throws TarError on a bad checksum, a size running past the end,
 * a missing end marker (truncation) or an entry type other than file, folder and symlink.
 */
export function readTar(buf: Uint8Array, limits: { maxEntries?: number } = {}): TarEntry[] {
  const entries: TarEntry[] = [];
  let at = 0;
  let pax: Record<string, string> | null = null;
  const maxEntries = limits.maxEntries ?? 100_000;
  for (;;) {
    if (at + BLOCK > buf.length) throw new TarError("archive ends before its end marker (truncated)");
    const h = buf.subarray(at, at + BLOCK);
    if (h.every((b) => b === 0)) {
      // The end marker is two zero blocks; one is enough to stop, but it must be there.
      return entries;
    }
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
    if (readOctal(h, 148, 8, "checksum") !== sum) throw new TarError("header checksum mismatch");
    const size = readOctal(h, 124, 12, "size");
    const type = String.fromCharCode(h[156]!);
    const dataStart = at + BLOCK;
    const dataEnd = dataStart + size;
    if (dataEnd > buf.length) throw new TarError("an entry runs past the end of the archive (truncated)");
    at = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (type === "x") {
      pax = parsePax(buf.subarray(dataStart, dataEnd));
      continue;
    }
    const prefix = field(h, 345, 155);
    let path = pax?.path ?? (prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100));
    const linkname = pax?.linkpath ?? field(h, 157, 100);
    pax = null;
    const mode = readOctal(h, 100, 8, "mode");
    if (entries.length >= maxEntries) throw new TarError(`more than ${maxEntries} entries`);
    if (type === "0" || type === "\0") entries.push({ type: "file", path, mode, data: buf.slice(dataStart, dataEnd) });
    else if (type === "5") {
      if (path.endsWith("/")) path = path.slice(0, -1);
      entries.push({ type: "dir", path, mode });
    } else if (type === "2") entries.push({ type: "symlink", path, target: linkname });
    else throw new TarError(`entry ${JSON.stringify(path)} has unsupported type '${type}' (only files, folders and symlinks)`);
  }
}
