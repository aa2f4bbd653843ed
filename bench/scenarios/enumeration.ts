/**
 * The enumeration scenario: can the time of one answer tell whether an account exists?
 *
 * For each of four comparisons it sends requests about an existing account and about an unknown
 * one in pairs, one after the other in a random order (so that neither side always follows the
 * other, and drift of this VM's speed hits both alike), one request at a time over one gRPC
 * connection, and times each from the client. It prints, per comparison, the median of the
 * paired differences (existing − unknown) with a 95 % bootstrap interval, and the p-values of
 * Wilcoxon's signed-rank test on the pairs and of the Mann-Whitney U test on the two samples.
 *
 * The four comparisons (what an anonymous caller can send about an address it guesses):
 *   1. Login with a wrong password: a user whose hash is ours at BCRYPT_COST, vs an unknown user;
 *   2. Login with a wrong password: an imported user (argon2id, or raw bcrypt `$2b$` at a lower
 *      cost, alternately), vs an unknown user; each kind is also shown alone (half the pairs);
 *   3. RequestPasswordReset; 4. ResendVerification (an active, unverified account vs an unknown
 *      address).
 * Register is left out: EMAIL_TAKEN tells by its answer, not by its time.
 *
 * The service: the compiled one (`node dist/main.js`), one process (WORKERS=1) with one bcrypt
 * thread (BCRYPT_THREADS=1, a production worker's share on this 2-core machine),
 * BCRYPT_COST 10 (a real cost that keeps the run near 2.5 minutes: Login's cycles are 3 × 1,000
 * logins of ≈ 45 ms; at 12 they would take 10 minutes). The imported argon2id hash uses OWASP's
 * minimum parameters (19 MiB, 2 passes, 1 lane: ≈ 10 ms here), the raw bcrypt cost 8 (≈ 11 ms):
 * both cheaper than a current-cost verification, as in the report that found the leak (10–46 ms
 * against 170 ms). A mail is limited per address (MAIL_PER_ADDRESS_PER_HOUR): the service gets
 * the highest limit (1,000) and each side rotates over 8 addresses (≈ 255 requests each), so no
 * request is throttled. Mail goes to an outbox folder (MAIL_OUTBOX_DIR: files), after the answer.
 *
 * `npm run bench -- --only enumeration` runs this alone; or directly, with smaller or larger
 * figures: `node --import tsx bench/scenarios/enumeration.ts --samples 300 --cost 12`.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { AuthService } from "../../src/gen/auth/v1/auth_pb.js";
import { freePort, startPostgres, startRedis } from "../../test/support/servers.js";
import { comparePaired, type PairedComparison, seededRandom } from "../lib/paired.js";
import { type RunningService, startService, stealSeconds } from "../lib/service.js";
import { type Accounts, ADDRESSES_PER_SIDE, address, IMPORTED_BCRYPT_COST_BELOW, seedAccounts } from "./enumeration-accounts.js";

export interface EnumerationOptions {
  /** The repository's root (where dist/ and the Dockerfile are). */
  readonly root: string;
  /** Pairs per comparison (≥ 1,000 for the published figures). */
  readonly samples?: number;
  readonly bcryptCost?: number;
  readonly log?: (line: string) => void;
}

export interface EnumerationRow extends PairedComparison {
  readonly rpc: string;
  /** What the existing side was. */
  readonly existing: string;
  /** Answers other than the expected one (INVALID_CREDENTIALS for Login, OK for the others). */
  readonly unexpected: number;
}

export interface EnumerationResult {
  readonly date: string;
  readonly cpu: string;
  readonly bcryptCost: number;
  readonly samples: number;
  readonly minutes: number;
  readonly stealPercent: number;
  readonly rows: readonly EnumerationRow[];
}

const WARMUP_PAIRS = 20;
export async function enumerationScenario(options: EnumerationOptions): Promise<EnumerationResult> {
  const { root } = options;
  const samples = options.samples ?? 1000;
  const cost = options.bcryptCost ?? 10;
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  log(`enumeration: building the service, then ${samples} pairs per comparison at BCRYPT_COST ${cost} …`);
  execFileSync("npm", ["run", "--silent", "build"], { cwd: root, stdio: "inherit" });

  const startedAt = Date.now();
  const stealAtStart = stealSeconds();
  const work = mkdtempSync(join(tmpdir(), "auth-bench-enum-"));
  const postgres = await startPostgres();
  const redis = await startRedis();
  let service: RunningService | undefined;
  try {
    const databaseUrl = await createDatabase(postgres.url, "enumeration");
    service = await startEnumerationService(root, work, databaseUrl, redis.url, cost);
    const accounts = await seedAccounts(databaseUrl, cost);
    const run: Comparisons = {
      auth: createClient(AuthService, createGrpcTransport({ baseUrl: `http://${service.grpcAddress}` })),
      accounts,
      samples,
      cost,
      random: seededRandom(20261124),
      log,
    };
    const rows = [...(await loginComparisons(run)), ...(await mailComparisons(run))];
    const seconds = (Date.now() - startedAt) / 1000;
    const result: EnumerationResult = {
      date: new Date().toISOString().slice(0, 10),
      cpu: cpus()[0]?.model ?? "unknown",
      bcryptCost: cost,
      samples,
      minutes: Math.round((seconds / 60) * 10) / 10,
      stealPercent: Math.round(((stealSeconds() - stealAtStart) / (seconds * cpus().length)) * 1000) / 10,
      rows,
    };
    report(root, result, log);
    return result;
  } finally {
    await service?.stop().catch(() => {});
    await redis.stop();
    await postgres.destroy();
    rmSync(work, { recursive: true, force: true });
  }
}

