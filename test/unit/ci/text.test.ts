// The YAML emitter and the unified diff behind `dwf ci check`.
import { describe, expect, test } from "bun:test";
import { emitYaml, quoteScalar } from "../../../src/ci/yaml.ts";
import { unifiedDiff } from "../../../src/ci/diff.ts";

describe("emitYaml", () => {
  test("round-trips through a real YAML parser", () => {
    const doc = {
      on: { pull_request: null, push: { branches: ["main"], tags: ["v*"] } },
      env: { A: "0.1.0", B: "true", C: "yes", D: "a: b", E: "#x", F: "", G: "*", H: "${{ x }}", I: 3, J: false },
      steps: [{ name: "one", run: "echo a\necho b\n" }, { run: "no newline\nat end" }, "plain", ["nested"]],
      empty: { list: [], map: {} },
      "odd key": "v",
    };
    expect(Bun.YAML.parse(emitYaml(doc))).toEqual(doc);
  });

  test("quotes only what YAML would misread", () => {
    expect(quoteScalar("ubuntu-latest")).toBe("ubuntu-latest");
    expect(quoteScalar("on")).toBe('"on"');
    expect(quoteScalar("1.2.3")).toBe('"1.2.3"');
    expect(quoteScalar("prep: CI image")).toBe('"prep: CI image"');
    expect(quoteScalar("dwf test:unit")).toBe("dwf test:unit");
  });

  test("spaced paths get blank lines between entries", () => {
    expect(emitYaml({ a: 1, b: { c: 1, d: 2 } }, { spaced: (p) => p === "" })).toBe("a: 1\n\nb:\n  c: 1\n  d: 2\n");
  });
});

describe("unifiedDiff", () => {
  test("equal texts give no diff", () => {
    expect(unifiedDiff("a\nb\n", "a\nb\n", { from: "x", to: "y" })).toBe("");
  });

  test("a changed line shows as -/+ with context and a hunk header", () => {
    const before = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
    const after = "1\n2\n3\n4\nFIVE\n6\n7\n8\n9\n";
    expect(unifiedDiff(before, after, { from: "a", to: "b" })).toBe("--- a\n+++ b\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+FIVE\n 6\n 7\n 8\n");
  });

  test("distant changes make separate hunks; additions and deletions count right", () => {
    const a = Array.from({ length: 20 }, (_, i) => `l${i}`).join("\n") + "\n";
    const b = a.replace("l1\n", "").replace("l18\n", "l18\nnew\n");
    const d = unifiedDiff(a, b, { from: "a", to: "b" });
    expect(d.match(/^@@/gm)?.length).toBe(2);
    expect(d).toContain("@@ -1,5 +1,4 @@");
    expect(d).toContain("-l1\n");
    expect(d).toContain("+new\n");
  });
});
