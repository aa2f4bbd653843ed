/**
 * `cli import-users <file>`: users from another system, with the password hashes it stored, so that
 * they sign in with their existing passwords. CSV (a header row; quote fields holding commas, as
 * argon2 hashes do) or JSONL (one JSON object a line). Columns: email and password_hash
 * (required); id (the user's integer id in the old system, kept as their number so that other
 * services' foreign keys keep pointing at the right person), username, full_name, roles (CSV:
 * separated by `;`), email_verified (true/false), attributes (a JSON object), empleado_id (an
 * integer, stored as the attribute of that name, as the Vigia API had it), tenant (else --tenant,
 * else DEFAULT_TENANT). Hashes: raw bcrypt (`$2a$`, `$2b$`, `$2y$`), argon2id (`$argon2id$`), or
 * ours; the imported ones are re-hashed at each user's next login. Roles the tenant lacks fail
 * their line, unless `createRoles` (--create-roles) makes them (without permissions). Existing
 * users (by email or username in the tenant) are skipped, so a run can be repeated.
 */
import type { Kysely } from "kysely";
import { ATTRIBUTES_LIMITS, checkDocument, TENANT_PERMISSIONS_MAX_BYTES } from "../domain/documents.js";
import { AuthError } from "../domain/errors.js";
import { emptyRecord, isForbiddenKey, parseJson } from "../domain/keys.js";
import {
  resolveTenant,
  validateEmail,
  validateFullName,
  validateKeptNumber,
  validateRoleName,
  validateUsername,
} from "../domain/validation.js";
import { isSupportedPasswordHash } from "../infra/crypto/passwords.js";
import { ensureTenant } from "../infra/postgres/database.js";
import { createRoleStore } from "../infra/postgres/roles.js";
import type { Database } from "../infra/postgres/schema.js";
import { createUserRepository } from "../infra/postgres/users.js";

export interface SourceRow {
  /** Line of the file, for the report. */
  readonly line: number;
  /** The row's columns, in an object without a prototype (column names come from the file). */
  readonly fields: Readonly<Record<string, unknown>>;
  /** Why the row cannot be imported as read (not JSON, a forbidden column name); reported by line. */
  readonly problem?: string;
}

/** A row's fields as an object without a prototype, so that no column name reaches one. */
function fieldsOf(entries: Iterable<readonly [string, unknown]>): Record<string, unknown> {
  const fields = emptyRecord();
  for (const [name, value] of entries) fields[name] = value;
  return fields;
}

/** RFC 4180 CSV: a header row, quoted fields (with "" for a quote), CRLF or LF. */
export function parseCsv(text: string): SourceRow[] {
  const records: { line: number; cells: string[] }[] = [];
  let cells: string[] = [];
  let cell = "";
  let quoted = false;
  let line = 1;
  let recordLine = 1;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (char === '"') quoted = false;
      else {
        if (char === "\n") line++;
        cell += char;
      }
      continue;
    }
    if (char === '"') quoted = true;
    else if (char === ",") {
      cells.push(cell);
      cell = "";
    } else if (char === "\n" || char === "\r") {
      if (char === "\r" && text[i + 1] === "\n") i++;
      cells.push(cell);
      if (cells.some((c) => c !== "")) records.push({ line: recordLine, cells });
      cells = [];
      cell = "";
      line++;
      recordLine = line;
    } else cell += char;
  }
  cells.push(cell);
  if (cells.some((c) => c !== "")) records.push({ line: recordLine, cells });
  const [header, ...rows] = records;
  if (header === undefined) return [];
  const names = header.cells.map((name) => name.trim().toLowerCase());
  const forbidden = names.find(isForbiddenKey);
  return rows.map(({ line: rowLine, cells: values }) => ({
    line: rowLine,
    fields: fieldsOf(names.map((name, index) => [name, values[index] ?? ""] as const)),
    ...(forbidden === undefined ? {} : { problem: `the header names a column ${JSON.stringify(forbidden)}, which is not allowed` }),
  }));
}

/** One JSON object per non-empty line; a line that is not one (or names a forbidden key) becomes a row that fails. */
export function parseJsonl(text: string): SourceRow[] {
  return text.split(/\r?\n/).flatMap((raw, index): SourceRow[] => {
    if (raw.trim() === "") return [];
    const line = index + 1;
    let value: unknown;
    try {
      value = parseJson(raw, "the line");
    } catch (error) {
      return [{ line, fields: emptyRecord(), problem: error instanceof AuthError ? error.message : "not valid JSON" }];
    }
    if (typeof value !== "object" || value === null || Array.isArray(value))
      return [{ line, fields: emptyRecord(), problem: "not a JSON object" }];
    return [{ line, fields: fieldsOf(Object.entries(value)) }];
  });
}

export interface ImportReport {
  imported: number;
  readonly skipped: { line: number; reason: string }[];
  readonly failed: { line: number; reason: string }[];
  readonly tenantsCreated: string[];
  /** `tenant/role` of each role made with createRoles. */
  readonly rolesCreated: string[];
}

export interface ImportOptions {
  /** The tenant of rows without a `tenant` column. */
  readonly tenant: string;
  /** Make the roles a tenant lacks (without permissions) instead of failing their lines. */
  readonly createRoles?: boolean;
}