async function createDatabase(adminUrl: string, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  return adminUrl.replace(/\/postgres$/, `/${name}`);
}

/** The compiled service, one process with one bcrypt thread, on `databaseUrl`. */
async function startEnumerationService(root: string, work: string, databaseUrl: string, redisUrl: string, cost: number) {
  const httpPort = await freePort();
  const env = {
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: "enum:",
    KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    HOST: "127.0.0.1",
    GRPC_PORT: String(await freePort()),
    HTTP_PORT: String(httpPort),
    PUBLIC_URL: `http://127.0.0.1:${httpPort}`,
    JWT_ISSUER: "https://auth.bench.example",
    LOG_LEVEL: "info",
    BCRYPT_COST: String(cost),
    WORKERS: "1",
    BCRYPT_THREADS: "1",
    MAIL_PER_ADDRESS_PER_HOUR: "1000",
    // Thousands of wrong passwords for a few accounts from one address: the abuse limits would
    // refuse them before any bcrypt, on both sides alike, and time nothing but the refusal. Lifted,
    // they still do the same Redis operations for both sides on every call.
    LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS: "1000000",
    LOGIN_MAX_FAILURES_PER_ACCOUNT: "1000000",
    LOGIN_MAX_FAILURES_PER_ADDRESS: "1000000",
    MAIL_PER_CLIENT_PER_HOUR: "1000000",
    DATA_DIR: join(work, "data"),
    MAIL_OUTBOX_DIR: join(work, "outbox"),
  };
  return startService(root, env, join(work, "service.log"));
}

/** What the comparisons share. */
interface Comparisons {
  readonly auth: Client<typeof AuthService>;
  readonly accounts: Accounts;
  readonly samples: number;
  readonly cost: number;
  readonly random: () => number;
  readonly log: (line: string) => void;
}

/** Times one call; counts it unexpected unless it ends as `expected` says. */
async function timed(call: () => Promise<unknown>, expected: Code | "ok", tally: { unexpected: number }): Promise<number> {
  const t0 = performance.now();
  let outcome: Code | "ok";
  try {
    await call();
    outcome = "ok";
  } catch (error) {
    outcome = ConnectError.from(error).code;
  }
  const elapsedUs = (performance.now() - t0) * 1000;
  if (outcome !== expected) tally.unexpected += 1;
  return elapsedUs;
}

const row = (rpc: string, existing: string, a: number[], b: number[], unexpected: number): EnumerationRow => ({
  rpc,
  existing,
  unexpected,
  ...comparePaired(a, b),
});

/**
 * Login: each cycle sends, in a random order, an unknown user, a current-format user and an
 * imported one (argon2id and low-cost bcrypt in turn), each with a wrong password.
 */
async function loginComparisons({ auth, accounts, samples, cost, random, log }: Comparisons): Promise<EnumerationRow[]> {
  const login = (identifier: string) => () => auth.login({ identifier, password: "not-the-password-1" });
  const tally = { unexpected: 0 };
  const unknown: number[] = [];
  const current: number[] = [];
  const imported: number[] = [];
  const byKind = {
    argon2id: { existing: [] as number[], unknown: [] as number[] },
    bcrypt: { existing: [] as number[], unknown: [] as number[] },
  };
  for (let cycle = -WARMUP_PAIRS; cycle < samples; cycle++) {
    const kind = cycle % 2 === 0 ? "argon2id" : "bcrypt";
    const importedUser = kind === "argon2id" ? accounts.argon2id : accounts.bcrypt;
    const calls = [
      { side: "unknown", call: login(address("l")) },
      { side: "current", call: login(accounts.current) },
      { side: "imported", call: login(importedUser) },
    ];
    shuffle(calls, random);
    const times: Record<string, number> = {};
    for (const { side, call } of calls) times[side] = await timed(call, Code.Unauthenticated, tally);
    if (cycle < 0) continue;
    unknown.push(times.unknown as number);
    current.push(times.current as number);
    imported.push(times.imported as number);
    byKind[kind].existing.push(times.imported as number);
    byKind[kind].unknown.push(times.unknown as number);
  }
  log(`enumeration: Login done (${tally.unexpected} unexpected answers)`);
  const belowCost = `  of which $2b$ cost ${cost - IMPORTED_BCRYPT_COST_BELOW}`;
  return [
    row("Login", `ours, BCRYPT_COST ${cost}`, current, unknown, tally.unexpected),
    row("Login", "imported (argon2id or $2b$)", imported, unknown, 0),
    row("Login", "  of which argon2id", byKind.argon2id.existing, byKind.argon2id.unknown, 0),
    row("Login", belowCost, byKind.bcrypt.existing, byKind.bcrypt.unknown, 0),
  ];
}

