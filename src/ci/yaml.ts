// A small, deterministic YAML emitter for the workflow model: block style only, keys in
// insertion order, multi-line strings as literal blocks, quoting only where YAML needs it.

export type Yaml = string | number | boolean | null | Yaml[] | { [key: string]: Yaml | undefined };

interface EmitOptions {
  /** Put a blank line between the entries of the mapping at this key path ("" = top level). */
  spaced?: (path: string) => boolean;
  /** A trailing `# comment` for a scalar entry (e.g. the release beside a pinned `uses:`). */
  comment?: (key: string, value: string) => string | undefined;
}

// Words YAML 1.1 parsers (GitHub's included) read as booleans or null.
const RESERVED = /^(?:true|false|yes|no|on|off|y|n|null|~)$/i;

export function quoteScalar(s: string): string {
  const plain =
    s !== "" &&
    /^[A-Za-z_$./]/.test(s) &&
    !/[\n\r\t"\\]/.test(s) &&
    !/:\s|\s#|:$|\s$/.test(s) &&
    !RESERVED.test(s) &&
    !/^[-?:,[\]{}#&*!|>'%@`]/.test(s);
  return plain ? s : JSON.stringify(s);
}

function key(k: string): string {
  return /^[A-Za-z0-9_][A-Za-z0-9_.\/-]*$/.test(k) && (k === "on" || !RESERVED.test(k)) ? k : JSON.stringify(k);
}

function scalar(v: string | number | boolean | null): string {
  if (v === null) return "";
  if (typeof v === "string") return quoteScalar(v);
  return String(v);
}

function isBlockString(v: unknown): v is string {
  return typeof v === "string" && v.includes("\n");
}

function literal(text: string, indent: string): string {
  const chomp = text.endsWith("\n") ? "" : "-";
  const body = text.replace(/\n$/, "").split("\n");
  return `|${chomp}\n` + body.map((l) => (l === "" ? "" : indent + l)).join("\n") + "\n";
}

function isEmpty(v: Yaml): boolean {
  return Array.isArray(v) ? v.length === 0 : typeof v === "object" && v !== null && Object.keys(v).length === 0;
}

/** `key: value` lines for one mapping entry at `indent`. */
function entry(k: string, v: Yaml, indent: string, path: string, opts: EmitOptions): string {
  const head = `${indent}${key(k)}:`;
  if (isBlockString(v)) return `${head} ${literal(v, indent + "  ")}`;
  if (v === null) return `${head}\n`;
  if (typeof v !== "object") {
    const note = typeof v === "string" ? opts.comment?.(k, v) : undefined;
    return `${head} ${scalar(v)}${note ? ` # ${note}` : ""}\n`;
  }
  if (isEmpty(v)) return `${head} ${Array.isArray(v) ? "[]" : "{}"}\n`;
  return `${head}\n${node(v, indent + "  ", path, opts)}`;
}

function node(v: Yaml, indent: string, path: string, opts: EmitOptions): string {
  if (Array.isArray(v)) {
    let out = "";
    for (const item of v) {
      if (item !== null && typeof item === "object" && !Array.isArray(item) && !isEmpty(item)) {
        // First key shares the dash line; the rest align under it.
        const inner = node(item, indent + "  ", path + "[]", opts);
        out += `${indent}- ${inner.slice(indent.length + 2)}`;
      } else if (isBlockString(item)) {
        out += `${indent}- ${literal(item, indent + "  ")}`;
      } else if (Array.isArray(item) || (typeof item === "object" && item !== null)) {
        out += `${indent}- ${isEmpty(item) ? (Array.isArray(item) ? "[]" : "{}") : "\n" + node(item, indent + "  ", path + "[]", opts)}\n`;
      } else {
        out += `${indent}- ${scalar(item)}\n`;
      }
    }
    return out;
  }
  if (v !== null && typeof v === "object") {
    const spaced = opts.spaced?.(path) ?? false;
    const parts: string[] = [];
    for (const [k, val] of Object.entries(v)) {
      if (val === undefined) continue;
      parts.push(entry(k, val, indent, path === "" ? k : `${path}.${k}`, opts));
    }
    return parts.join(spaced ? "\n" : "");
  }
  return `${indent}${scalar(v)}\n`;
}

/** Emit a mapping as a YAML document (no `---`), ending with one newline. */
export function emitYaml(doc: { [key: string]: Yaml | undefined }, opts: EmitOptions = {}): string {
  return node(doc, "", "", opts);
}
