import { afterAll, setDefaultTimeout } from "bun:test";
import { runLeftoverCleanups } from "./cleanup.ts";

// Integration tests start processes and wait on real servers: 5 s is too tight for them.
setDefaultTimeout(30_000);

// At the end of the run: what a `-t` filter kept from being cleaned up (see `afterTests`).
afterAll(runLeftoverCleanups);