/** The mail RPCs: pairs in a random order, addresses rotating on each side. */
async function mailComparisons({ auth, accounts, samples, random, log }: Comparisons): Promise<EnumerationRow[]> {
  const unknownMail = Array.from({ length: ADDRESSES_PER_SIDE }, () => address("m"));
  const rows: EnumerationRow[] = [];
  for (const rpc of ["RequestPasswordReset", "ResendVerification"] as const) {
    const send = (email: string) => () =>
      rpc === "RequestPasswordReset" ? auth.requestPasswordReset({ email }) : auth.resendVerification({ email });
    const tally = { unexpected: 0 };
    const existing: number[] = [];
    const unknown: number[] = [];
    for (let i = -WARMUP_PAIRS; i < samples; i++) {
      const slot = (i + WARMUP_PAIRS) % ADDRESSES_PER_SIDE;
      const calls = [
        { side: "existing", call: send(accounts.mail[slot] as string) },
        { side: "unknown", call: send(unknownMail[slot] as string) },
      ];
      shuffle(calls, random);
      const times: Record<string, number> = {};
      for (const { side, call } of calls) times[side] = await timed(call, "ok", tally);
      if (i < 0) continue;
      existing.push(times.existing as number);
      unknown.push(times.unknown as number);
    }
    rows.push(row(rpc, "active, unverified", existing, unknown, tally.unexpected));
    log(`enumeration: ${rpc} done (${tally.unexpected} unexpected answers)`);
  }
  return rows;
}

/** Prints the table and writes bench/results/<date>-enumeration.json; exit code 1 on unexpected answers. */
function report(root: string, result: EnumerationResult, log: (line: string) => void): void {
  mkdirSync(join(root, "bench", "results"), { recursive: true });
  writeFileSync(join(root, "bench", "results", `${result.date}-enumeration.json`), `${JSON.stringify(result, null, 2)}\n`);
  log("");
  log(table(result));
  log("");
  log(
    `${result.minutes} minutes, steal ${result.stealPercent}%; written to bench/results/${result.date}-enumeration.json. ` +
      "A p-value under 0.01 means the two sides are told apart at this sample size.",
  );
  const unexpected = result.rows.reduce((sum, r) => sum + r.unexpected, 0);
  if (unexpected > 0) {
    log(`FAILED: ${unexpected} unexpected answers in the enumeration scenario`);
    process.exitCode = 1;
  }
}

function shuffle<T>(items: T[], random: () => number): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
}

function table(result: EnumerationResult): string {
  const ms = (us: number) => (us / 1000).toFixed(2);
  const p = (value: number) => (value < 1e-4 ? value.toExponential(1) : value.toFixed(4));
  const lines = [
    `| RPC | existing account | pairs | median existing ms | median unknown ms | median difference µs (95% CI) | p Wilcoxon | p Mann-Whitney |`,
    "|---|---|---:|---:|---:|---|---:|---:|",
  ];
  for (const r of result.rows) {
    lines.push(
      `| ${r.rpc} | ${r.existing} | ${r.pairs} | ${ms(r.medianA)} | ${ms(r.medianB)} | ${Math.round(r.medianDiff)} (${Math.round(r.ci95[0])} … ${Math.round(r.ci95[1])}) | ${p(r.pWilcoxon)} | ${p(r.pMannWhitney)} |`,
    );
  }
  return lines.join("\n");
}

if (resolve(process.argv[1] ?? "") === import.meta.filename) {
  const { values } = parseArgs({ options: { samples: { type: "string" }, cost: { type: "string" } } });
  await enumerationScenario({
    root: join(import.meta.dirname, "..", ".."),
    samples: values.samples === undefined ? undefined : Number(values.samples),
    bcryptCost: values.cost === undefined ? undefined : Number(values.cost),
  });
}
