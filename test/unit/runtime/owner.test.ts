// Which containers belong to a dwf that is gone: the decision the orphan sweep makes, on labels.
import { describe, expect, test } from "bun:test";
import {
  currentOwner,
  LABEL,
  listArgv,
  ownerGone,
  ownerLabels,
  parseList,
  processStart,
  type LabelledContainer,
  type Owner,
  type ProcessState,
} from "../../../src/runtime/owner.ts";

const me: Owner = { pid: 500, started: "9000", hostname: "box", kernel: "boot-a/4026531836" };
const container = (labels: LabelledContainer["labels"], running = true): LabelledContainer => ({
  id: "c1",
  name: "dwf-x-test-unit-abc",
  running,
  labels,
});
const table = (procs: Record<number, ProcessState>) => (pid: number) => procs[pid] ?? { alive: false };

describe("ownerGone", () => {
  const owned = { pid: "77", started: "1234", hostname: "box", kernel: me.kernel };

  test("same kernel and namespace: gone when the pid is free or now belongs to a later process", () => {
    expect(ownerGone(container(owned), me, table({}))).toBe(true);
    expect(ownerGone(container(owned), me, table({ 77: { alive: true, started: "5555" } }))).toBe(true);
    expect(ownerGone(container(owned), me, table({ 77: { alive: true, started: "1234" } }))).toBe(false);
  });

  test("a live pid whose start time cannot be read (another user's, hidepid) counts as the owner", () => {
    expect(ownerGone(container(owned), me, table({ 77: { alive: true } }))).toBe(false);
  });

  test("this very process owns its own containers", () => {
    expect(ownerGone(container({ ...owned, pid: "500", started: "9000" }), me, table({}))).toBe(false);
  });

  test("another pid namespace or machine on a shared daemon is never judged while its container runs", () => {
    expect(ownerGone(container({ ...owned, kernel: "boot-a/4026532000" }), me, table({}))).toBe(false);
    expect(ownerGone(container({ ...owned, kernel: "boot-b/4026531836", hostname: "other" }, false), me, table({}))).toBe(false);
    expect(ownerGone(container({ ...owned, kernel: "boot-b/4026531836" }, true), me, table({}))).toBe(false);
  });

  test("a stopped container from this host name before a reboot is gone", () => {
    expect(ownerGone(container({ ...owned, kernel: "boot-b/4026531836" }, false), me, table({}))).toBe(true);
  });

  test("incomplete labels (not dwf's, or hand-made) are left alone", () => {
    expect(ownerGone(container({ pid: "77" }), me, table({}))).toBe(false);
    expect(ownerGone(container({ ...owned, pid: "x" }), me, table({}))).toBe(false);
    expect(ownerGone(container(owned), { ...me, kernel: "" }, table({}))).toBe(false);
  });
});

describe("labels and listing", () => {
  test("this process: its pid and its real start time, read back the same way the sweep reads it", () => {
    const labels = ownerLabels("run123");
    expect(labels[LABEL.run]).toBe("run123");
    expect(labels[LABEL.pid]).toBe(String(process.pid));
    expect(labels[LABEL.started]).toBe(processStart(process.pid)!);
    expect(labels[LABEL.started]).toMatch(/^\d+$/);
    expect(currentOwner().kernel).toMatch(/^[0-9a-f-]{36}\/\d+$/);
  });

  test("docker and podman spell label lookups in ps templates differently", () => {
    expect(listArgv({ name: "docker", path: "docker" }).at(-1)).toContain('{{.Label "dev.devflow.pid"}}');
    expect(listArgv({ name: "podman", path: "podman" }).at(-1)).toContain('{{index .Labels "dev.devflow.pid"}}');
    expect(listArgv({ name: "docker", path: "docker" })).toContain(`label=${LABEL.pid}`);
  });

  test("parseList reads both engines' state words", () => {
    const text = [
      "id1\tdwf-a\trunning\t7\t100\tbox\tk/1",
      "id2\tdwf-b\tExited (3) 2 seconds ago\t8\t200\tbox\tk/1",
      "id3\tdwf-c\tUp 3 seconds\t9\t300\tbox\tk/1",
      "",
    ].join("\n");
    expect(parseList(text).map((c) => [c.name, c.running, c.labels.pid])).toEqual([
      ["dwf-a", true, "7"],
      ["dwf-b", false, "8"],
      ["dwf-c", true, "9"],
    ]);
  });
});
