import { afterAll } from "bun:test";
import { runLeftoverCleanups } from "./cleanup.ts";

// At the end of the run: what a `-t` filter kept from being cleaned up (see `afterTests`).
// (Test time limits are set per file: see `useIntegrationTimeout`.)
afterAll(runLeftoverCleanups);
