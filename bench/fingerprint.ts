// Fingerprint throughput through the compiled dwf against the hardware limit on the same files:
// `openssl dgst -sha256` on a 512 MiB file (target ≥ 0.9×) and `find | xargs -P2 sha256sum`
// on 5,000 × 2 KiB files (target ≥ 1×). Ratios are throughput dwf / baseline, one run.
// Usage: bun run bench/fingerprint.ts [runs]
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { buildDwf, compare, timeOnce } from "./_util.ts";

const runs = Number(process.argv[2] ?? 7);
const dwf = buildDwf();

const dir = mkdtempSync(join(tmpdir(), "dwf-fpbench-"));
function throughput(name: string, mb: number, ours: string[], base: string[], cwd: string, target: number): void {
  const [baseMs, oursMs] = compare(
    () => timeOnce(base, { cwd }),
    () => timeOnce(ours, { cwd }),
    runs,
    1,
  );
  const ratio = baseMs / oursMs;
  console.log(
    `${name}: dwf ${(mb / (oursMs / 1000)).toFixed(0)} MB/s, ${base[0] === "sh" ? "xargs -P2 sha256sum" : "openssl"} ${(mb / (baseMs / 1000)).toFixed(0)} MB/s → ${ratio.toFixed(2)}× (target ≥ ${target}×) ${ratio >= target ? "OK" : "UNDER"}`,
  );
}

try {
  const big = join(dir, "big");
  mkdirSync(big);
  writeFileSync(join(big, "devflow.toml"), '[container]\nfingerprint_inputs = ["big.bin"]\n');
  const chunk = randomBytes(1 << 20);
  const parts = Array.from({ length: 512 }, () => chunk);
  writeFileSync(join(big, "big.bin"), Buffer.concat(parts));
  throughput("512 MiB file", 536.870912, [dwf, "fingerprint"], ["openssl", "dgst", "-sha256", "big.bin"], big, 0.9);
  rmSync(join(big, "big.bin"));

  const small = join(dir, "small");
  mkdirSync(join(small, "files"), { recursive: true });
  writeFileSync(join(small, "devflow.toml"), '[container]\nfingerprint_inputs = ["files/**"]\n');
  for (let i = 0; i < 5000; i++) writeFileSync(join(small, "files", `f${i}`), randomBytes(2048));
  throughput("5,000 × 2 KiB files", 10.24, [dwf, "fingerprint"], ["sh", "-c", "find files -type f | xargs -P2 sha256sum"], small, 1);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
