/**
 * The migration list, static so that it behaves the same under tsx, vitest and compiled JS.
 * Names sort in the order they run.
 */
import type { Migration, MigrationProvider } from "kysely";
import * as initial from "./2026_11_21_0001_initial.js";

const migrations: Record<string, Migration> = {
  "2026_11_21_0001_initial": initial,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
