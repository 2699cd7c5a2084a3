// When doctor calls a tool needed: the profile's planned commands against the tool's usedBy.
import { expect, test } from "bun:test";
import { toolNeeded } from "../../../src/doctor/checks.ts";
import type { ToolRequirement } from "../../../src/sdk/types.ts";

const tool = (t: Partial<ToolRequirement>): ToolRequirement => ({ name: "t", version: ["t", "--version"], install: "", ...t });
const refs = (...names: string[]) => names.map((n) => ({ primary: n.split(":")[0]!, selector: n.split(":")[1]! }));

test("usedBy decides when the profile is planned; a primary or an exact command matches", () => {
  expect(toolNeeded(tool({ usedBy: ["lint"] }), refs("lint:static", "test:unit"))).toBe(true);
  expect(toolNeeded(tool({ usedBy: ["fmt:check"] }), refs("fmt:fix"))).toBe(false);
  expect(toolNeeded(tool({ usedBy: ["fmt:check"] }), refs("fmt:check"))).toBe(true);
  expect(toolNeeded(tool({ usedBy: [] }), refs("fmt:check"))).toBe(false);
});

test("a stack the profile runs nothing of needs nothing; without a plan, optional decides", () => {
  expect(toolNeeded(tool({}), [])).toBe(false);
  expect(toolNeeded(tool({}), refs("test:unit"))).toBe(true);
  expect(toolNeeded(tool({ optional: true }), refs("test:unit"))).toBe(false);
  expect(toolNeeded(tool({}), null)).toBe(true);
  expect(toolNeeded(tool({ optional: true, usedBy: ["test"] }), null)).toBe(false);
});
