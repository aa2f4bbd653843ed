/**
 * `cli identifier-conflicts [--renormalize]`: the users whose email or username collided with an
 * earlier user's when identifier keys were computed (the 0004 migration, or a re-run), one line
 * each with both user ids. `--renormalize` recomputes every key and skeleton first (after an
 * update of the Unicode data in third_party/unicode/, or once an operator has changed or deleted
 * one of two colliding accounts, which frees the later one's key). Never prints a password or hash.
 */
import type { Kysely } from "kysely";
import { listIdentifierConflicts, renormalizeIdentifiers } from "../infra/postgres/identifier-keys.js";
import type { Database } from "../infra/postgres/schema.js";

const explain = {
  same_key: "has the same key as",
  confusable: "looks the same as (UTS #39 skeleton)",
  refused: "holds a refused character (control, format, invisible…)",
} as const;

export async function identifierConflicts(db: Kysely<Database>, options: { readonly renormalize: boolean }): Promise<string[]> {
  const lines: string[] = [];
  if (options.renormalize) {
    const report = await db.transaction().execute((tx) => renormalizeIdentifiers(tx, new Date()));
    lines.push(`renormalized ${report.users} users: ${report.updated} changed`);
  }
  const conflicts = await listIdentifierConflicts(db);
  for (const c of conflicts) {
    const other = c.kind === "refused" ? "" : ` ${JSON.stringify(c.otherIdentifier)} (${c.otherUserId ?? "deleted"})`;
    lines.push(`${c.tenant}: ${c.field} ${JSON.stringify(c.identifier)} of user ${c.userId} ${explain[c.kind]}${other}`);
  }
  lines.push(
    conflicts.length === 0
      ? "no identifier conflicts"
      : `${conflicts.length} identifier conflict(s): the first user keeps the key; the later one cannot be found by it until you change or delete one of them and run --renormalize`,
  );
  return lines;
}
