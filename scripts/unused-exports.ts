// Lists exports of src/ and extensions/ that no other file uses (src, extensions, test, bench,
// scripts: the files tsconfig.json covers), asking the TypeScript language service for each
// export's references, so dynamic imports, re-exports and `typeof` uses all count.
// Usage: bun run scripts/unused-exports.ts [--fix] [--json]
//   --fix   removes the `export` keyword where that is safe: a declaration of its own
//           (function, class, const, type, interface, enum) that its file still uses.
//           An export nothing uses at all is only listed: it is dead code for a person to delete.
import { parseArgs } from "node:util";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

const { values } = parseArgs({
  options: { fix: { type: "boolean", default: false }, json: { type: "boolean", default: false } },
});

const root = resolve(import.meta.dir, "..");
const TARGETS = ["src/", "extensions/"];

interface UnusedExport {
  file: string;
  line: number;
  name: string;
  /** "local": its own file still uses it, so only `export` goes; "dead": nothing uses it. */
  kind: "local" | "dead";
  /** Whether --fix can drop the keyword (a declaration of its own, not part of a list). */
  fixable: boolean;
  /** Types and interfaces vanish from the build; values are code. */
  space: "type" | "value";
}

function languageService(): { service: ts.LanguageService; files: string[] } {
  const configPath = join(root, "tsconfig.json");
  const config = ts.readConfigFile(configPath, (p) => ts.sys.readFile(p));
  if (config.error) throw new Error(ts.flattenDiagnosticMessageText(config.error.messageText, "\n"));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, dirname(configPath));
  const files = parsed.fileNames;
  const host: ts.LanguageServiceHost = {
    getScriptFileNames: () => files,
    getScriptVersion: () => "0",
    getScriptSnapshot: (name) => {
      const text = ts.sys.readFile(name);
      return text === undefined ? undefined : ts.ScriptSnapshot.fromString(text);
    },
    getCurrentDirectory: () => root,
    getCompilationSettings: () => parsed.options,
    getDefaultLibFileName: (options) => ts.getDefaultLibFilePath(options),
    fileExists: ts.sys.fileExists,
    readFile: ts.sys.readFile,
    readDirectory: ts.sys.readDirectory,
    directoryExists: ts.sys.directoryExists,
    getDirectories: ts.sys.getDirectories,
  };
  return { service: ts.createLanguageService(host, ts.createDocumentRegistry()), files };
}

/** Exported names of a file with the identifier that declares each and whether `export` can simply go. */
interface ExportedName {
  name: ts.ModuleExportName;
  fixable: boolean;
  space: "type" | "value";
}

function exportedNames(sf: ts.SourceFile): ExportedName[] {
  return sf.statements.flatMap(statementExports);
}

function statementExports(stmt: ts.Statement): ExportedName[] {
  if (ts.isExportDeclaration(stmt) && !stmt.moduleSpecifier && stmt.exportClause && ts.isNamedExports(stmt.exportClause)) {
    // `export { a, b }`: listed, left to a person (the list is edited, not a keyword).
    const clause = stmt.exportClause;
    return clause.elements.map((spec) => ({
      name: spec.name,
      fixable: false,
      space: spec.isTypeOnly || stmt.isTypeOnly ? "type" : "value",
    }));
  }
  const modifiers = ts.canHaveModifiers(stmt) ? ts.getModifiers(stmt) : undefined;
  if (!modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) return [];
  if (modifiers.some((m) => m.kind === ts.SyntaxKind.DefaultKeyword)) return [];
  if (ts.isVariableStatement(stmt)) {
    const decls = stmt.declarationList.declarations;
    return decls.flatMap((d) => (ts.isIdentifier(d.name) ? [{ name: d.name, fixable: decls.length === 1, space: "value" as const }] : []));
  }
  if (ts.isInterfaceDeclaration(stmt) || ts.isTypeAliasDeclaration(stmt)) return [{ name: stmt.name, fixable: true, space: "type" }];
  if ((ts.isFunctionDeclaration(stmt) || ts.isClassDeclaration(stmt) || ts.isEnumDeclaration(stmt)) && stmt.name) {
    return [{ name: stmt.name, fixable: true, space: "value" }];
  }
  return [];
}

function findUnusedExports(): { unused: UnusedExport[]; exportsSeen: number } {
  const { service, files } = languageService();
  const program = service.getProgram();
  if (!program) throw new Error("no TypeScript program");
  const unused: UnusedExport[] = [];
  let exportsSeen = 0;
  for (const file of files) {
    const rel = relative(root, file);
    if (!TARGETS.some((t) => rel.startsWith(t))) continue;
    const sf = program.getSourceFile(file);
    if (!sf) continue;
    for (const { name, fixable, space } of exportedNames(sf)) {
      exportsSeen++;
      const refs = (service.findReferences(file, name.getStart(sf)) ?? []).flatMap((s) => s.references);
      const elsewhere = refs.some((r) => resolve(root, r.fileName) !== file);
      if (elsewhere) continue;
      const inFile = refs.filter((r) => resolve(root, r.fileName) === file && !r.isDefinition).length;
      // Overloads and declaration merging repeat the name as definitions; a use is a non-definition.
      const line = sf.getLineAndCharacterOfPosition(name.getStart(sf)).line + 1;
      unused.push({ file: rel, line, name: name.text, kind: inFile > 0 ? "local" : "dead", fixable: fixable && inFile > 0, space });
    }
  }
  return { unused, exportsSeen };
}

/** Drops `export ` from each fixable declaration, file by file, from the end so offsets hold. */
function fix(unused: UnusedExport[]): { files: number; edits: number } {
  const byFile = new Map<string, Set<string>>();
  for (const u of unused) if (u.fixable) byFile.set(u.file, (byFile.get(u.file) ?? new Set()).add(u.name));
  let edits = 0;
  for (const [rel, names] of byFile) {
    const path = join(root, rel);
    let text = readFileSync(path, "utf8");
    const sf = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
    const cuts: number[] = [];
    for (const stmt of sf.statements) {
      const mods = ts.canHaveModifiers(stmt) ? ts.getModifiers(stmt) : undefined;
      const keyword = mods?.find((m) => m.kind === ts.SyntaxKind.ExportKeyword);
      if (!keyword) continue;
      const declared = statementExports(stmt).map((d) => d.name.text);
      if (declared.length > 0 && declared.every((n) => names.has(n))) cuts.push(keyword.getStart(sf));
    }
    for (const at of cuts.sort((a, b) => b - a)) {
      text = text.slice(0, at) + text.slice(at).replace(/^export\s+/, "");
      edits++;
    }
    writeFileSync(path, text);
  }
  return { files: byFile.size, edits };
}

if (import.meta.main) {
  const { unused, exportsSeen } = findUnusedExports();
  if (values.json) {
    console.log(JSON.stringify({ exportsSeen, unused }, null, 2));
  } else {
    for (const u of unused) {
      console.log(
        `${u.file}:${u.line}  ${u.name}  ${u.kind === "dead" ? "unused anywhere" : u.fixable ? "used only in its file" : "used only in its file (export list)"}`,
      );
    }
    const local = unused.filter((u) => u.kind === "local").length;
    const types = unused.filter((u) => u.space === "type").length;
    console.log(
      `\n${unused.length} of ${exportsSeen} exports in ${TARGETS.join(", ")} are used by no other file ` +
        `(${unused.length - types} values, ${types} types): ${local} used only in their own file, ${unused.length - local} not used at all.`,
    );
  }
  if (values.fix) {
    const { files, edits } = fix(unused);
    console.log(`removed 'export' from ${edits} declarations in ${files} files`);
  }
}