/** An integer id of the old system (a number, or a string of digits), or undefined when the column is empty. */
function integerColumn(name: string, value: unknown): number | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  const number =
    typeof value === "number" ? value : typeof value === "string" && /^\s*\d{1,16}\s*$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(number) || number < 1) throw new Error(`${name}: not a positive integer`);
  return number;
}

/** The attributes column (a JSON object, or JSON text in CSV) with empleado_id added when given. */
function attributesOf(fields: Readonly<Record<string, unknown>>): Record<string, unknown> {
  let attributes: unknown = fields.attributes ?? {};
  if (typeof attributes === "string") attributes = attributes.trim() === "" ? {} : parseJson(attributes, "the attributes column");
  if (typeof attributes !== "object" || attributes === null || Array.isArray(attributes)) throw new Error("attributes: not a JSON object");
  const empleadoId = integerColumn("empleado_id", fields.empleado_id);
  const merged = emptyRecord();
  for (const [key, value] of Object.entries(attributes)) merged[key] = value;
  if (empleadoId !== undefined) merged.empleado_id = empleadoId;
  return checkDocument(merged, ATTRIBUTES_LIMITS);
}

const text = (value: unknown): string | undefined => (value === undefined || value === null || value === "" ? undefined : String(value));
const truthy = (value: unknown) =>
  value === true || (typeof value === "string" && ["true", "1", "yes"].includes(value.trim().toLowerCase()));

export async function importUsers(db: Kysely<Database>, rows: readonly SourceRow[], options: ImportOptions): Promise<ImportReport> {
  const users = createUserRepository(db);
  const roleStore = createRoleStore(db);
  const report: ImportReport = { imported: 0, skipped: [], failed: [], tenantsCreated: [], rolesCreated: [] };
  const knownTenants = new Set<string>();
  for (const { line, fields, problem } of rows) {
    try {
      if (problem !== undefined) throw new Error(problem);
      const email = validateEmail(text(fields.email) ?? "");
      const passwordHash = text(fields.password_hash) ?? "";
      // The reason never quotes the hash: it is a secret of sorts, and reports get pasted around.
      if (!isSupportedPasswordHash(passwordHash)) throw new Error("password_hash: not a bcrypt ($2a$/$2b$/$2y$) or argon2id hash");
      const listed = Array.isArray(fields.roles)
        ? fields.roles.map(String)
        : (text(fields.roles)
            ?.split(";")
            .map((r) => r.trim())
            .filter(Boolean) ?? ["user"]);
      const roles = [...new Set(listed.map((role) => validateRoleName("roles", role)))];
      const id = integerColumn("id", fields.id);
      const number = id === undefined ? undefined : validateKeptNumber("id", id);
      const attributes = attributesOf(fields);
      const tenant = resolveTenant(text(fields.tenant), options.tenant);
      if (!knownTenants.has(tenant)) {
        if (!(await users.tenantExists(tenant))) report.tenantsCreated.push(tenant);
        await ensureTenant(db, tenant, tenant);
        knownTenants.add(tenant);
      }
      if (options.createRoles) await createMissingRoles(roleStore, tenant, roles, report);
      await users.create({
        tenant,
        email,
        username: validateUsername(text(fields.username)),
        fullName: validateFullName(text(fields.full_name)),
        passwordHash,
        roles,
        attributes,
        ...(number === undefined ? {} : { number }),
        emailVerifiedAt: truthy(fields.email_verified) ? new Date() : null,
      });
      report.imported++;
    } catch (error) {
      const taken = error instanceof AuthError && (error.reason === "EMAIL_TAKEN" || error.reason === "USERNAME_TAKEN");
      if (taken && error.metadata.conflict === "lookalike") {
        // Not the same user run twice: another user's identifier looks the same (UTS #39).
        report.failed.push({ line, reason: `${error.metadata.field} looks the same as an existing user's (confusable); not imported` });
      } else if (taken) {
        report.skipped.push({ line, reason: error.reason === "EMAIL_TAKEN" ? "email exists" : "username exists" });
      } else if (error instanceof AuthError && error.reason === "ROLE_NOT_FOUND") {
        report.failed.push({ line, reason: `${error.message.replace(/\.$/, "")} (pass --create-roles to create it)` });
      } else if (error instanceof AuthError && error.reason === "NUMBER_TAKEN") {
        report.failed.push({ line, reason: "id: another user of the tenant has this number" });
      } else {
        report.failed.push({ line, reason: (error as Error).message });
      }
    }
  }
  return report;
}

/** Makes the roles of a line that the tenant lacks, without permissions, and reports each. */
async function createMissingRoles(
  roleStore: ReturnType<typeof createRoleStore>,
  tenant: string,
  roles: readonly string[],
  report: ImportReport,
): Promise<void> {
  const existing = new Set(await roleStore.existing(tenant, roles));
  for (const role of roles.filter((r) => !existing.has(r))) {
    try {
      await roleStore.create(
        tenant,
        { name: role, description: "Created by import-users", permissions: {} },
        new Date(),
        TENANT_PERMISSIONS_MAX_BYTES,
      );
      report.rolesCreated.push(`${tenant}/${role}`);
    } catch (error) {
      // Made meanwhile (another import): what was wanted.
      if (!(error instanceof AuthError && error.reason === "ROLE_EXISTS")) throw error;
    }
  }
}
