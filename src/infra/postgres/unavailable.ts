/**
 * Translates "PostgreSQL cannot be reached" into `AuthError("UNAVAILABLE")` at the one place every
 * query passes: the Kysely driver. SQL mistakes and constraint violations pass through unchanged,
 * so they stay INTERNAL or are mapped by the repository that expects them.
 */
import type {
  CompiledQuery,
  DatabaseConnection,
  DatabaseIntrospector,
  Dialect,
  DialectAdapter,
  Driver,
  Kysely,
  QueryCompiler,
  QueryResult,
  TransactionSettings,
} from "kysely";
import { AuthError } from "../../domain/errors.js";
import { hasNetworkErrorCode } from "../network-errors.js";

/** Whether an error from pg means the server is unreachable or going away, rather than a bad query. */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (hasNetworkErrorCode(error)) return true;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string") {
    // SQLSTATE classes 08 (connection exception), 53 (insufficient resources), 57P0x (shutdown).
    if (/^(08|53)/.test(code) || /^57P0[1-4]$/.test(code)) return true;
  }
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended unexpectedly|connect ECONNREFUSED/i.test(
    error.message,
  );
}

function translate(error: unknown): never {
  if (isDatabaseUnavailable(error)) throw new AuthError("UNAVAILABLE", { cause: error });
  throw error;
}

/** Wraps a dialect so that its driver reports an unreachable database as UNAVAILABLE. */
export class UnavailableTranslatingDialect implements Dialect {
  constructor(private readonly inner: Dialect) {}
  createAdapter(): DialectAdapter {
    return this.inner.createAdapter();
  }
  createDriver(): Driver {
    return new TranslatingDriver(this.inner.createDriver());
  }
  createQueryCompiler(): QueryCompiler {
    return this.inner.createQueryCompiler();
  }
  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return this.inner.createIntrospector(db);
  }
}

class TranslatingConnection implements DatabaseConnection {
  constructor(readonly inner: DatabaseConnection) {}
  executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    return this.inner.executeQuery<R>(query).catch(translate);
  }
  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(query, chunkSize);
  }
}

const unwrap = (connection: DatabaseConnection): DatabaseConnection =>
  connection instanceof TranslatingConnection ? connection.inner : connection;

class TranslatingDriver implements Driver {
  constructor(private readonly inner: Driver) {}
  init(): Promise<void> {
    return this.inner.init().catch(translate);
  }
  async acquireConnection(): Promise<DatabaseConnection> {
    return new TranslatingConnection(await this.inner.acquireConnection().catch(translate));
  }
  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.inner.beginTransaction(unwrap(connection), settings).catch(translate);
  }
  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.inner.commitTransaction(unwrap(connection)).catch(translate);
  }
  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.inner.rollbackTransaction(unwrap(connection)).catch(translate);
  }
  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.inner.releaseConnection(unwrap(connection));
  }
  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}
