import { setDefaultTimeout } from "bun:test";

// Integration tests start processes and wait on real servers: 5 s is too tight for them.
setDefaultTimeout(30_000);
