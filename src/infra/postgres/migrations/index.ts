/**
 * The migration list, static so that it behaves the same under tsx, vitest and compiled JS.
 * Names sort in the order they run.
 */
import type { Migration, MigrationProvider } from "kysely";
import * as initial from "./2026_11_21_0001_initial.js";
import * as oneTimeTokensAndAudit from "./2026_11_22_0002_one_time_tokens_and_audit.js";
import * as signingKeys from "./2026_11_22_0003_signing_keys.js";
import * as identifierKeys from "./2026_11_24_0004_identifier_keys.js";
import * as sessionEpoch from "./2026_11_25_0005_session_epoch.js";
import * as administration from "./2026_11_25_0006_administration.js";
import * as secondFactors from "./2026_11_26_0007_second_factors.js";
import * as loginKeysAcrossTenants from "./2026_11_26_0008_login_keys_across_tenants.js";

const migrations: Record<string, Migration> = {
  "2026_11_21_0001_initial": initial,
  "2026_11_22_0002_one_time_tokens_and_audit": oneTimeTokensAndAudit,
  "2026_11_22_0003_signing_keys": signingKeys,
  "2026_11_24_0004_identifier_keys": identifierKeys,
  "2026_11_25_0005_session_epoch": sessionEpoch,
  "2026_11_25_0006_administration": administration,
  "2026_11_26_0007_second_factors": secondFactors,
  "2026_11_26_0008_login_keys_across_tenants": loginKeysAcrossTenants,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
