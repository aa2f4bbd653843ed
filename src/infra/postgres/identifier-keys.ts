/**
 * Recomputes every user's identifier keys and skeletons (domain/identifiers.ts) and reports the
 * collisions instead of failing on them. Run once by the 0004 migration, and again by
 * `authward identifier-conflicts --renormalize` after the Unicode data or the profile changes.
 *
 * Within a tenant, users with a verified address come first (they proved they read its mail, so
 * they are the likelier owners), then the oldest (created_at, then id). The first holder of a key
 * or skeleton keeps it. A later user whose key is already held (`same_key`: two accounts one key,
 * e.g. `kate@` and `Kate@` written with the Kelvin sign) keeps the row, display form and password,
 * but its key and skeleton become null: nobody can sign in, ask for mail or register by that
 * ambiguous key as that user until an operator resolves it. A later user whose key is its own but
 * whose skeleton is held (`confusable`: Cyrillic `а` for Latin `a`) keeps its key and can still
 * sign in with it; its skeleton is null. An identifier holding a refused character (`refused`:
 * NUL, zero-width space…) gets no key. Each collision is a row of identifier_conflicts with both
 * user ids (never a password or hash); the service logs their number at start-up.
 *
 * This touches only columns that exist since the 0004 migration, so that migration keeps working
 * on an old database whatever later migrations add.
 */
import { type Kysely, sql } from "kysely";
import { emailDomainKey, foldKey, identifierSkeleton, lookupKey, normalizeEmail, normalizeUsername } from "../../domain/identifiers.js";

export interface IdentifierConflict {
  readonly tenant: string;
  readonly field: "email" | "username";
  readonly kind: "same_key" | "confusable" | "refused";
  /** The later user, flagged. */
  readonly userId: string;
  /** The earlier user who kept the key or skeleton; null for refused. */
  readonly otherUserId: string | null;
}

export interface RenormalizeReport {
  readonly users: number;
  /** Rows whose display form, key or skeleton changed. */
  readonly updated: number;
  readonly conflicts: readonly IdentifierConflict[];
}

interface UserIdentifiers {
  id: string;
  tenant_id: string;
  email: string;
  email_normalized: string | null;
  email_skeleton: string | null;
  username: string | null;
  username_normalized: string | null;
  username_skeleton: string | null;
  created_at: Date;
  unverified: boolean;
}

type Computed = { display: string; key: string | null; skeleton: string | null; refused: boolean };

/** The stored form of an email: the profile's when it passes, else a key as lenient as Login's lookup. */
function computeEmail(stored: string): Computed {
  try {
    const { display, key, skeleton } = normalizeEmail(stored);
    return { display, key, skeleton, refused: false };
  } catch {
    // Not an address today's Register would accept (an older, looser rule let it in): the user
    // must still be found by what they type, so it keeps Login's lenient key.
    try {
      const key = lookupKey(stored);
      const at = stored.lastIndexOf("@");
      const local = stored.slice(0, Math.max(at, 0)).normalize("NFKC");
      const domain = stored.slice(at + 1);
      return {
        display: stored,
        key,
        skeleton: `${identifierSkeleton(local)}@${emailDomainKey(domain) ?? foldKey(domain)}`,
        refused: false,
      };
    } catch {
      return { display: stored, key: null, skeleton: null, refused: true };
    }
  }
}

function computeUsername(stored: string): Computed {
  try {
    const normalized = normalizeUsername(stored);
    if (normalized === null) return { display: stored, key: null, skeleton: null, refused: false };
    return { ...normalized, refused: false };
  } catch {
    try {
      const key = lookupKey(stored);
      return { display: stored, key, skeleton: identifierSkeleton(stored.normalize("NFKC")), refused: false };
    } catch {
      return { display: stored, key: null, skeleton: null, refused: true };
    }
  }
}

const BATCH = 1000;

type IdentifierValues = Omit<UserIdentifiers, "id" | "tenant_id" | "created_at" | "unverified">;

/** Recomputes keys and skeletons of every user; run inside a transaction (the migrator's, or the caller's). */
export async function renormalizeIdentifiers(db: Kysely<any>, now: Date): Promise<RenormalizeReport> {
  const conflicts: IdentifierConflict[] = [];
  const changes: { row: UserIdentifiers; next: IdentifierValues }[] = [];
  let users = 0;
  let tenant: string | undefined;
  // Who holds each key and skeleton in the tenant so far: the first in the order below keeps it.
  let held = new Map<string, string>();
  for await (const row of usersInClaimOrder(db)) {
    users++;
    if (row.tenant_id !== tenant) {
      tenant = row.tenant_id;
      held = new Map();
    }
    const next = claimIdentifiers(row, held, conflicts);
    const changed = (["email", "email_normalized", "email_skeleton", "username", "username_normalized", "username_skeleton"] as const).some(
      (column) => next[column] !== row[column],
    );
    if (changed) {
      const { id: _id, tenant_id: _tenant, created_at: _created, unverified: _unverified, ...values } = next;
      changes.push({ row, next: values });
    }
  }
  await applyIdentifierChanges(db, changes);
  await replaceConflictReport(db, conflicts, now);
  return { users, updated: changes.length, conflicts };
}

/**
 * Every user, a batch at a time, in the order that decides who keeps a contested key: by tenant,
 * verified addresses first, then the oldest.
 */
