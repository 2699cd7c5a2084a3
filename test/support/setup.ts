// Preloaded before every test file (bunfig.toml): integration tests start real processes
// and containers, which outlast bun's 5 s default on a loaded 2-core machine.
import { setDefaultTimeout } from "bun:test";

setDefaultTimeout(120_000);