async function* usersInClaimOrder(db: Kysely<any>): AsyncGenerator<UserIdentifiers> {
  let after: UserIdentifiers | undefined;
  for (;;) {
    let query = db
      .selectFrom("users")
      .select([
        "id",
        "tenant_id",
        "email",
        "email_normalized",
        "email_skeleton",
        "username",
        "username_normalized",
        "username_skeleton",
        "created_at",
        sql<boolean>`email_verified_at is null`.as("unverified"),
      ])
      .orderBy("tenant_id")
      .orderBy(sql`email_verified_at is null`)
      .orderBy("created_at")
      .orderBy("id")
      .limit(BATCH);
    if (after !== undefined) {
      query = query.where(
        sql<boolean>`(tenant_id, email_verified_at is null, created_at, id) > (${after.tenant_id}, ${after.unverified}, ${after.created_at}, ${after.id})`,
      );
    }
    const rows = (await query.execute()) as UserIdentifiers[];
    yield* rows;
    if (rows.length < BATCH) return;
    after = rows.at(-1);
  }
}

/** The row's identifiers as the profile computes them now, minus any key or skeleton an earlier user holds (each such loss flagged). */
function claimIdentifiers(row: UserIdentifiers, held: Map<string, string>, conflicts: IdentifierConflict[]): UserIdentifiers {
  const next = { ...row } as UserIdentifiers;
  for (const field of ["email", "username"] as const) {
    const stored = row[field];
    if (stored === null) continue;
    const computed = field === "email" ? computeEmail(stored) : computeUsername(stored);
    let key = computed.key;
    let skeleton = computed.skeleton;
    const flag = (kind: IdentifierConflict["kind"], otherUserId: string | null) =>
      conflicts.push({ tenant: row.tenant_id, field, kind, userId: row.id, otherUserId });
    const keyHolder = key === null ? undefined : held.get(`${field}:key:${key}`);
    const skeletonHolder = skeleton === null ? undefined : held.get(`${field}:skeleton:${skeleton}`);
    if (computed.refused) {
      flag("refused", null);
    } else if (keyHolder !== undefined) {
      flag("same_key", keyHolder);
      key = null;
      skeleton = null;
    } else if (skeletonHolder !== undefined) {
      flag("confusable", skeletonHolder);
      skeleton = null;
    }
    if (key !== null) held.set(`${field}:key:${key}`, row.id);
    if (skeleton !== null) held.set(`${field}:skeleton:${skeleton}`, row.id);
    next[field] = computed.display;
    next[`${field}_normalized`] = key;
    next[`${field}_skeleton`] = skeleton;
  }
  return next;
}

async function applyIdentifierChanges(db: Kysely<any>, changes: readonly { row: UserIdentifiers; next: IdentifierValues }[]) {
  // Keys move between rows (a row loses its key to an older one, another gains it), so every
  // changed row lets go of its keys first: no unique index sees two holders in between.
  for (let i = 0; i < changes.length; i += BATCH) {
    const ids = changes.slice(i, i + BATCH).map(({ row }) => row.id);
    await db
      .updateTable("users")
      .set({ email_normalized: null, email_skeleton: null, username_normalized: null, username_skeleton: null })
      .where("id", "in", ids)
      .execute();
  }
  for (const { row, next } of changes) {
    await db.updateTable("users").set(next).where("id", "=", row.id).execute();
  }
}

/** The report: one row per flagged user and field; a conflict that no longer holds is removed. */
async function replaceConflictReport(db: Kysely<any>, conflicts: readonly IdentifierConflict[], now: Date) {
  await db.deleteFrom("identifier_conflicts").execute();
  for (let i = 0; i < conflicts.length; i += BATCH) {
    await db
      .insertInto("identifier_conflicts")
      .values(
        conflicts.slice(i, i + BATCH).map((c) => ({
          user_id: c.userId,
          field: c.field,
          kind: c.kind,
          other_user_id: c.otherUserId,
          tenant_id: c.tenant,
          detected_at: now,
        })),
      )
      .execute();
  }
}

export interface ReportedConflict extends IdentifierConflict {
  /** The flagged user's identifier of that field, as stored (an operator needs it; it is not a secret). */
  readonly identifier: string | null;
  readonly otherIdentifier: string | null;
  readonly detectedAt: Date;
}

/** The unresolved collisions, oldest tenant and user first. */
export async function listIdentifierConflicts(db: Kysely<any>): Promise<ReportedConflict[]> {
  const rows = await db
    .selectFrom("identifier_conflicts as c")
    .innerJoin("users as u", "u.id", "c.user_id")
    .leftJoin("users as o", "o.id", "c.other_user_id")
    .select([
      "c.tenant_id",
      "c.field",
      "c.kind",
      "c.user_id",
      "c.other_user_id",
      "c.detected_at",
      sql<string | null>`case when c.field = 'email' then u.email else u.username end`.as("identifier"),
      sql<string | null>`case when c.field = 'email' then o.email else o.username end`.as("other_identifier"),
    ])
    .orderBy("c.tenant_id")
    .orderBy("u.created_at")
    .orderBy("c.field")
    .execute();
  return rows.map((row: any) => ({
    tenant: row.tenant_id,
    field: row.field,
    kind: row.kind,
    userId: row.user_id,
    otherUserId: row.other_user_id,
    identifier: row.identifier,
    otherIdentifier: row.other_identifier,
    detectedAt: row.detected_at,
  }));
}
